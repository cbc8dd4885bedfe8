"""Tables partitioned by month of their id, a UUID version 7 (`gullak.kit.ids.uuid7`).

A v7 id starts with its Unix time in milliseconds (48 bits), so the ids made in a UTC month
lie between the smallest UUID of the month's first millisecond and that of the next month's.
Partitioning by the primary key keeps every unique key and foreign key working, and fixes a
row's partition when its id is made: triggers may change its time afterwards (the ledger's
posting trigger moves `created_at` forward to keep balances as of a time exact), where with
a partition by that time PostgreSQL refuses a BEFORE trigger that moves a row to another
partition.

There is no default partition. An id of another UUID version (v4's leading bits are random)
or of a month without a partition is refused by PostgreSQL ("no partition of relation ...
found for row") rather than kept in a catch-all that would stop later months from being
attached. No check is needed on the way in: every id of these tables is made in the process
by `uuid7()`, none comes from a client, and the migration that partitioned a table refused
rows with any other.

The partitions of a table are `partitions.<table>_pYYYY_MM`, made by the SQL function
`gullak_create_partition` (migrations/sql/0016_partitions.sql): by the migration for every
month that has rows, and by the daily job `system.ensure_partitions` for the months ahead.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock

SCHEMA = "partitions"
MONTHS_AHEAD = 3
# Attaching a partition briefly blocks writes to a table with a foreign key to itself (the
# ledger's reversals): wait no longer than this for the lock, and let tomorrow's run try again.
LOCK_TIMEOUT = "2s"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# Tables of the current schema partitioned by range of one uuid column named id.
_TABLES = text("""
SELECT c.relname FROM pg_partitioned_table p
JOIN pg_class c ON c.oid = p.partrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]
WHERE n.nspname = current_schema() AND p.partstrat = 'r' AND p.partnatts = 1
  AND a.attname = 'id' AND a.atttypid = 'uuid'::regtype
ORDER BY 1
""")
_CREATE = text("SELECT gullak_create_partitions(:table, :since, :until)")


def month_start(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(month: dt.datetime) -> dt.datetime:
    return month_start(month_start(month) + dt.timedelta(days=32))


def uuid7_floor(at: dt.datetime) -> uuid.UUID:
    """The smallest UUID of the millisecond `at`: every v7 id made then or later sorts after
    it (as SQL's gullak_uuid7_floor)."""
    ms = (at - _EPOCH) // dt.timedelta(milliseconds=1)
    return uuid.UUID(int=ms << 80)


def uuid7_time(id_: uuid.UUID) -> dt.datetime | None:
    """When a v7 id was made; None for a UUID of another version."""
    if id_.version != 7 or id_.variant != uuid.RFC_4122:
        return None
    return _EPOCH + dt.timedelta(milliseconds=id_.int >> 80)


def bounds(at: dt.datetime) -> tuple[uuid.UUID, uuid.UUID]:
    """The partition bounds (from, to) of the UTC month of `at`."""
    month = month_start(at)
    return uuid7_floor(month), uuid7_floor(next_month(month))


def partition_name(table: str, at: dt.datetime) -> str:
    return f"{table}_p{month_start(at):%Y_%m}"


async def tables(session: AsyncSession) -> list[str]:
    return list((await session.scalars(_TABLES)).all())


async def ensure(session: AsyncSession, *, months_ahead: int = MONTHS_AHEAD,
                 since: dt.datetime | None = None) -> list[str]:
    """Make the missing partitions of every table partitioned by id, from the month of
    `since` (default: this month) to `months_ahead` months after this one; returns the
    names made. Safe to run at any time and any number of times."""
    now = clock.now()
    until = month_start(now)
    for _ in range(months_ahead):
        until = next_month(until)
    await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    made: list[str] = []
    for table in await tables(session):
        made += (await session.scalars(_CREATE, {
            "table": table, "since": since or now, "until": until})).all()
    return made


def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                   compare_to: Any) -> bool:
    """For Alembic's comparison of models and schema: a foreign key that refers to a
    partitioned table (the ledger's reversals) is kept by PostgreSQL as one constraint plus a
    copy per partition it refers to. The copies are PostgreSQL's, not the models'."""
    if type_ == "foreign_key_constraint" and reflected:
        return not any(e.target_fullname.startswith(f"{SCHEMA}.") for e in obj.elements)
    return True
