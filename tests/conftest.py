"""Test databases on a real PostgreSQL server.

The server is the embedded one (in .gullak-test/) unless GULLAK_TEST_DATABASE_URL names one.
GULLAK_TEST_ADMIN_DATABASE_URL, when set, is where databases are created and dropped: the
server itself, when the tests reach it through a pooler such as PgBouncer (a pooler keeps idle
connections to the template, and CREATE DATABASE ... TEMPLATE refuses a template in use).
Each test process (pytest-xdist runs several: `make test`) migrates a template database of its
own once with Alembic; tests get either a session inside a
transaction that is rolled back (`session`, `client`) or, when they need commits and several
connections, a fresh database cloned from the template (`fresh_db`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak import domains
from gullak.db import embedded, migrate
from gullak.db.engine import Database
from gullak.kit import clock
from gullak.ledger.verify import Report, verify_database
from gullak.settings import Settings
from tests.helpers.http import http_client
from tests.helpers.sessions import rolled_back_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def server_url() -> str:
    """URL of the maintenance database ('postgres') on the test server."""
    url = os.environ.get("GULLAK_TEST_DATABASE_URL")
    if url:
        return embedded.libpq_url(url)
    server = embedded.start(ROOT / ".gullak-test")
    return str(server.get_uri("postgres"))


@pytest.fixture(scope="session")
def admin_url(server_url: str) -> str:
    """URL of the maintenance database on the server itself, never through a pooler."""
    url = os.environ.get("GULLAK_TEST_ADMIN_DATABASE_URL")
    return embedded.libpq_url(url) if url else server_url


@pytest.fixture(scope="session")
def run_id() -> str:
    return f"{os.getpid()}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def template_url(admin_url: str, run_id: str) -> Iterator[str]:
    name = f"gullak_test_{run_id}_tpl"
    embedded.drop_database(admin_url, name)
    embedded.ensure_database(admin_url, name)
    url = embedded.with_database(admin_url, name)
    migrate.upgrade(url)
    yield url
    embedded.drop_database(admin_url, name)


def clone(admin_url: str, server_url: str, template_url: str, name: str) -> str:
    """A copy of the template, made on the server itself and reached as the tests reach it."""
    template = template_url.rsplit("/", 1)[1].split("?")[0]
    embedded.ensure_database(admin_url, name, template=template)
    return embedded.with_database(server_url, name)


@pytest.fixture(scope="session")
def database_url(admin_url: str, server_url: str, template_url: str,
                 run_id: str) -> Iterator[str]:
    name = f"gullak_test_{run_id}"
    yield clone(admin_url, server_url, template_url, name)
    embedded.drop_database(admin_url, name)


def pgbouncer() -> bool:
    """Whether the test server is reached through PgBouncer (GULLAK_DATABASE_PGBOUNCER)."""
    return Settings().database_pgbouncer


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=5, max_overflow=5, pgbouncer=pgbouncer())
    yield database
    await database.dispose()


@pytest.fixture
async def connection(db: Database) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with db.engine.connect() as conn:
        trans = await conn.begin()
        try:
            yield conn
        finally:
            await trans.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    # Commits inside the code under test become savepoint releases of the outer transaction.
    async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint",
                            expire_on_commit=False) as s:
        yield s


@pytest.fixture
async def fresh_db(request: pytest.FixtureRequest, admin_url: str, server_url: str,
                   template_url: str) -> AsyncIterator[Database]:
    """A database of its own, migrated, for tests that commit or use many connections. After
    the test, its ledger must verify (`gullak ledger verify`), whatever the test did."""
    name = f"gullak_test_{uuid.uuid4().hex[:12]}"
    database = Database(clone(admin_url, server_url, template_url, name), pool_size=5,
                        max_overflow=40, pgbouncer=pgbouncer())
    try:
        yield database
        if not _breaks_ledger(request):
            report = await verify_database(database)
            assert report.ok, f"the ledger does not verify after the test: {_failed(report)}"
    finally:
        await database.dispose()
        embedded.drop_database(admin_url, name)


def _breaks_ledger(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("breaks_ledger") is not None


def _failed(report: Report) -> list[tuple[str, list[dict[str, object]]]]:
    return [(c.name, c.sample) for c in report.checks if not c.ok]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(env="test", data_dir=tmp_path / "data", max_body_bytes=64 * 1024)


@pytest.fixture
def app(settings: Settings, db: Database, connection: AsyncConnection) -> FastAPI:
    """The app, every request's unit of work inside the test's rolled-back transaction."""
    return rolled_back_app(settings, db, connection)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as c:
        yield c


@pytest.fixture(scope="session", autouse=True)
def _wired() -> None:
    # Services called directly (without an app) authorise and audit as in every process.
    domains.install()


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    yield
    clock.reset()
