"""One app for every test of a folder (building an app's routes costs about a second), its
requests inside each test's rolled-back transaction, subjects of every kind over HTTP. A
folder's conftest imports these fixtures; each conftest gets an app of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import request_session
from gullak.settings import Settings
from tests.helpers.http import guarded_client
from tests.helpers.offers import Actors
from tests.helpers.sessions import rolled_back_sessions
from tests.orders.support import subjects_of


@dataclass
class Shared:
    app: FastAPI
    actors: Actors = field(default_factory=Actors)


@pytest.fixture(scope="session")
def shared(db: Database, tmp_path_factory: pytest.TempPathFactory) -> Shared:
    settings = Settings(env="test", data_dir=tmp_path_factory.mktemp("shared") / "data",
                        max_body_bytes=64 * 1024)
    found = Shared(create_app(settings, db))
    subjects_of(found.app, found.actors)
    return found


@pytest.fixture
def app(shared: Shared, connection: AsyncConnection) -> Iterator[FastAPI]:
    shared.actors.subjects.clear()
    shared.app.dependency_overrides[request_session] = rolled_back_sessions(connection)
    yield shared.app
    shared.app.dependency_overrides.pop(request_session, None)


@pytest.fixture
def actors(app: FastAPI, shared: Shared) -> Actors:
    return shared.actors


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Every answer is checked: never a 5xx, every refusal problem+json with a code."""
    async with guarded_client(app) as c:
        yield c
