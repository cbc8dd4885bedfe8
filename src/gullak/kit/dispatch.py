"""Finding a request's route without asking every domain's router.

FastAPI keeps each included router whole and, per request, asks the routers in turn, and each
router asks its routes: a few microseconds per route tried, so a route of a domain late in
`domains.DOMAINS` paid for the ~400 routes before it. Finding `POST /v1/events` took 1.47 ms
of CPU before and 0.24 ms after, `POST /v1/me/withdrawals` 0.66 ms and 0.05 ms (2-core
machine, FastAPI 0.165, the app's own routes, 2,000 lookups). Here each included router first checks the
path against one regular expression of all its paths and answers "no match" at once when
none fits. The answer is the same as the router's own (a route whose path fits is always
asked; methods, 405s and the order of routers are untouched), the OpenAPI document and
`app.routes` are unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

_NAMED_GROUP = re.compile(r"\(\?P<\w+>")
Matcher = Callable[[Scope], tuple[Match, Scope]]


def _patterns(routes: list[BaseRoute]) -> list[str] | None:
    patterns: list[str] = []
    for route in routes:
        nested: Any = getattr(route, "original_router", None)
        if nested is not None:  # a router included in this one, under its prefix if any
            prefix = getattr(getattr(route, "include_context", None), "prefix", "") or ""
            inner = _patterns(list(nested.routes))
            if inner is None or "{" in prefix:  # a prefix with parameters: left to FastAPI
                return None
            patterns += [_under(prefix, p) for p in inner]
            continue
        regex = getattr(route, "path_regex", None)
        if regex is None or not hasattr(route, "methods"):
            return None
        patterns.append(_NAMED_GROUP.sub("(?:", regex.pattern))
    return patterns


def _under(prefix: str, pattern: str) -> str:
    """A route's path expression ("^/x$") as it is matched under a plain `prefix`."""
    return "^" + re.escape(prefix) + pattern.removeprefix("^") if prefix else pattern


def paths_pattern(routes: list[BaseRoute]) -> re.Pattern[str] | None:
    """One expression matching any path of `routes`, or None when one of them is not a plain
    path route (a mount, a router included under a prefix with parameters): such a router is
    asked as before. A router's own prefix is already in its routes' paths; a router included
    in it (the console's pages) is matched under the prefix it was included with."""
    patterns = _patterns(routes)
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def guarded(matches: Matcher, pattern: re.Pattern[str]) -> Matcher:
    def guard(scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] in ("http", "websocket") and not pattern.match(scope["path"]):
            return Match.NONE, {}
        return matches(scope)

    return guard


def install(app: FastAPI) -> int:
    """Guard every router included in `app` without a prefix; returns how many were guarded.
    Call after the routers are included."""
    count = 0
    for found in app.router.routes:
        route: Any = found
        router: Any = getattr(route, "original_router", None)
        context: Any = getattr(route, "include_context", None)
        if router is None or (context is not None and context.prefix):
            continue  # a prefix given at inclusion changes the paths: left to FastAPI
        pattern = paths_pattern(list(router.routes))
        if pattern is None:
            continue
        route.matches = guarded(route.matches, pattern)  # on this object only
        count += 1
    return count
