"""Health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import httpx

from gullak.app import create_app
from gullak.db import embedded, migrate
from gullak.db.engine import Database
from gullak.settings import Settings
from tests.helpers.http import http_client


async def test_health(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


async def test_ready_on_migrated_database(client: httpx.AsyncClient) -> None:
    r = await client.get("/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["checks"] == {"database": True, "migrations": True}
    assert body["migrations"]["current"] == sorted(migrate.heads())


async def test_not_ready_on_unmigrated_database(server_url: str, settings: Settings) -> None:
    name = "gullak_test_unmigrated"
    embedded.drop_database(server_url, name)
    embedded.ensure_database(server_url, name)
    db = Database(embedded.with_database(server_url, name))
    try:
        async with http_client(create_app(settings, db)) as c:
            r = await c.get("/ready")
            assert r.status_code == 503
            assert r.json()["checks"] == {"database": True, "migrations": False}
    finally:
        await db.dispose()
        embedded.drop_database(server_url, name)


async def test_not_ready_when_database_unreachable(settings: Settings) -> None:
    db = Database("postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1")
    try:
        async with http_client(create_app(settings, db)) as c:
            r = await c.get("/ready")
            assert r.status_code == 503
            assert r.json()["checks"]["database"] is False
            assert (await c.get("/health")).status_code == 200
    finally:
        await db.dispose()


async def test_metrics_count_requests(client: httpx.AsyncClient) -> None:
    await client.get("/health")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert 'gullak_http_requests_total{method="GET",route="/health",status="200"}' in r.text


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert "/ready" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200
