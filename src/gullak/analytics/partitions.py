"""The monthly partitions of activity_events: made ahead (the months to come, by the SQL
function `analytics_create_partition` of migration 0034, which also moves in what the
DEFAULT partition caught of a month made late), and dropped whole once past the retention."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.analytics.models import PARTITION_SCHEMA
from gullak.kit import clock

MONTHS_AHEAD = 3
PARENT = "activity_events"
DEFAULT = f"{PARENT}_default"
_LIST = text("""
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'activity_events'::regclass ORDER BY 1
""")


def month_start(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(month: dt.datetime) -> dt.datetime:
    return month_start(month_start(month) + dt.timedelta(days=32))


def month_of(name: str) -> dt.datetime | None:
    """The month a partition holds, from its name (activity_events_pYYYY_MM)."""
    try:
        return dt.datetime.strptime(name[-7:], "%Y_%m").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


async def ensure(session: AsyncSession, *, months_ahead: int = MONTHS_AHEAD,
                 since: dt.datetime | None = None) -> list[str]:
    """Make the months from `since` (default: this one) to `months_ahead` months after this
    one; the names made. Safe at any time and any number of times."""
    now = clock.now()
    month, last = month_start(since or now), month_start(now)
    for _ in range(months_ahead):
        last = next_month(last)
    made: list[str] = []
    while month <= last:
        name = await session.scalar(text("SELECT analytics_create_partition(:at)"),
                                    {"at": month})
        if name:
            made.append(str(name))
        month = next_month(month)
    return made


async def drop_expired(session: AsyncSession, retention_days: int) -> list[str]:
    """Drop the months wholly older than the retention, and what the default partition holds
    that old; the names dropped."""
    cutoff = clock.now() - dt.timedelta(days=retention_days)
    dropped: list[str] = []
    for name in (await session.scalars(_LIST)).all():
        month = month_of(name)
        if month is not None and next_month(month) <= cutoff:
            await session.execute(text(f'DROP TABLE {PARTITION_SCHEMA}."{name}"'))
            dropped.append(name)
    await session.execute(text(f"DELETE FROM {PARTITION_SCHEMA}.{DEFAULT}"
                               " WHERE occurred_at < :cutoff"), {"cutoff": cutoff})
    return dropped


async def months(session: AsyncSession) -> dict[str, int]:
    """Each partition and about how many rows it holds (the planner's estimate: no scan)."""
    rows = await session.execute(text("""
        SELECT c.relname, greatest(c.reltuples, 0)::bigint FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'activity_events'::regclass ORDER BY 1"""))
    return {str(name): int(count) for name, count in rows}
