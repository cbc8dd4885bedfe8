"""The express lane: the hottest requests answered without FastAPI's per-request machinery.

A balance read spent about 60% of its CPU in FastAPI and Starlette around the endpoint:
routing, solving the same dependencies on every request, the exception middleware and the
response's wrappers (py-spy, bench/README.md). A route marked with `@express.lane` is also
answered by `ExpressLane` (where it sits: `install`), which calls the route's own endpoint
with what its dependencies would have given, using FastAPI's own functions where it can: the
path, query, header and body parameters extracted and validated by the route's own fields, the
subject of `security.current_subject` checked as the route's guard checks it, the unit of work
of `uow.request_session` or the session of `routing.read_session`, and the answer serialized
by the route's response field with its status. What the lane gives is worked out from the
route when the app is made; a route with a dependency the lane does not know (a cookie, a
form, any other dependency) cannot be marked: making the app fails.

The lane answers only successes. On anything else (no credentials, credentials that fail, a
permission or kind refused, a parameter or body that does not validate, an error of the
endpoint, a dependency override other than the unit of work's) it rolls its unit back and steps aside before
anything is sent: the request goes the ordinary way, which answers it exactly as before,
audit of a refusal included. So a write may be marked only when its work is in the database
alone and is undone whole when it raises: one statement (the ledger's commands), or a
transaction. Never a route that calls an outside service.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import structlog
from fastapi import FastAPI
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.params import Form
from fastapi.routing import APIRoute, serialize_response
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gullak.db import routing, uow
from gullak.kit import http, security
from gullak.kit.schemas import read_json
from gullak.settings import Settings

log = structlog.get_logger("gullak.express")
LANE = Counter("gullak_http_express_total",
               "Requests of express routes, answered by the lane or left to the ordinary way",
               ["route", "outcome"])
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
# The app's middleware that a success passes untouched: the lane may sit outside them.
BYPASSABLE = (http.ErrorBoundary, http.BodyGuard)
_marked: set[Callable[..., Any]] = set()


def lane(endpoint: F) -> F:
    """Marks a route's endpoint for the express lane, under its `@router.get` or `.post`; what
    may be marked is in the module's docstring and docs/architecture.md."""
    _marked.add(endpoint)
    return endpoint


@dataclass(frozen=True)
class Lane:
    route: APIRoute
    pattern: re.Pattern[str]
    method: str
    guards: tuple[tuple[str, Callable[[security.Subject], bool]], ...]  # parameter, its check
    # parameter, and whether it is routing.read_session's (the replica when it may serve, one
    # statement at a time) rather than the unit of work itself
    sessions: tuple[tuple[str, bool], ...]

    # The counter's children, looked up once rather than on every request.
    @cached_property
    def answered(self) -> Any:
        return LANE.labels(self.route.path, "answered")

    @cached_property
    def declined(self) -> Any:
        return LANE.labels(self.route.path, "declined")


def _walk(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        nested: Any = getattr(route, "original_router", None)
        if nested is not None:
            context: Any = getattr(route, "include_context", None)
            if getattr(context, "prefix", ""):
                continue  # paths under a prefix given at inclusion: never marked
            yield from _walk(list(nested.routes))
        else:
            yield route


def _build(route: APIRoute) -> Lane:
    """The lane of a marked route, from its dependencies; ValueError for one it cannot take."""
    dependant = route.dependant
    methods = route.methods or set()
    if len(methods) != 1 or not methods <= {"GET", "POST"}:
        raise ValueError("one method, GET or POST")
    if route.dependencies or dependant.cookie_params:
        raise ValueError("no cookie parameters, no route-level dependencies")
    if dependant.body_params and (len(dependant.body_params) > 1 or route._embed_body_fields
                                  or isinstance(dependant.body_params[0].field_info, Form)):
        raise ValueError("at most one JSON body, not embedded")
    if route.response_field is None or not isinstance(route.response_class, DefaultPlaceholder):
        raise ValueError("the answer must be the route's response model, in the default class")
    guards: list[tuple[str, Callable[[security.Subject], bool]]] = []
    sessions: list[tuple[str, bool]] = []
    for sub in dependant.dependencies:
        call: Any = sub.call
        name = sub.name or ""
        if call is routing.read_session or call is uow.request_session:
            sessions.append((name, call is routing.read_session))
        elif getattr(call, "permission", None) is not None:
            guards.append((name, _can(call.permission)))
        elif getattr(call, "kinds", None) is not None:
            guards.append((name, _is(call.kinds)))
        else:
            raise ValueError(f"the dependency {sub.name!r} is not one the lane gives")
    if not guards:
        raise ValueError("no permission or kind guard: the lane is for authenticated requests")
    return Lane(route, route.path_regex, next(iter(methods)), tuple(guards), tuple(sessions))


def _can(permission: str) -> Callable[[security.Subject], bool]:
    return lambda subject: subject.can(permission)


def _is(kinds: tuple[str, ...]) -> Callable[[security.Subject], bool]:
    return lambda subject: subject.kind in kinds


def lanes(app: FastAPI) -> list[Lane]:
    found: list[Lane] = []
    for route in _walk(list(app.router.routes)):
        if isinstance(route, APIRoute) and route.endpoint in _marked:
            try:
                found.append(_build(route))
            except ValueError as exc:
                raise RuntimeError(f"{route.path} cannot take the express lane: {exc}") from None
    return found


def install(app: FastAPI) -> int:
    """The lane for the routes marked so far; returns how many. Call after the routers and
    every other middleware are in. It sits right inside the app's outer layers (the request
    context and the security headers, `http.App.outer`) when the app's other middleware are
    only those a success passes untouched (the error boundary, the body guard): an answer then
    passes 3 layers, not 8 (bench/README.md). Otherwise (CORS, the replica's write marker) it
    is the innermost middleware, behind all of them."""
    found = lanes(app)
    if found:
        settings: Settings = app.state.settings
        lane = Middleware(ExpressLane, lanes=found, max_bytes=settings.max_body_bytes)
        if isinstance(app, http.App) and all(m.cls in BYPASSABLE for m in app.user_middleware):
            app.outer.append(lane)
        else:
            app.user_middleware.append(lane)
    return len(found)


class ExpressLane:
    def __init__(self, app: ASGIApp, lanes: list[Lane], max_bytes: int) -> None:
        self.app = app
        self.lanes = lanes
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found, params = self._match(scope)
            if found is not None:
                body = b""
                if found.route.dependant.body_params:
                    if not self._readable(scope):
                        await self.app(scope, receive, send)  # BodyGuard says what is wrong
                        return
                    body = await _read_body(receive)
                    receive = _replay(body, receive)
                response = await _answer(found, scope, params, body)
                if response is not None:
                    scope["route"] = found.route  # the metrics' route label
                    found.answered.inc()
                    await response(scope, receive, send)
                    return
                found.declined.inc()
        await self.app(scope, receive, send)

    def _readable(self, scope: Scope) -> bool:
        """A JSON body of a declared length within the limit, not chunked: the only kind the
        lane reads, wherever it sits."""
        length = http.header(scope, "content-length")
        return (length is not None and http.length_within(length, self.max_bytes)
                and http.media_type(scope) == "application/json"
                and http.header(scope, "transfer-encoding") is None)

    def _match(self, scope: Scope) -> tuple[Lane | None, dict[str, str]]:
        method, path = scope["method"], scope["path"]
        for found in self.lanes:
            if found.method == method:
                match = found.pattern.match(path)
                if match is not None:
                    return found, match.groupdict()
        return None, {}


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once more for the ordinary way, then whatever the client sends next."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


async def _answer(found: Lane, scope: Scope, params: dict[str, str],
                  body: bytes) -> Response | None:
    """The route's answer, or None to leave the request to the ordinary way."""
    app: Any = scope.get("app")
    unit = _unit(app)
    if unit is None:
        return None
    request = Request(scope)
    values = await _parameters(found, request, params, body)
    if values is None:
        return None
    try:
        async with unit() as primary:
            try:
                content = await _run(found, request, primary, values)
            except Exception:
                # Whatever a refusal would keep (a counted attempt) is kept by the ordinary
                # way when it refuses again, not here as well.
                await uow.discard(primary)
                raise
            if content is None:
                await uow.discard(primary)
    except Exception as exc:  # answered the ordinary way, which reports it as it should
        log.debug("express_declined", path=scope["path"], error=type(exc).__name__)
        return None
    if content is None:
        return None
    return Response(content=content, status_code=found.route.status_code or 200,
                    media_type="application/json")


def _unit(app: Any) -> Callable[[], AbstractAsyncContextManager[AsyncSession]] | None:
    """The request's unit of work as `uow.request_session` gives it. An override of it that
    takes no parameters is honoured (tests run every request inside their own transaction so);
    any other override sends requests the ordinary way."""
    if app is None:
        return None
    overrides: dict[Any, Any] = app.dependency_overrides
    if not overrides:
        return lambda: uow.unit_of_work(app.state.db)
    override = overrides.get(uow.request_session)
    if len(overrides) > 1 or override is None or inspect.signature(override).parameters \
            or not inspect.isasyncgenfunction(override):
        return None
    return asynccontextmanager(override)


async def _parameters(found: Lane, request: Request, params: dict[str, str],
                      body: bytes) -> dict[str, Any] | None:
    """The path, query, header and body parameters as FastAPI extracts them; None if any is
    invalid."""
    dependant = found.route.dependant
    values, errors = request_params_to_args(dependant.path_params, params)
    if errors:
        return None
    if dependant.query_params:
        query, errors = request_params_to_args(dependant.query_params, request.query_params)
        if errors:
            return None
        values.update(query)
    if dependant.header_params:
        headers, errors = request_params_to_args(dependant.header_params, request.headers)
        if errors:
            return None
        values.update(headers)
    if dependant.body_params:
        if not body:  # its media type and length are checked before it is read
            return None
        try:
            received = read_json(body)  # as Starlette's request.json() reads it
        except ValueError:  # broken or too deep: the ordinary way says so
            return None
        fields, errors = await request_body_to_args(dependant.body_params, received, False)
        if errors:
            return None
        values.update(fields)
    return values


async def _run(found: Lane, request: Request, primary: AsyncSession,
               values: dict[str, Any]) -> bytes | None:
    subject = await security.current_subject(request, primary)
    for name, check in found.guards:  # every guard of the route, each as it checks
        if not check(subject):
            return None
        values[name] = subject
    for name, reads in found.sessions:
        values[name] = await routing.read_session(request, primary) if reads else primary
    route = found.route
    raw = await route.endpoint(**values)
    content: bytes = await serialize_response(
        field=route.response_field, response_content=raw,
        by_alias=route.response_model_by_alias,
        exclude_unset=route.response_model_exclude_unset,
        exclude_defaults=route.response_model_exclude_defaults,
        exclude_none=route.response_model_exclude_none, dump_json=True)
    return content

