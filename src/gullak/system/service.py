"""Readiness (the database answers and its schema is at head), and rate limits."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gullak.db import migrate
from gullak.kit import clock
from gullak.kit.errors import TooManyRequests
from gullak.settings import get_settings
from gullak.system import stats
from gullak.system.schemas import DatabaseStatsOut

if TYPE_CHECKING:
    from gullak.db.engine import Database
    from gullak.settings import Settings
    from gullak.system import doctor


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


# -- growing delays ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Backoff:
    """Failures count for `forget` (a day at most: older rows are pruned). Once `free` of them
    stand, the next attempt waits `first` seconds after the latest one, twice as long after
    each further failure, up to `cap`."""

    free: int
    forget: dt.timedelta
    first: float = 1.0
    cap: float = 900.0

    def delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.cap, self.first * 2.0 ** min(failures - self.free, 40))


@dataclass(frozen=True)
class Attempt:
    """An attempt let through: counted as a failure under each key until forgiven."""

    keys: tuple[str, ...]
    at: dt.datetime
    token: str


_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
_FAILURES = text("""
SELECT coalesce(sum(hits), 0) AS failures, max(window_start) AS latest FROM rate_limits
WHERE key = :key AND window_start > :since
""")
_FORGIVE = (text("DELETE FROM rate_limits WHERE key = :key AND window_start = :at AND hits <= 1"),
            text("UPDATE rate_limits SET hits = hits - 1 WHERE key = :key AND window_start = :at"))
# Checks every key, then counts the attempt under each, in one step no other client splits.
_ATTEMPT_SCRIPT = """
local now = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local o = 3 + (i - 1) * 5
  local free, first, cap = tonumber(ARGV[o]), tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[o + 4])
  local failures = redis.call('ZCARD', key)
  if failures >= free then
    local latest = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])
    local delay = math.min(cap, first * 2 ^ math.min(failures - free, 40))
    wait = math.max(wait, latest + delay - now)
  end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[1], ARGV[2])
  redis.call('EXPIRE', key, ARGV[3 + (i - 1) * 5 + 3])
end
return '0'
"""


async def attempt(session: AsyncSession, limits: Sequence[tuple[str, Backoff]]) -> Attempt:
    """Refuse (429, with how long to wait) while any key's failures call for a delay that has
    not passed; else count this attempt as a failure under every key, until `forgive`.

    Counting first means concurrent attempts see each other. With PostgreSQL, attempts under
    the first key also queue behind one another until each one's transaction ends.
    """
    now, token = clock.now(), uuid.uuid4().hex
    keys = tuple(key for key, _ in limits)
    client = redis_client()
    if client is not None:
        # Numbers go as Python writes them: Lua's own formatting would round the times.
        args: list[str | float] = [repr(now.timestamp()), token]
        for _, rule in limits:
            forget = rule.forget.total_seconds()
            args += [rule.free, rule.first, rule.cap, math.ceil(forget),
                     repr(now.timestamp() - forget)]
        wait = float(await client.eval(  # type: ignore[misc]
            _ATTEMPT_SCRIPT, len(keys), *(f"gullak:bo:{k}" for k in keys), *args))
    else:
        wait = 0.0
        if keys:
            await session.execute(_LOCK, {"key": keys[0]})
        for key, rule in limits:
            row = (await session.execute(_FAILURES, {"key": key,
                                                     "since": now - rule.forget})).one()
            delay = rule.delay(row.failures)
            if delay > 0:
                wait = max(wait, (row.latest - now).total_seconds() + delay)
        if wait <= 0:
            for key in keys:
                await session.execute(_HIT, {"key": key, "start": now})
    if wait > 0:
        # Whole seconds for Retry-After; a float's last digits do not add one.
        raise RateLimited(retry_after=max(1, math.ceil(wait - 0.001)))
    return Attempt(keys, now, token)


async def forgive(session: AsyncSession, attempt: Attempt, *, reset: Sequence[str] = ()) -> None:
    """The attempt succeeded: it is no failure under any of its keys, and the keys in `reset`
    forget their earlier failures too."""
    client = redis_client()
    if client is not None:
        async with client.pipeline(transaction=True) as pipe:
            for key in attempt.keys:
                if key in reset:
                    pipe.delete(f"gullak:bo:{key}")
                else:
                    pipe.zrem(f"gullak:bo:{key}", attempt.token)
            await pipe.execute()
        return
    for key in attempt.keys:
        if key in reset:
            await session.execute(text("DELETE FROM rate_limits WHERE key = :key"), {"key": key})
        else:
            for statement in _FORGIVE:
                await session.execute(statement, {"key": key, "at": attempt.at})


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


# -- database statistics ----------------------------------------------------------------------

async def database_stats(session: AsyncSession, *, limit: int = 20,
                         partitions: bool = False) -> DatabaseStatsOut:
    """Sizes, row estimates, dead tuples, unused indexes and the slowest statements (read only)."""
    return await stats.collect(session, limit=limit, partitions=partitions)


# -- the installation's checks (`gullak doctor`), for the console -----------------------------

async def doctor_checks(settings: Settings, db: Database) -> list[doctor.Check]:
    """Every check `gullak doctor` runs, on the app's own database (a few small queries)."""
    from gullak.system import doctor as checks  # doctor imports this module

    return await checks.run(settings, db)
