"""API keys' last use, written from each API process once a minute and once more on the way
out, outside every request's transaction (a request never writes to authenticate)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from gullak.access import service
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work

log = structlog.get_logger("gullak.access")


@asynccontextmanager
async def recording_key_uses(db: Database) -> AsyncIterator[None]:
    async def every_minute() -> None:
        while True:
            await asyncio.sleep(service.LAST_USED_EVERY.total_seconds())
            await record(db)

    task = asyncio.create_task(every_minute())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await record(db)


async def record(db: Database) -> None:
    try:
        async with unit_of_work(db) as session:
            await service.record_key_uses(session)
    except Exception as exc:  # last use is advisory: never take the process down for it
        log.warning("key_uses_not_recorded", error=type(exc).__name__)
