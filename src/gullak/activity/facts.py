"""A day's merge and what the anti-cheat looks at, computed in PostgreSQL for many users at once.

`MERGE` is `rules.merge` in SQL (checked against it by tests/activity/test_merge_sql.py), as
CTEs over the step records of `:day` for the users in `:users`, ending in `m` (one row per
user with records): per UTC hour the most trusted source (then the larger count, then the
larger name, as `rules._best`), the hours summed; the best day total if larger; per source the
larger of its day total and its intervals' sum; the offsets of the intervals; the counted steps
starting before 07:00 local. Windows, not joins, pick each hour's source: no plan can turn them
into a nested loop over a chunk's thousands of intervals. A statement that reads only `m` leaves the rest uncomputed
(PostgreSQL skips CTEs nobody reads), so a sync's store of a running day pays for the merge
alone.

`FACTS` adds, per user, the shape of the counted intervals (`rules.Merged.pattern`), their
fastest cadence and top speed, and what the checks look around for (`rules.Around`): the
accounts on the day's devices, the offset of the day before, another day of the same shape.
One statement for a whole chunk of the daily conversion, instead of the records of every
user brought into Python.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import rules
from gullak.kit import clock
from gullak.kit.sql import Array

PATTERN_DAYS = 30  # identical days looked for this far back
DEVICE_DAYS = 30  # accounts on a device counted over this long

_TRUST = " ".join(f"WHEN '{s}' THEN {t}" for s, t in rules.TRUST.items())
MERGE = f"""
WITH r AS (
  SELECT user_id, source, kind, start_at, end_at, count, coalesce(distance_m, 0) AS dist,
         utc_offset_minutes AS off, device_id, CASE source {_TRUST} ELSE 0 END AS trust
  FROM step_records WHERE user_id = ANY(CAST(:users AS uuid[])) AND day = :day),
iv AS (
  SELECT *, sum(count) OVER (PARTITION BY user_id, h, source) AS n FROM (
    SELECT *, date_trunc('hour', start_at AT TIME ZONE 'UTC') AS h,
           start_at AT TIME ZONE 'UTC' + make_interval(mins => coalesce(off, 0)) AS local
    FROM r WHERE kind = 'interval') x),
chosen AS (
  SELECT * FROM (
    SELECT *, first_value(source) OVER (PARTITION BY user_id, h
      ORDER BY trust DESC, n DESC, source COLLATE "C" DESC) AS best
    FROM iv) y
  WHERE source = best),
hours AS (
  SELECT user_id, sum(count)::integer AS hourly, sum(dist)::integer AS hourly_dist,
         coalesce(sum(count) FILTER (WHERE source = 'manual'), 0)::integer AS hourly_manual,
         coalesce(sum(count) FILTER (WHERE extract(hour FROM local) < 7), 0)::integer AS early
  FROM chosen GROUP BY user_id),
best_day AS (
  SELECT DISTINCT ON (user_id) user_id, count, dist, source FROM r WHERE kind = 'day'
  ORDER BY user_id, trust DESC, count DESC, source COLLATE "C" DESC),
per_source AS (
  SELECT user_id, jsonb_object_agg(source, n) AS by_source FROM (
    SELECT user_id, source, greatest(max(count) FILTER (WHERE kind = 'day'),
                                     sum(count) FILTER (WHERE kind = 'interval')) AS n
    FROM r GROUP BY user_id, source) s
  GROUP BY user_id),
offsets AS (
  SELECT user_id, min(off) AS min_offset, max(off) AS max_offset FROM iv GROUP BY user_id),
m AS (
  SELECT p.user_id, d.count > coalesce(h.hourly, 0) AS day_wins,
         CASE WHEN d.count > coalesce(h.hourly, 0) THEN d.count
              ELSE coalesce(h.hourly, 0) END AS steps,
         CASE WHEN d.count > coalesce(h.hourly, 0) THEN d.dist
              ELSE coalesce(h.hourly_dist, 0) END AS distance_m,
         CASE WHEN d.count > coalesce(h.hourly, 0)
              THEN CASE WHEN d.source = 'manual' THEN d.count ELSE 0 END
              ELSE coalesce(h.hourly_manual, 0) END AS manual_steps,
         p.by_source, o.min_offset, o.max_offset, coalesce(h.early, 0) AS early
  FROM per_source p LEFT JOIN hours h USING (user_id) LEFT JOIN best_day d USING (user_id)
  LEFT JOIN offsets o USING (user_id))
"""

# The shape of the counted intervals (local start, whole seconds, count, in order; 4 or more,
# as rules.PATTERN_MIN_INTERVALS) hashed as `rules.pattern_of` does, the fastest cadence and
# top speed (minutes at least 1, as `rules._minutes`), the devices of all the day's records.
FACTS = text(MERGE + f""",
shape AS (
  SELECT user_id,
         CASE WHEN count(*) >= {rules.PATTERN_MIN_INTERVALS} THEN left(encode(sha256(convert_to(
           string_agg(to_char(local, 'HH24:MI') || '/'
                      || floor(extract(epoch FROM end_at - start_at))::bigint || '/' || count,
                      ',' ORDER BY start_at), 'UTF8')), 'hex'), 32) END AS pattern,
         max(count / greatest(extract(epoch FROM end_at - start_at)::float8 / 60, 1.0))
           AS fastest,
         max(dist / (greatest(extract(epoch FROM end_at - start_at)::float8 / 60, 1.0) * 60))
           AS top_speed
  FROM chosen GROUP BY user_id),
devices AS (SELECT user_id, array_agg(DISTINCT device_id) AS ids FROM r GROUP BY user_id)
SELECT m.*, s.pattern, coalesce(s.fastest, 0) AS fastest,
       coalesce(s.top_speed, 0) AS top_speed,
       (SELECT max(n) FROM (SELECT count(*) AS n FROM step_devices sd
                            WHERE sd.device_id = ANY(v.ids) AND sd.last_seen_at >= :since
                            GROUP BY sd.device_id) c) AS device_users,
       (SELECT utc_offset_minutes FROM daily_step_summary
        WHERE user_id = m.user_id AND day = CAST(:day AS date) - 1) AS previous_offset,
       (SELECT day FROM daily_step_summary
        WHERE user_id = m.user_id AND pattern = s.pattern AND day <> :day
          AND day >= CAST(:day AS date) - {PATTERN_DAYS} ORDER BY day LIMIT 1) AS same_day
FROM m LEFT JOIN shape s USING (user_id) LEFT JOIN devices v USING (user_id)
""")


async def day_facts(session: AsyncSession, day: dt.date, users: Sequence[uuid.UUID]
                    ) -> dict[uuid.UUID, tuple[rules.Facts, rules.Around]]:
    """Each user's merged day and what its checks need; a user without records gets an
    empty day."""
    since = clock.now() - dt.timedelta(days=DEVICE_DAYS)
    rows = await session.execute(FACTS, {"users": Array(users), "day": day, "since": since})
    found = {r.user_id: (rules.Facts(
        steps=r.steps, distance_m=r.distance_m or 0, manual_steps=r.manual_steps,
        by_source={k: int(v) for k, v in r.by_source.items()}, min_offset=r.min_offset,
        max_offset=r.max_offset, early_steps=r.early, pattern=r.pattern,
        fastest=float(r.fastest), top_speed=float(r.top_speed)), rules.Around(
        same_pattern_day=r.same_day, device_users=int(r.device_users or 0),
        previous_offset=r.previous_offset)) for r in rows}
    for user_id in users:
        found.setdefault(user_id, (rules.Facts(), rules.Around()))
    return found
