"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gullak import __version__, domains
from gullak.db.engine import Database
from gullak.kit import http, openapi, problems
from gullak.settings import Settings, check_startup, get_settings


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
        app.state.db = db or Database.from_settings(settings)
        try:
            yield
        finally:
            if owned:
                await app.state.db.dispose()

    app = FastAPI(
        title="Gullak",
        version=__version__,
        summary="Rewards, wallet and loyalty platform",
        lifespan=lifespan,
        # None also leaves out /docs and /redoc.
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    if db is not None:
        app.state.db = db
    problems.install(app)
    openapi.install(app)
    http.install(app, settings)
    for router in domains.routers(wiring):
        app.include_router(router)
    return app
