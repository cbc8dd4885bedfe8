"""Offers fixtures: one app for every test of this folder, subjects of every kind over HTTP,
and a live merchant with outlets and the coin asset."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import SessionDep, request_session
from gullak.kit.security import Subject, current_subject
from gullak.offers import service
from gullak.settings import Settings
from tests.helpers.http import strict_client
from tests.helpers.offers import Actors, Shop, live_merchant, make_coins
from tests.helpers.sessions import rolled_back_sessions


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    # The cache outlives each test's rolled-back transaction; start and end empty.
    service.CACHE.invalidate_soon(None)
    yield
    service.CACHE.invalidate_soon(None)


@dataclass
class Shared:
    """One app for every test of this folder: building a FastAPI app's routes on its first
    request costs about a second, more than most tests. Each test points it at its own
    rolled-back connection and its own subjects."""

    app: FastAPI
    actors: Actors = field(default_factory=Actors)


@pytest.fixture(scope="session")
def shared(db: Database, tmp_path_factory: pytest.TempPathFactory) -> Shared:
    settings = Settings(env="test", data_dir=tmp_path_factory.mktemp("offers") / "data",
                        max_body_bytes=64 * 1024)
    found = Shared(create_app(settings, db))

    async def subject(request: Request, session: SessionDep) -> Subject:
        header = request.headers.get("authorization", "")
        if header.startswith("Test "):
            return found.actors.subjects[header.removeprefix("Test ")]
        return await current_subject(request, session)

    found.app.dependency_overrides[current_subject] = subject
    return found


@pytest.fixture
def app(shared: Shared, connection: AsyncConnection) -> Iterator[FastAPI]:
    """The shared app, its requests inside this test's rolled-back transaction."""
    shared.actors = Actors()
    shared.app.dependency_overrides[request_session] = rolled_back_sessions(connection)
    yield shared.app
    shared.app.dependency_overrides.pop(request_session, None)


@pytest.fixture
def actors(app: FastAPI, shared: Shared) -> Actors:
    return shared.actors


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with strict_client(app) as c:
        yield c


@pytest.fixture
async def shop(session: AsyncSession) -> Shop:
    """A live merchant with two outlets in Mumbai, and the coin asset."""
    await make_coins(session)
    merchant_id, outlet_ids = await live_merchant(session, outlets=2)
    return Shop(merchant_id, outlet_ids)
