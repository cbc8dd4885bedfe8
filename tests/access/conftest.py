"""Back-office fixtures: one app for every test of this folder, cheap password hashing, an
empty setting cache, and a signed-in super admin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.access import service as access
from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import request_session
from gullak.settings import Settings
from tests.helpers.admins import USER_AGENT, Admin, log_in, make_admin
from tests.helpers.http import strict_client
from tests.helpers.passwords import hash_cheaply
from tests.helpers.sessions import rolled_back_sessions


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    hash_cheaply(monkeypatch)


@pytest.fixture(autouse=True)
def _empty_setting_cache() -> Iterator[None]:
    # The cache is per process and outlives each test's rolled-back transaction.
    access.clear_cache()
    yield
    access.clear_cache()


@pytest.fixture(scope="session")
def access_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(env="test", data_dir=tmp_path_factory.mktemp("access") / "data",
                    max_body_bytes=64 * 1024)


@pytest.fixture
def settings(access_settings: Settings) -> Settings:
    # The app below is shared, so the settings (and the keys in their data folder) are too.
    return access_settings


@pytest.fixture(scope="session")
def shared_app(access_settings: Settings, db: Database) -> FastAPI:
    # FastAPI works out an app's routes on its first request, which costs about half a
    # second with every domain mounted: one app serves every test here.
    return create_app(access_settings, db)


@pytest.fixture
def app(shared_app: FastAPI, connection: AsyncConnection) -> Iterator[FastAPI]:
    """The shared app, every request's unit of work inside this test's rolled-back
    transaction (as in tests/conftest.py)."""
    shared_app.dependency_overrides[request_session] = rolled_back_sessions(connection)
    yield shared_app
    shared_app.dependency_overrides.clear()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app over HTTP; any 5xx fails the test on the spot."""
    async with strict_client(app) as c:
        c.headers["user-agent"] = USER_AGENT
        yield c


@pytest.fixture
async def root(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> Admin:
    """A signed-in super admin."""
    return await log_in(client, await make_admin(session, settings, ["super_admin"],
                                                 name="Root"))
