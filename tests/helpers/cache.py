"""An app served as in production (its lifespan runs, so it listens for cache drops), the
statements it sends, and a raw connection of another client."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from sqlalchemy import event

from gullak.app import create_app
from gullak.db import embedded
from gullak.db.engine import Database
from gullak.kit import cache
from gullak.settings import Settings
from tests.helpers.http import strict_client

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


def direct_url(db: Database) -> str | None:
    """The test database on the server itself, when the suite runs through PgBouncer."""
    admin = os.environ.get("GULLAK_TEST_ADMIN_DATABASE_URL")
    if not admin:
        return None
    return embedded.with_database(embedded.libpq_url(admin), db.url.rsplit("/", 1)[1].split("?")[0])


@asynccontextmanager
async def served(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose lifespan runs: requests commit, the cache is on (listening on
    the server itself when the suite runs through PgBouncer, as a deployment must)."""
    if settings.database_pgbouncer:
        settings = settings.model_copy(update={"database_listen_url": direct_url(db)})
    app: FastAPI = create_app(settings, db)
    async with app.router.lifespan_context(app), strict_client(app) as client:
        assert cache.auth.on, "the app did not start listening"
        yield client


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Every statement the app's engine sends while the block runs."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


def writes(sent: list[str]) -> list[str]:
    return [s for s in sent if WRITE.match(s)]


async def another_client(db: Database, *steps: tuple[str, dict[str, Any]]) -> None:
    """Run the statements in one transaction on a connection of its own, as another process
    would, and commit."""
    async with await psycopg.AsyncConnection.connect(db.url) as conn:
        for sql, params in steps:
            await conn.execute(sql, params)
        await conn.commit()


async def until(check: Callable[[], bool], seconds: float = 5.0) -> float:
    """Wait for `check` (well under the cache's 30 s); how long it took."""
    started = time.perf_counter()
    while not check():
        assert time.perf_counter() - started < seconds, "never happened"
        await asyncio.sleep(0.001)
    return time.perf_counter() - started
