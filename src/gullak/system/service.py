"""Readiness (the database answers and its schema is at head), and rate limits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gullak.db import migrate
from gullak.kit import clock
from gullak.kit.errors import TooManyRequests
from gullak.settings import get_settings


@dataclass
class Readiness:
    database: bool
    migrations: bool
    current: list[str]
    head: list[str]

    @property
    def ready(self) -> bool:
        return self.database and self.migrations


async def readiness(engine: AsyncEngine) -> Readiness:
    head = sorted(migrate.heads())
    try:
        async with engine.connect() as conn:
            # A database never migrated has no alembic_version table: not ready, not an error.
            exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all() \
                if exists else []
    except Exception:
        return Readiness(database=False, migrations=False, current=[], head=head)
    current = sorted(r[0] for r in rows)
    return Readiness(database=True, migrations=current == head, current=current, head=head)


class RateLimited(TooManyRequests):
    code = "rate_limited"
    title = "Too many requests: try again later"
    keep_changes = True


# -- rate limits ------------------------------------------------------------------------------

_HIT = text("""
INSERT INTO rate_limits (key, window_start, hits) VALUES (:key, :start, 1)
ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limits.hits + 1
RETURNING hits
""")


async def hit(session: AsyncSession, key: str, *, limit: int, window: dt.timedelta) -> int:
    """Count one hit of `key` in the current fixed window; refuse past `limit`.

    The count lives in Redis when GULLAK_REDIS_URL is set, else in PostgreSQL. A refusal keeps
    its count (the unit of work commits it), so refused attempts still use up the window.
    """
    now = clock.now()
    seconds = int(window.total_seconds())
    start = int(now.timestamp()) // seconds * seconds
    client = redis_client()
    if client is not None:
        name = f"gullak:rl:{key}:{start}"
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, seconds * 2)
            hits, _ = await pipe.execute()
    else:
        hits = await session.scalar(_HIT, {
            "key": key, "start": dt.datetime.fromtimestamp(start, dt.UTC)})
    if int(hits) > limit:
        raise RateLimited(retry_after=start + seconds - int(now.timestamp()))
    return int(hits)


async def prune_rate_limits(session: AsyncSession, *, older_than: dt.timedelta) -> int:
    result = await session.execute(text("DELETE FROM rate_limits WHERE window_start < :t"),
                                   {"t": clock.now() - older_than})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def redis_client() -> Redis | None:
    url = get_settings().redis_url
    if not url:
        return None
    if url not in _clients:
        _clients[url] = Redis.from_url(url)
    return _clients[url]


_clients: dict[str, Redis] = {}
