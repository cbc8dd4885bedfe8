"""Dropping cached authentication answers in every process when what they answer changes.

A change (a key revoked, a session closed, a role edited) names the tags it touched with
`pg_notify` inside the transaction that makes it: PostgreSQL delivers the notification to every
listener when that transaction commits, and never when it rolls back. Each API process listens
on a connection of its own (`listen`, started by the app's lifespan) and drops those tags from
its cache.

Chosen over a version row read on every request: a notification costs nothing per request,
where the version check costs a round trip on each one. The price is that another process
hears of a change when the notification arrives, a fraction of a millisecond after the commit
on loopback (measured in tests/access/test_auth_cache.py), not inside the commit itself.
LISTEN needs a session of its own: behind a transaction-pooling PgBouncer, point
GULLAK_DATABASE_LISTEN_URL at PostgreSQL itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.cache import auth

CHANNEL = "gullak_auth"
RETRY_SECONDS = 1.0
log = structlog.get_logger("gullak.notify")


async def publish(session: AsyncSession, *tags: str) -> None:
    """Drop `tags` here now and, once the session's transaction commits, in every process."""
    # Here at once; a fill that races the commit is dropped again when our own listener hears
    # the notification.
    auth.drop(*tags)
    await session.execute(text("SELECT pg_notify(:channel, :tags)"),
                          {"channel": CHANNEL, "tags": " ".join(tags)})


async def listen(url: str, ttl: float) -> None:
    """Listen until cancelled, reconnecting after a lost connection. The cache answers only
    while the connection is up, and starts empty each time (changes may have been missed)."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                    url, autocommit=True, application_name="gullak-listen") as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                auth.clear()
                auth.ttl = ttl
                auth.listeners += 1
                try:
                    async for note in conn.notifies():
                        auth.drop(*note.payload.split())
                finally:
                    auth.listeners -= 1
                    auth.clear()
        except psycopg.Error as exc:
            log.warning("cache_listener_lost", error=type(exc).__name__)
        await asyncio.sleep(RETRY_SECONDS)


@contextlib.asynccontextmanager
async def listening(url: str, ttl: float, wait: float = 2.0) -> AsyncIterator[None]:
    """Run `listen` for the life of the block; wait a little for the first LISTEN so the first
    requests already use the cache (they read the database until then)."""
    if ttl <= 0:
        yield
        return
    before = auth.listeners
    task = asyncio.create_task(listen(url, ttl))
    deadline = asyncio.get_running_loop().time() + wait
    while auth.listeners <= before and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
