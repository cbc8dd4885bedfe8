"""The guarded routers find the same route as FastAPI's own search, for every route the app
serves and for paths it does not, and they are really in place (a guard that never ran would
pass the first test)."""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.routing import BaseRoute, Match

from gullak.app import create_app
from gullak.kit import dispatch
from gullak.settings import Settings

PARAM = re.compile(r"\{[^}]+\}")
SETTINGS = Settings(env="test", database_url="postgresql://gullak@127.0.0.1:1/gullak")


def first(routes: list[BaseRoute], method: str, path: str) -> tuple[int | None, int | None]:
    """Where Starlette's router stops for this request: the first full match, and the first
    partial one (a path served with another method, answered 405)."""
    scope = {"type": "http", "path": path, "method": method, "root_path": "", "path_params": {}}
    partial = None
    for i, route in enumerate(routes):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return i, partial
        if match == Match.PARTIAL and partial is None:
            partial = i
    return None, partial


def requests_of(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        contexts = route.effective_route_contexts() \
            if hasattr(route, "effective_route_contexts") else []
        for context in contexts:
            for method in getattr(context.original_route, "methods", None) or ():
                found.append((method, PARAM.sub("0193b2c1-7d3e-7c00-8000-000000000001",
                                                context.path)))
    assert len(found) > 300
    return found + [("GET", "/v1/no-such-thing"), ("DELETE", "/v1/events"),
                    ("GET", "/v1/me/withdrawals/x/y/z"), ("PATCH", "/v1/me"),
                    ("GET", "/console/queues/nothing"), ("DELETE", "/console/users")]


def test_guarded_routers_find_what_fastapi_finds() -> None:
    guarded = create_app(SETTINGS)
    plain = create_app(SETTINGS)
    for route in plain.router.routes:
        vars(route).pop("matches", None)  # FastAPI's own search again
    assert sum(r.matches.__name__ == "guard" for r in guarded.router.routes) >= 25
    assert not any(r.matches.__name__ == "guard" for r in plain.router.routes)
    for method, path in requests_of(guarded):
        assert first(guarded.router.routes, method, path) == \
            first(plain.router.routes, method, path), (method, path)


def test_a_router_under_a_prefix_is_left_to_fastapi() -> None:
    from fastapi import APIRouter

    app = FastAPI()
    inner = APIRouter()

    @inner.get("/things")
    async def things() -> list[str]:
        return []

    app.include_router(inner, prefix="/v9")
    app.include_router(inner)
    assert dispatch.install(app) == 1
    assert first(app.router.routes, "GET", "/v9/things")[0] is not None
    assert first(app.router.routes, "GET", "/things")[0] is not None
    assert first(app.router.routes, "GET", "/v9/other") == (None, None)


def test_a_router_nested_under_its_parents_prefix_is_guarded() -> None:
    from fastapi import APIRouter

    app = FastAPI()
    parent, child = APIRouter(prefix="/console/queues"), APIRouter()

    @child.get("/kyc/{item}")
    async def item(item: str) -> str:
        return item

    parent.include_router(child)
    app.include_router(parent)
    assert dispatch.install(app) == 1
    assert first(app.router.routes, "GET", "/console/queues/kyc/7")[0] is not None
    assert first(app.router.routes, "GET", "/kyc/7") == (None, None)
    assert first(app.router.routes, "GET", "/console/queues/kyc") == (None, None)
