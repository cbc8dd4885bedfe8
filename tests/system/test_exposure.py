"""What the service shows about itself: /metrics to allowed networks or a token holder only,
the API docs off in production unless asked for, and unsafe production settings refused."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.settings import ConfigError, Settings, check_startup
from tests.helpers.problems import assert_problem

TOKEN = "metrics-token-0123456789abcdef"


def client_at(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 999))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def metrics_app(settings: Settings, db: Database, **update: object) -> FastAPI:
    return create_app(settings.model_copy(update=update), db)


async def test_metrics_answer_loopback_only_by_default(settings: Settings, db: Database) -> None:
    app = metrics_app(settings, db)
    for address in ("127.0.0.1", "::1"):
        async with client_at(app, address) as c:
            r = await c.get("/metrics")
            assert r.status_code == 200 and "gullak_http_requests_total" in r.text
    async with client_at(app, "203.0.113.9") as c:
        r = await c.get("/metrics")
        assert_problem(r, 401, "unauthorized")
        assert "python_info" not in r.text and "gullak_http" not in r.text
        # Without a configured token, no bearer value opens it.
        r = await c.get("/metrics", headers={"authorization": "Bearer anything"})
        assert r.status_code == 401
    # The refusal is one the document gives, so that a client has a type for it.
    assert "401" in app.openapi()["paths"]["/metrics"]["get"]["responses"]


async def test_metrics_answer_a_listed_network(settings: Settings, db: Database) -> None:
    app = metrics_app(settings, db, metrics_networks=["10.20.0.0/16"])
    async with client_at(app, "10.20.3.4") as inside:
        assert (await inside.get("/metrics")).status_code == 200
    for address in ("10.21.0.1", "127.0.0.1"):
        async with client_at(app, address) as outside:
            assert (await outside.get("/metrics")).status_code == 401


async def test_metrics_answer_the_token_from_anywhere(settings: Settings, db: Database) -> None:
    app = metrics_app(settings, db, metrics_token=SecretStr(TOKEN))
    async with client_at(app, "203.0.113.9") as c:
        r = await c.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and "gullak_http_requests_total" in r.text
        for wrong in (f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN, "Bearer "):
            r = await c.get("/metrics", headers={"authorization": wrong})
            assert r.status_code == 401, wrong
            assert TOKEN not in r.text


def production(settings: Settings, **update: object) -> Settings:
    return settings.model_copy(update={
        "env": "production", "secret_key": SecretStr("k" * 43),
        "encryption_key": SecretStr("e" * 43),
        "database_url": "postgresql://gullak@db.internal/gullak", **update})


DOCS = ("/docs", "/redoc", "/openapi.json")


async def test_docs_are_on_outside_production(client: httpx.AsyncClient) -> None:
    for path in DOCS:
        assert (await client.get(path)).status_code == 200, path


async def test_docs_are_off_in_production(settings: Settings, db: Database) -> None:
    async with client_at(create_app(production(settings), db), "127.0.0.1") as c:
        for path in DOCS:
            assert (await c.get(path)).status_code == 404, path
        assert (await c.get("/health")).status_code == 200
    # Unless asked for; and off anywhere when asked to be.
    async with client_at(create_app(production(settings, api_docs=True), db), "127.0.0.1") as c:
        for path in DOCS:
            assert (await c.get(path)).status_code == 200, path
    off = settings.model_copy(update={"api_docs": False})
    async with client_at(create_app(off, db), "127.0.0.1") as c:
        assert (await c.get("/openapi.json")).status_code == 404


def test_production_refuses_unsafe_exposure(settings: Settings) -> None:
    check_startup(production(settings, cors_origins=["https://app.example"],
                             metrics_token=SecretStr(TOKEN)))
    for update, setting in (
        ({"cors_origins": ["*"]}, "GULLAK_CORS_ORIGINS"),
        ({"metrics_networks": ["0.0.0.0/0"]}, "GULLAK_METRICS_NETWORKS"),
        ({"metrics_token": SecretStr("short")}, "GULLAK_METRICS_TOKEN"),
    ):
        with pytest.raises(ConfigError, match=setting):
            check_startup(production(settings, **update))
        # Outside production the same values start (a developer's own machine).
        check_startup(settings.model_copy(update=update))
