"""The unit of work: one transaction per request or job.

Whoever opens the unit commits it when the work returns and rolls it back on any error.
Services receive the session and never commit, so a command happens whole or not at all.

One exception: a refusal that must be remembered (a wrong OTP counts as an attempt, a rate
limit hit counts, a denied admin action is audited) raises an error with `keep_changes`; the
unit commits what was written before the refusal, then the error goes on to the client.

The unit costs about what the driver's own transaction does (bench/README.md): it takes one
pooled connection (the one the previous unit kept, when there is one: `engine.UnitPool`), and
the session it hands out runs on that connection but starts nothing
until it is used. Hot paths (the ledger's commands) run their statements on the session's
`driver`, the psycopg connection itself; everything else uses the session as usual, in the
same transaction. Committing costs one COMMIT when something ran, and nothing otherwise.

A unit that only reads, or whose work is one statement, may run each statement on its own
(`autocommit`): one round trip instead of BEGIN, the statement and COMMIT (bench/README.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Annotated, TypeVar

import psycopg
from fastapi import Depends, Request
from psycopg.pq import TransactionStatus
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from gullak.db.engine import Database, UnitPool, UnitSession
from gullak.kit.errors import GullakError

T = TypeVar("T")


@asynccontextmanager
async def transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Run the unit on `session`: commit on return, roll back on error (see above)."""
    await session.begin()
    try:
        yield session
    except GullakError as exc:
        if exc.keep_changes:
            await session.commit()
        else:
            await session.rollback()
        raise
    except BaseException:
        await session.rollback()
        raise
    await session.commit()


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[AsyncSession]:
    pool = db.pool
    # raw_connection() wraps a failure to connect as SQLAlchemy does (answered 503).
    pooled = pool.kept.pop() if pool.kept else await greenlet_spawn(
        db.engine.sync_engine.raw_connection)
    session = UnitSession(db, pooled)
    failure: BaseException | None = None
    try:
        yield session
    except GullakError as exc:
        failure = exc
        await (_commit(session) if exc.keep_changes else _rollback(session, pooled))
        raise
    except BaseException as exc:
        failure = exc
        await _rollback(session, pooled)
        raise
    else:
        await _commit(session)
    finally:
        if session.companions is not None:
            await session.companions.__aexit__(
                type(failure) if failure else None, failure,
                failure.__traceback__ if failure else None)
        if session.driver.autocommit:
            await _end_autocommit(session, pooled)
        if session.orm_started or not _keep(pool, session, pooled):
            await greenlet_spawn(_release, pool, session, pooled)


async def beside(unit: AsyncSession, other: AbstractAsyncContextManager[T]) -> T:
    """Enters `other` (another database's unit, say) for as long as `unit` lasts; it ends
    when the unit ends, with the unit's outcome. One dependency that yields fewer for
    FastAPI to solve on every request."""
    if not isinstance(unit, UnitSession):
        raise TypeError("beside() needs a unit of work's session")
    if unit.companions is None:
        unit.companions = AsyncExitStack()
    return await unit.companions.enter_async_context(other)


async def discard(session: AsyncSession) -> None:
    """Rolls back what the unit has done so far, so that its end commits nothing: for a caller
    that answers a refusal itself (an HTML page) instead of raising it through the unit."""
    if session.in_transaction():
        await session.rollback()
    if isinstance(session, UnitSession):
        await _driver_end(session, "ROLLBACK")


async def autocommit(session: AsyncSession) -> None:
    """Lets a unit that has not run anything yet run each statement as its own transaction,
    without the BEGIN and COMMIT round trips around it. For two kinds of unit:

    - one that only reads: nothing it sees changes, as under READ COMMITTED (PostgreSQL's
      default and ours) every statement takes its own snapshot even inside a transaction;
    - one whose whole work is one statement (a ledger command, key and result included): a
      statement is atomic by itself.

    A write made in such a unit anyway (the audit row of a refused permission) commits at once,
    which is what such a write asks for. A unit already in a transaction stays in it. Not for a
    unit that sets anything for the transaction (`SET LOCAL`, `set_config(..., true)`, an
    advisory transaction lock): that would end with the statement that made it.
    """
    if not isinstance(session, UnitSession) or session.orm_started:
        return
    driver = session.driver
    if not driver.autocommit and driver.info.transaction_status == TransactionStatus.IDLE:
        await driver.set_autocommit(True)


async def _end_autocommit(session: UnitSession, pooled: PoolProxiedConnection) -> None:
    # The pool hands out connections in transaction mode; psycopg sends nothing for this.
    try:
        await session.driver.set_autocommit(False)
    except psycopg.Error:
        pooled.invalidate()


async def _commit(session: UnitSession) -> None:
    if session.orm_started:
        await session.commit()  # flushes what the ORM holds; COMMIT if anything ran
    await _driver_end(session, "COMMIT")  # what ran on the driver alone; nothing if idle


async def _rollback(session: UnitSession, pooled: PoolProxiedConnection) -> None:
    try:
        if session.orm_started:
            await session.rollback()
        await _driver_end(session, "ROLLBACK")
    except Exception:
        # The connection is broken: the pool must not hand it out again, and the error that
        # ended the unit is the one to report.
        pooled.invalidate()


async def _driver_end(session: UnitSession, command: str) -> None:
    driver = session.driver
    try:
        # Nothing is sent when no statement ran (psycopg knows the connection is idle).
        await (driver.commit() if command == "COMMIT" else driver.rollback())
    except psycopg.Error as exc:  # a deferred constraint at COMMIT: as SQLAlchemy raises it
        raise DBAPIError.instance(command, None, exc, psycopg.Error) from exc


def _keep(pool: UnitPool, session: UnitSession, pooled: PoolProxiedConnection) -> bool:
    """Keeps the connection for the next unit (engine.UnitPool) when it is as the pool would
    hand it out: valid and idle. Never while anyone waits for the pool."""
    if (pool.waiting or len(pool.kept) >= pool.keep or not pooled.is_valid
            or session.driver.closed
            or session.driver.info.transaction_status != TransactionStatus.IDLE):
        return False
    pool.kept.append(pooled)
    return True


def _release(pool: UnitPool, session: UnitSession, pooled: PoolProxiedConnection) -> None:
    # Synchronous, in one greenlet: the session forgets its objects (its connection, bound to
    # the pooled one, stays open) and may then keep the pooled connection, as a unit without
    # the ORM already tried before it came here; otherwise the connection goes back to the
    # pool, which rolls back whatever a failure left open.
    if session.orm_started:
        session.sync_session.close()
        if _keep(pool, session, pooled):
            return
    pooled.close()


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(request.app.state.db) as session:
        yield session


# scope="function": the commit runs when the endpoint returns and before the response is
# sent, so a failed commit becomes an error response instead of a 200 for lost work.
SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]
