"""Engine and session factory for one PostgreSQL database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from gullak.db import embedded
from gullak.settings import Settings


def resolve_url(settings: Settings, *, keep_running: bool = False) -> str:
    """The configured database URL, or the embedded server's (started on demand)."""
    if settings.database_url:
        return settings.database_url
    return embedded.server_url(Path(settings.data_dir), keep_running=keep_running)


def sqlalchemy_url(url: str) -> str:
    """Any PostgreSQL URL, spelled for SQLAlchemy with the psycopg 3 driver."""
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


class UnitSession(AsyncSession):
    """A unit of work's session (db/uow.py), bound to the unit's one pooled connection.

    `driver` is that connection's psycopg connection, for statements that skip SQLAlchemy
    (the ledger's commands). The ORM session underneath is made on first use, in the same
    transaction: a unit that only runs driver statements never pays for building it.
    """

    def __init__(self, db: Database, pooled: PoolProxiedConnection) -> None:
        # No AsyncSession.__init__: `sync_session` below stands in for what it would make.
        self._db = db
        self._pooled = pooled
        self._sync: Session | None = None
        self._async_binds = {}
        self.companions: AsyncExitStack | None = None  # what ends with the unit (uow.beside)
        self.driver: psycopg.AsyncConnection[Any] = pooled.driver_connection  # type: ignore[assignment]

    @property
    def orm_started(self) -> bool:
        return self._sync is not None

    @property
    def sync_session(self) -> Session:  # type: ignore[override]
        if self._sync is None:
            engine = self._db.engine
            bind = AsyncConnection(engine, Connection(engine.sync_engine, connection=self._pooled))
            self._async_bind = bind
            options = {k: v for k, v in self._db.sessionmaker.kw.items() if k != "bind"}
            self._sync = self._assign_proxied(self.sync_session_class(
                bind=bind.sync_connection, **options))
        return self._sync

    @property
    def _proxied(self) -> Session:  # type: ignore[override]
        return self.sync_session


class UnitPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's pool, with `kept`: connections a unit of work passes on to the next
    (db/uow.py) without returning them, which costs about a fifth of a balance read's CPU
    (bench/README.md). Whoever finds the pool empty takes a kept connection back first, so a
    kept connection never makes anyone wait; and while anyone waits (`waiting`), units give
    theirs back instead of keeping them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kept: list[PoolProxiedConnection] = []
        self.keep = (self.size() + max(self._max_overflow, 0)) // 2  # kept at most
        self.waiting = 0

    def _do_get(self) -> ConnectionPoolEntry:
        if self.kept and self._pool.empty():
            self.kept.pop().close()  # back in the queue, for the get below
        self.waiting += 1
        try:
            return super()._do_get()
        finally:
            self.waiting -= 1

    def give_back(self) -> None:
        """Returns every kept connection to the pool (in a greenlet, as the pool's calls run)."""
        while self.kept:
            self.kept.pop().close()


class Database:
    """One engine and its session factory; created once per process.

    `pgbouncer`: connections go through PgBouncer in transaction pooling mode, where a
    statement prepared on one server connection may be run on another; psycopg then prepares
    nothing (prepare_threshold=None). Without it, psycopg prepares a statement on its fifth use
    on a connection, which saves the server's parsing and planning on every hot statement.
    """

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 20,
                 pgbouncer: bool = False) -> None:
        self.url = embedded.libpq_url(url)
        self.pgbouncer = pgbouncer
        connect_args: dict[str, Any] = {"application_name": "gullak"}
        if pgbouncer:
            connect_args["prepare_threshold"] = None
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            # No pre-ping: it costs a round trip per checkout (measured ~150us of client CPU per
            # unit of work); a dropped connection invalidates the pool on first use instead.
            pool_pre_ping=False,
            poolclass=UnitPool,
            connect_args=connect_args,
        )
        self.sessionmaker = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False, autoflush=True
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            resolve_url(settings),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pgbouncer=settings.database_pgbouncer,
        )

    @property
    def pool(self) -> UnitPool:
        pool: UnitPool = self.engine.sync_engine.pool  # type: ignore[assignment]
        return pool

    async def dispose(self) -> None:
        await greenlet_spawn(self.pool.give_back)
        await self.engine.dispose()


async def _driver(session: AsyncSession) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under `session`, in its transaction, for a hot statement that
    skips SQLAlchemy's statement machinery (it costs more client CPU than the round trip).
    What the caller wrote through the ORM is flushed first, so the statement sees it."""
    unit = session if isinstance(session, UnitSession) else None
    if (unit is None or unit.orm_started) and (session.new or session.dirty or session.deleted):
        await session.flush()
    if unit is not None:
        return unit.driver
    connection = await session.connection()
    return connection.sync_connection.connection.driver_connection  # type: ignore[union-attr,return-value]


async def driver_rows(session: AsyncSession, query: str,
                      params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Every row of a hot statement (psycopg placeholders) run on the session's psycopg
    connection. A database error is raised as SQLAlchemy raises it, for the API's handlers."""
    conn = await _driver(session)
    try:
        cursor = await conn.execute(query, params)
        # Whether the statement returns rows, from the result itself: `description` builds a
        # column object per field on every call (37 µs a wide row).
        result = cursor.pgresult
        return await cursor.fetchall() if result is not None and result.nfields else []
    except psycopg.Error as exc:
        raise DBAPIError.instance(query, params, exc, psycopg.Error) from exc
