"""The FastAPI application factory."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.datastructures import Default

from gullak import __version__, domains
from gullak.db import routing
from gullak.db.engine import Database, resolve_url
from gullak.kit import collector, dispatch, express, http, notify, openapi, problems
from gullak.kit import logging as gullak_logging
from gullak.settings import Settings, check_startup, get_settings

log = structlog.get_logger("gullak.app")


def create_app(settings: Settings | None = None, db: Database | None = None,
               wiring: domains.Domains = domains.DOMAINS) -> FastAPI:
    """Build the app from the domains' list. A given `db` is used as is (tests); otherwise one
    is opened on start."""
    settings = settings or get_settings()
    check_startup(settings)
    domains.install(wiring)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = db is None
        app.state.db = db or _database(settings)
        app.state.replica = await routing.open_replica(settings, app.state.db, _database)
        listen_url, ttl = _listen(settings, app.state.db)
        try:
            async with notify.listening(listen_url, ttl), contextlib.AsyncExitStack() as stack:
                for running in domains.lifespans(wiring):
                    await stack.enter_async_context(running(app.state.db))
                collector.settle()
                yield
        finally:
            if app.state.replica is not None:
                await app.state.replica.close()
            if owned:
                await app.state.db.dispose()

    app = http.App(
        title="Gullak",
        version=__version__,
        summary="Rewards, wallet and loyalty platform",
        lifespan=lifespan,
        # None also leaves out /docs and /redoc.
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        # A default, not a choice: routes with a response model keep FastAPI's own path
        # (Pydantic renders them straight to bytes, faster still); the rest use orjson.
        default_response_class=Default(problems.FastJSONResponse),
    )
    app.state.settings = settings
    if db is not None:
        app.state.db = db
    problems.install(app)
    openapi.install(app)
    http.install(app, settings)
    routing.install(app, settings)
    for router in domains.routers(wiring):
        app.include_router(router)
    dispatch.install(app)
    if settings.express_lane:
        express.install(app)
    return app


def factory() -> FastAPI:
    """The app of one API process of `gullak serve` / `gullak run`: uvicorn calls this in each
    process it starts, so settings and the resolved database URL come from the environment."""
    settings = get_settings()
    gullak_logging.configure(settings.log_level, settings.log_format)
    return create_app(settings)


def _listen(settings: Settings, db: Database) -> tuple[str, float]:
    """Where the cache listens for drops, and for how long it keeps answers: off behind a
    transaction-pooling PgBouncer without a direct URL, where a LISTEN would hear nothing and
    a revoked key would live out its time."""
    if settings.database_listen_url:
        return settings.database_listen_url, settings.auth_cache_seconds
    if settings.database_pgbouncer:
        log.warning("auth_cache_off", reason="PgBouncer without GULLAK_DATABASE_LISTEN_URL")
        return db.url, 0.0
    return db.url, settings.auth_cache_seconds


def _database(settings: Settings) -> Database:
    """Each API process has its own pool, its share of db_pool_size + db_max_overflow, kept
    open: an overflow connection closed whenever the load dips and opened again a moment later
    cost a few percent of the CPU under steady load (py-spy)."""
    share = math.ceil((settings.db_pool_size + settings.db_max_overflow) / settings.api_processes)
    return Database(resolve_url(settings), pool_size=share, max_overflow=0,
                    pgbouncer=settings.database_pgbouncer)
