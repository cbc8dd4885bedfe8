"""Partners fixtures: an app whose requests run in each test's rolled-back transaction, with
webhooks allowed to 127.0.0.1; users and admins by `Test` headers, partners by their real API
keys; a shop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import request_session
from gullak.settings import Settings
from tests.helpers.http import guarded_client
from tests.helpers.offers import Actors
from tests.helpers.sessions import rolled_back_sessions
from tests.orders.support import Shop, make_shop, subjects_of
from tests.partners.support import webhook_settings


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return webhook_settings(Settings(env="test", data_dir=tmp_path / "data",
                                     max_body_bytes=64 * 1024))


@pytest.fixture
def actors() -> Actors:
    return Actors()


@pytest.fixture
def app(settings: Settings, db: Database, connection: AsyncConnection, actors: Actors) -> FastAPI:
    application = create_app(settings, db)
    application.dependency_overrides[request_session] = rolled_back_sessions(connection)
    subjects_of(application, actors)
    return application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Every answer is checked: never a 5xx, every refusal problem+json with a code."""
    async with guarded_client(app) as c:
        yield c


@pytest.fixture
async def shop(session: AsyncSession) -> Shop:
    return await make_shop(session)
