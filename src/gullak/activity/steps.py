"""Syncing steps: a batch of samples stored (a resync replaces), each touched day's summary
merged again, and a day already over settled at once (validated, credited); reads of days.

A day is over for every time zone at 12:00 UTC the day after (UTC-12 ends it then); days
still running are settled by the conversion job once over.

Days are merged in PostgreSQL by the rule of `rules.merge` (`facts.py`): a running day's
summary in one statement (`_STORE`: one row back, not the day's 1,440 samples); a day that is
over with what its anti-cheat checks need, and only then its `pattern` (a running day has
none: the pattern check runs, and compares, when days are settled).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import conversion, errors, facts, rules
from gullak.activity.models import DaySummary, Device, StepRecord
from gullak.activity.schemas import DayOut, DayStatus, SampleIn, SyncOut
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.kit.sql import Array
from gullak.kit.sql import xact_lock
from gullak.settings import get_settings

AHEAD = dt.timedelta(hours=14)  # the earliest time zone is UTC+14
EARLY = dt.timedelta(minutes=5)  # clocks a little ahead


def closes_at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(12), dt.UTC)


def is_over(day: dt.date, now: dt.datetime) -> bool:
    return now >= closes_at(day)


def oldest_day(now: dt.datetime) -> dt.date:
    """The oldest day a sync may still change."""
    return (now - AHEAD).date() - dt.timedelta(days=get_settings().activity_resync_days)


async def lock(session: AsyncSession, user_id: uuid.UUID, day: dt.date) -> None:
    """Every change to a user's day happens under this lock: syncs of one day run one at a
    time, so a day is credited once whatever the number of concurrent syncs."""
    await xact_lock(session, f"activity:{user_id}:{day.isoformat()}")


def _row(user_id: uuid.UUID, s: SampleIn, i: int, now: dt.datetime) -> dict[str, object]:
    if s.day is not None:
        day, start, end, offset, kind = (s.day, dt.datetime.combine(s.day, dt.time(), dt.UTC),
                                         None, None, "day")
        if day > (now + AHEAD).date():
            raise errors.FutureDay(f"{day} has not come anywhere yet.", field=f"samples.{i}.day")
    else:
        assert s.start is not None and s.end is not None
        delta = s.start.utcoffset() or dt.timedelta()
        day, start, end, kind = s.start.date(), s.start, s.end, "interval"
        offset = int(delta.total_seconds() // 60)
        if s.end > now + EARLY:
            raise errors.FutureDay("The interval ends in the future.", field=f"samples.{i}.end")
    if day < oldest_day(now):
        raise errors.DayTooOld(f"{day} is past the resync window.", field=f"samples.{i}")
    return {"user_id": user_id, "day": day, "source": s.source.value, "kind": kind,
            "start_at": start, "end_at": end, "utc_offset_minutes": offset, "count": s.count,
            "device_id": s.device_id, "distance_m": s.distance_m, "calories": s.calories,
            "active_minutes": s.active_minutes, "synced_at": now}


_COLUMNS = {"day": "date", "source": "text", "kind": "text", "start_at": "timestamptz",
            "end_at": "timestamptz", "utc_offset_minutes": "smallint", "count": "integer",
            "device_id": "text", "distance_m": "integer", "calories": "integer",
            "active_minutes": "integer"}
_KEY = ("day", "source", "kind", "start_at")
# One statement and one parameter per column whatever the batch (arrays unnested): a hundred
# rows cost PostgreSQL one insert, not a hundred pipelined ones.
_UPSERT = text(f"""
INSERT INTO step_records (user_id, synced_at, {", ".join(_COLUMNS)})
SELECT :user_id, :synced_at, * FROM unnest({", ".join(
    f"CAST(:{c} AS {t}[])" for c, t in _COLUMNS.items())})
ON CONFLICT (user_id, {", ".join(_KEY)}) DO UPDATE SET {", ".join(
    f"{c} = excluded.{c}" for c in (*(c for c in _COLUMNS if c not in _KEY), "synced_at"))}
""")


def _arrays(user_id: uuid.UUID, rows: Sequence[dict[str, object]],
            now: dt.datetime) -> dict[str, object]:
    return {"user_id": user_id, "synced_at": now,
            **{c: Array([r[c] for r in rows]) for c in _COLUMNS}}


# A running day's summary merged and stored in one statement; what a sync answers back.
_STORE = text(facts.MERGE + """
INSERT INTO daily_step_summary AS s (id, user_id, day, steps, distance_m, by_source,
                                     utc_offset_minutes, early_bird)
SELECT :id, user_id, :day, steps, distance_m, by_source, min_offset, early >= :early_bird
FROM m
ON CONFLICT (user_id, day) DO UPDATE SET steps = excluded.steps,
  distance_m = excluded.distance_m, by_source = excluded.by_source,
  utc_offset_minutes = excluded.utc_offset_minutes, early_bird = excluded.early_bird,
  updated_at = now()
RETURNING s.day, s.steps, s.verified_steps, s.status, s.score, s.credited, s.by_source
""")
# What the merge and the anti-cheat read of a record.
RECORDS = (StepRecord.source, StepRecord.kind, StepRecord.start_at, StepRecord.end_at,
           StepRecord.utc_offset_minutes, StepRecord.count, StepRecord.device_id,
           StepRecord.distance_m)


async def ingest(session: AsyncSession, user_id: uuid.UUID, samples: Sequence[SampleIn], *,
                 settle: bool = True) -> SyncOut:
    """Store a batch (all or nothing): a sample with the key of one stored replaces it.
    Returns the touched days as they stand after."""
    now = clock.now()
    rows: dict[tuple[object, ...], dict[str, object]] = {}
    for i, sample in enumerate(samples):
        row = _row(user_id, sample, i, now)
        rows[(row["day"], row["source"], row["kind"], row["start_at"])] = row  # last wins
    days = sorted({r["day"] for r in rows.values()})  # type: ignore[type-var]
    for day in days:  # in order: two syncs of the same days never deadlock
        await lock(session, user_id, day)  # type: ignore[arg-type]
    await session.execute(_UPSERT, _arrays(user_id, list(rows.values()), now))
    devices = sorted({str(r["device_id"]) for r in rows.values()})
    dev = insert(Device).values([{"device_id": d, "user_id": user_id, "last_seen_at": now}
                                 for d in devices])
    await session.execute(dev.on_conflict_do_update(
        index_elements=["device_id", "user_id"], set_={"last_seen_at": dev.excluded.last_seen_at}))
    out = []
    for day in days:
        if not is_over(day, now):  # type: ignore[arg-type]
            out.append(await store_running(session, user_id, day))  # type: ignore[arg-type]
            continue
        summary = await refresh(session, user_id, day, now=now, settle=settle)  # type: ignore[arg-type]
        out.append(day_out(summary))
    return SyncOut(accepted=len(rows), days=out)


async def records(session: AsyncSession, user_id: uuid.UUID, day: dt.date) -> list[Any]:
    """The day's samples as plain rows (no ORM objects: a day may have a thousand)."""
    return list((await session.execute(select(*RECORDS).where(
        StepRecord.user_id == user_id, StepRecord.day == day))).all())


async def summary_for_update(session: AsyncSession, user_id: uuid.UUID,
                             day: dt.date) -> DaySummary:
    await session.execute(insert(DaySummary).values(user_id=user_id, day=day)
                          .on_conflict_do_nothing(index_elements=["user_id", "day"]))
    found = await session.scalar(select(DaySummary).where(
        DaySummary.user_id == user_id, DaySummary.day == day).with_for_update()
        .execution_options(populate_existing=True))
    assert found is not None
    return found


async def refresh(session: AsyncSession, user_id: uuid.UUID, day: dt.date, *,
                  now: dt.datetime, settle: bool = True, inline: bool = True) -> DaySummary:
    """Merge the day's records into its summary (the caller holds the day's lock); a day
    that is over is settled: validated and credited."""
    found, around = (await facts.day_facts(session, day, [user_id]))[user_id]
    summary = _store(await summary_for_update(session, user_id, day), found)
    if is_over(day, now):  # a running day has no pattern: it is compared once settled
        summary.pattern = found.pattern
        if settle:
            await conversion.settle(session, summary, found, around, inline=inline)
    await session.flush()
    return summary


def _store(summary: DaySummary, found: rules.Facts) -> DaySummary:
    summary.steps, summary.distance_m = found.steps, found.distance_m
    summary.by_source = found.by_source
    summary.utc_offset_minutes = found.min_offset
    summary.early_bird = found.early_steps >= get_settings().activity_early_bird_steps
    return summary


async def store_running(session: AsyncSession, user_id: uuid.UUID, day: dt.date) -> DayOut:
    """Merge a running day into its summary in one statement (the caller holds the day's
    lock): nothing settles it, so its samples never leave PostgreSQL."""
    row = (await session.execute(_STORE, {
        "id": uuid7(), "users": [user_id], "day": day,
        "early_bird": get_settings().activity_early_bird_steps})).one()
    return DayOut(day=row.day, steps=row.steps, verified_steps=row.verified_steps,
                  status=DayStatus(row.status), score=row.score, coins=row.credited,
                  by_source={k: int(v) for k, v in row.by_source.items()})


def day_out(s: DaySummary) -> DayOut:
    return DayOut(day=s.day, steps=s.steps, verified_steps=s.verified_steps,
                  status=DayStatus(s.status), score=s.score, coins=s.credited,
                  by_source={k: int(v) for k, v in s.by_source.items()})


async def days(session: AsyncSession, user_id: uuid.UUID, since: dt.date,
               until: dt.date) -> list[DayOut]:
    if until < since or (until - since).days > 366:
        raise errors.InvalidRange()
    rows = await session.scalars(select(DaySummary).where(
        DaySummary.user_id == user_id, DaySummary.day >= since, DaySummary.day <= until)
        .order_by(DaySummary.day.desc()))
    return [day_out(s) for s in rows]


async def verified_days(session: AsyncSession, *, since: dt.date | None = None,
                        after_user: uuid.UUID | None = None,
                        limit: int = 10_000) -> list[tuple[uuid.UUID, dt.date, int]]:
    """Verified (or partly verified) days with their verified steps, by user then day: page
    with the last user seen as `after_user` (a page ends at a user's last day)."""
    query = select(DaySummary.user_id, DaySummary.day, DaySummary.verified_steps).where(
        DaySummary.verified_steps > 0)
    if since is not None:
        query = query.where(DaySummary.day >= since)
    if after_user is not None:
        query = query.where(DaySummary.user_id > after_user)
    rows = (await session.execute(query.order_by(DaySummary.user_id, DaySummary.day)
                                  .limit(limit))).all()
    return [(r[0], r[1], r[2]) for r in rows]


async def verified_total(session: AsyncSession, user_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.coalesce(func.sum(
        DaySummary.verified_steps), 0)).where(DaySummary.user_id == user_id)) or 0)


# -- partitions: by month of day, ahead and within retention -----------------------------------

_PARTITIONS = text("""
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'step_records'::regclass ORDER BY 1
""")


def _month(at: dt.date) -> dt.date:
    return at.replace(day=1)


def _next(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1)


async def ensure_partitions(session: AsyncSession, *, months_ahead: int = 3,
                            since: dt.date | None = None) -> list[str]:
    """Make the partitions of step_records from the oldest resyncable day's month (or
    `since`'s, if earlier: history loaded in bulk) to `months_ahead` months on; returns the
    names made."""
    now = clock.now()
    oldest = oldest_day(now) if since is None else min(since, oldest_day(now))
    month, last = _month(oldest), _month(now.date())
    for _ in range(months_ahead):
        last = _next(last)
    have = set((await session.scalars(_PARTITIONS)).all())
    made = []
    while month <= last:
        name = f"step_records_p{month:%Y_%m}"
        if name not in have:
            await session.execute(text(
                f"CREATE TABLE IF NOT EXISTS partitions.{name} PARTITION OF step_records"
                f" FOR VALUES FROM ('{month}') TO ('{_next(month)}')"))
            made.append(name)
        month = _next(month)
    return made


async def drop_old_partitions(session: AsyncSession) -> list[str]:
    """Drop the months of step records older than the retention (summaries stay)."""
    keep_from = _month(clock.now().date())
    for _ in range(get_settings().activity_retention_months):
        keep_from = _month(keep_from - dt.timedelta(days=1))
    dropped = []
    for name in (await session.scalars(_PARTITIONS)).all():
        try:
            month = dt.datetime.strptime(name[-7:], "%Y_%m").date()
        except ValueError:
            continue
        if _next(month) <= keep_from:
            await session.execute(text(f"DROP TABLE partitions.{name}"))
            dropped.append(name)
    return dropped
