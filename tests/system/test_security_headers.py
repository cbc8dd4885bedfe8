"""Security headers on every response, no-store where credentials travel, CORS closed unless
origins are listed."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.settings import Settings
from tests.helpers.http import http_client

ALWAYS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
          "x-frame-options": "DENY"}


def assert_always(response: httpx.Response) -> None:
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, (name, response.headers)


async def test_every_response_carries_the_headers(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/health"),
                     await client.get("/v1/no-such-route"),
                     await client.get("/v1/me"),  # refused: no credentials
                     await client.post("/v1/auth/otp", content=b"{bad",
                                       headers={"content-type": "application/json"}),
                     await client.post("/v1/auth/otp", content=b"x",
                                       headers={"content-type": "text/plain"})):
        assert_always(response)
    # Served over plain HTTP (the default): no HSTS, which would break such a deployment.
    assert "strict-transport-security" not in (await client.get("/health")).headers


async def test_no_store_where_credentials_travel(client: httpx.AsyncClient) -> None:
    plain = await client.get("/health")
    assert plain.headers.get("cache-control") != "no-store"
    # Any request with credentials, accepted or not.
    with_credentials = await client.get("/v1/me", headers={"authorization": "Bearer x.y.z"})
    assert with_credentials.status_code == 401
    assert with_credentials.headers["cache-control"] == "no-store"
    # Sign-in and refresh answers hold tokens; they are never cached, refusals included.
    for path, body in (("/v1/auth/refresh", {"refresh_token": "x" * 43}),
                       ("/v1/auth/otp/verify", {"phone": "+919812345678", "code": "000000"}),
                       ("/v1/admin/auth/login", {"email": "a@example.com", "password": "p"})):
        r = await client.post(path, json=body)
        assert r.status_code < 500, r.text
        assert r.headers["cache-control"] == "no-store", path
        assert_always(r)


async def test_hsts_when_served_over_https(settings: Settings, db: Database) -> None:
    app = create_app(settings.model_copy(update={"https": True}), db)
    async with http_client(app) as c:
        r = await c.get("/health")
    assert r.headers["strict-transport-security"].startswith("max-age=31536000")
    assert_always(r)


PREFLIGHT = {"access-control-request-method": "POST",
             "access-control-request-headers": "authorization, content-type"}


async def test_no_origin_is_allowed_by_default(client: httpx.AsyncClient) -> None:
    origin = {"origin": "https://evil.example"}
    r = await client.get("/health", headers=origin)
    assert r.status_code == 200
    assert not any(h.startswith("access-control-") for h in r.headers)
    r = await client.options("/v1/auth/otp", headers={**origin, **PREFLIGHT})
    assert "access-control-allow-origin" not in r.headers
    assert r.status_code >= 400


def cors_app(settings: Settings, db: Database) -> FastAPI:
    listed = settings.model_copy(update={"cors_origins": ["https://app.example"]})
    return create_app(listed, db)


async def test_listed_origins_are_allowed(settings: Settings, db: Database) -> None:
    async with http_client(cors_app(settings, db)) as c:
        r = await c.options("/v1/auth/otp", headers={"origin": "https://app.example", **PREFLIGHT})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in r.headers["access-control-allow-headers"].lower()
        # No cookies cross origins: tokens travel in a header.
        assert "access-control-allow-credentials" not in r.headers
        r = await c.get("/health", headers={"origin": "https://app.example"})
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
        assert_always(r)
        # Any other origin is still refused.
        r = await c.options("/v1/auth/otp", headers={"origin": "https://evil.example",
                                                     **PREFLIGHT})
        assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
        r = await c.get("/health", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
