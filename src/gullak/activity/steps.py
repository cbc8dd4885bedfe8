"""Syncing steps: a batch of samples stored (a resync replaces), each touched day's summary
merged again, and a day already over settled at once (validated, credited); reads of days.

A day is over for every time zone at 12:00 UTC the day after (UTC-12 ends it then); days
still running are settled by the conversion job once over.

A running day's summary is merged and stored in PostgreSQL (`_STORE`: one row back, not the day's
1,440 samples), by the rule of `rules.merge`; a day that is over is merged in Python from its
samples, since the anti-cheat needs them, and only then gets its `pattern` (a running day
has none: the pattern check runs, and compares, when days are settled).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import conversion, errors, rules
from gullak.activity.models import DaySummary, Device, StepRecord
from gullak.activity.schemas import DayOut, DayStatus, SampleIn, SyncOut
from gullak.kit import clock
from gullak.kit.ids import uuid7
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
    return {"user_id": user_id, "synced_at": now, **{c: [r[c] for r in rows] for c in _COLUMNS}}


_TRUST = " ".join(f"WHEN '{s}' THEN {t}" for s, t in rules.TRUST.items())
# rules.merge as CTEs ending in `m` (one row): per UTC hour the most trusted source (then the
# larger count, then the larger name, as `rules._best`), the hours summed; the best day total
# if larger; per source the larger of its day total and its intervals' sum; the smallest
# offset of the intervals; the counted steps starting before 07:00 local.
_MERGE = f"""
WITH r AS (
  SELECT source, kind, start_at, count, coalesce(distance_m, 0) AS dist,
         utc_offset_minutes AS off, CASE source {_TRUST} ELSE 0 END AS trust
  FROM step_records WHERE user_id = :user_id AND day = :day),
per_hour AS (
  SELECT date_trunc('hour', start_at AT TIME ZONE 'UTC') AS h, source, max(trust) AS trust,
         sum(count) AS n, sum(dist) AS dist,
         coalesce(sum(count) FILTER (WHERE extract(hour FROM start_at AT TIME ZONE 'UTC'
           + make_interval(mins => coalesce(off, 0))) < 7), 0) AS early
  FROM r WHERE kind = 'interval' GROUP BY 1, 2),
hours AS (
  SELECT DISTINCT ON (h) n, dist, early FROM per_hour
  ORDER BY h, trust DESC, n DESC, source COLLATE "C" DESC),
best_day AS (
  SELECT count, dist FROM r WHERE kind = 'day'
  ORDER BY trust DESC, count DESC, source COLLATE "C" DESC LIMIT 1),
per_source AS (
  SELECT source, greatest(max(count) FILTER (WHERE kind = 'day'),
                          sum(count) FILTER (WHERE kind = 'interval')) AS n
  FROM r GROUP BY source),
totals AS (
  SELECT (SELECT coalesce(sum(n), 0) FROM hours)::integer AS hourly,
         (SELECT coalesce(sum(dist), 0) FROM hours)::integer AS hourly_dist,
         (SELECT count FROM best_day) AS day_count, (SELECT dist FROM best_day) AS day_dist),
m AS (
  SELECT CASE WHEN day_count > hourly THEN day_count ELSE hourly END AS steps,
         CASE WHEN day_count > hourly THEN day_dist ELSE hourly_dist END AS distance_m,
         (SELECT coalesce(jsonb_object_agg(source, n), '{{}}'::jsonb) FROM per_source)
           AS by_source,
         (SELECT min(off) FROM r WHERE kind = 'interval') AS min_offset,
         (SELECT coalesce(sum(early), 0) FROM hours)::integer AS early
  FROM totals)
"""
_MERGED = text(_MERGE + "SELECT * FROM m")
# A running day's summary merged and stored in one statement; what a sync answers back.
_STORE = text(_MERGE + """
INSERT INTO daily_step_summary AS s (id, user_id, day, steps, distance_m, by_source,
                                     utc_offset_minutes, early_bird)
SELECT :id, :user_id, :day, steps, distance_m, by_source, min_offset, early >= :early_bird
FROM m
ON CONFLICT (user_id, day) DO UPDATE SET steps = excluded.steps,
  distance_m = excluded.distance_m, by_source = excluded.by_source,
  utc_offset_minutes = excluded.utc_offset_minutes, early_bird = excluded.early_bird,
  updated_at = now()
RETURNING s.day, s.steps, s.verified_steps, s.status, s.score, s.credited, s.by_source
""")
_RECORDS = select(StepRecord.source, StepRecord.kind, StepRecord.start_at, StepRecord.end_at,
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
    return list((await session.execute(_RECORDS.where(
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
    if not is_over(day, now):  # nothing settles it: the day's samples stay in PostgreSQL
        summary = _store(await summary_for_update(session, user_id, day),
                         await merged_in_sql(session, user_id, day))
        await session.flush()
        return summary
    merged = rules.merge(await records(session, user_id, day))
    summary = _store(await summary_for_update(session, user_id, day), merged)
    summary.pattern = merged.pattern
    if settle:
        await conversion.settle(session, summary, merged, inline=inline)
    await session.flush()
    return summary


def _store(summary: DaySummary, merged: rules.Merged) -> DaySummary:
    summary.steps, summary.distance_m = merged.steps, merged.distance_m
    summary.by_source = merged.by_source
    summary.utc_offset_minutes = min(merged.offsets) if merged.offsets else None
    summary.early_bird = merged.early_steps >= get_settings().activity_early_bird_steps
    return summary


async def merged_in_sql(session: AsyncSession, user_id: uuid.UUID,
                        day: dt.date) -> rules.Merged:
    """The day's merge as `rules.merge` makes it, less what only settling needs (intervals,
    devices, manual steps, pattern; `offsets` holds the smallest only)."""
    row = (await session.execute(_MERGED, {"user_id": user_id, "day": day})).one()
    return rules.Merged(steps=row.steps, distance_m=row.distance_m or 0,
                        by_source={k: int(v) for k, v in row.by_source.items()},
                        offsets=set() if row.min_offset is None else {row.min_offset},
                        early_steps=row.early)


async def store_running(session: AsyncSession, user_id: uuid.UUID, day: dt.date) -> DayOut:
    """Merge a running day into its summary in one statement (the caller holds the day's
    lock): nothing settles it, so its samples never leave PostgreSQL."""
    row = (await session.execute(_STORE, {
        "id": uuid7(), "user_id": user_id, "day": day,
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


async def ensure_partitions(session: AsyncSession, *, months_ahead: int = 3) -> list[str]:
    """Make the partitions of step_records from the oldest resyncable day's month to
    `months_ahead` months on; returns the names made."""
    now = clock.now()
    month, last = _month(oldest_day(now)), _month(now.date())
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
