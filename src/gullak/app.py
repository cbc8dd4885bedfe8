"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gullak import __version__
from gullak.access import api as access_api
from gullak.access import service as access_service
from gullak.catalog import api as catalog_api
from gullak.db.engine import Database
from gullak.discovery import api as discovery_api
from gullak.identity import api as identity_api
from gullak.identity import service as identity_service
from gullak.kit import audit, problems, security
from gullak.kit.http import BodyGuard, RequestContext
from gullak.ledger.api import router as ledger_router
from gullak.merchants import api as merchants_api
from gullak.merchants import service as merchants_service
from gullak.offers import api as offers_api
from gullak.settings import Settings, check_startup, get_settings
from gullak.system.api import router as system_router


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """Build the app. A given `db` is used as is (tests); otherwise one is opened on start."""
    settings = settings or get_settings()
    check_startup(settings)

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
    )
    app.state.settings = settings
    if db is not None:
        app.state.db = db
    problems.install(app)
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext)
    app.include_router(system_router)
    app.include_router(ledger_router)
    app.include_router(identity_api.auth)
    app.include_router(identity_api.me)
    app.include_router(identity_api.admin)
    app.include_router(access_api.router)
    app.include_router(merchants_api.router)
    app.include_router(catalog_api.router)
    app.include_router(offers_api.router)
    app.include_router(discovery_api.router)
    # Who is asking: users' and admins' access tokens, service clients' API keys.
    security.register("bearer", identity_api.bearer)
    security.register("basic", access_api.basic)
    identity_service.PERMISSIONS["admin"] = access_service.permissions_of
    identity_service.PERMISSIONS["merchant_user"] = merchants_service.merchant_user_permissions
    audit.register(access_service.write_audit)
    security.on_denial(access_api.audit_denial)
    return app
