"""Leaderboard reads at FitKart's scale (issue 13, "Speed (benchmark)"): top-100 and own
rank at 1,000,000 users with 10,000,000 step records, on the PostgreSQL and the Redis
implementations of `engagement.boards.Boards`.

`run(url, ...)` makes a scratch database (gullak_bench_<random>) on the given URL's server,
migrates it, calls `leaderboards` and drops the database at the end, whatever happens.

What is built, timed:
- `records_build_s`: `records_per_user` step records a user (`step_records_built`, 10 each by
  default) in the real `step_records` table (its monthly partitions made first), the days
  they make as verified `daily_step_summary` rows (`verified_days_built`, one per user and
  day, verified steps set) and each user's `engagement_members` row (name, one of five
  cities), in bulk: one `INSERT ... SELECT generate_series` a chunk of users (500,000 records),
  then `VACUUM (ANALYZE)` of the two tables and a CHECKPOINT (`checkpoint`). User ids are
  time-ordered, as the platform's are.
- `rebuild_s`: the boards made from those days by the engagement domain's own rebuild
  (`engagement.service.rebuild`, what `POST /v1/admin/leaderboards/rebuild` runs) into the
  PostgreSQL store, in one unit of work: every weekly, monthly and all-time board of every
  scope (global and city), entries, registry rows and score buckets (`entries_built`). What
  is read is what the rebuild made; the bench fails if the rebuild counts other days than
  were built.
- `vacuum_s`: `VACUUM (ANALYZE)` of the boards' tables (a steady-state table is vacuumed by
  autovacuum; the rank reads are index-only scans, which need the visibility map), then a
  CHECKPOINT.

Scores: a user walks on k days (1 to `records_per_user`, skewed towards few: new users),
every 1st to 3rd day back from the last full week's Sunday, the last of them 0 to 9 days
before it, so that about 70% of the users are on that week's board (`weekly_entries`, the
weekly board read). A user's usual day is log-normal around 6,000 steps, each day 70% to 130%
of it rounded to 10 steps, so that there are many ties (the tie-break on user id is a path of
its own in both stores): on the all-time board a random user shares their score with about
230 others (up to about 600), as many as the earlier board built without records had. Record
i of a user falls on day i mod k: interval samples of one phone whose counts add up to the
day.

The rebuilt boards are then loaded into Redis (`redis_url`, else redis://127.0.0.1:6379)
under a unique key prefix, through a pipeline in chunks of ZADD (`redis_build_s`), and deleted
at the end; without an answering Redis that part is skipped with a note.

Measured, sequentially after a warm-up, through the domain's own `PgBoards` / `RedisBoards`
(the code the API runs; on PostgreSQL each call in its own unit of work, as a request runs
it): `samples` top-100 reads (`Boards.top`) and `samples` own-rank reads with 5 users above
and below (`Boards.around`, which is `rank_of` and the neighbours) for random users of the
all-time global board; on PostgreSQL `rank_of` alone as well. Then the same two reads through
HTTP in-process (httpx.ASGITransport on `gullak.app.create_app`, the PostgreSQL store; names
joined): GET /v1/leaderboards/steps/alltime?limit=100 and
GET /v1/me/leaderboards/steps/alltime?around=5.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from rich.console import Console

from gullak.cli import bench_module
from gullak.db import embedded
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.engagement import service as engagement
from gullak.engagement.boards import (
    Boards,
    PgBoards,
    RedisBoards,
    board_key,
    member,
)
from gullak.engagement.schemas import RebuildOut
from gullak.engagement.scores import today

ALLTIME = board_key("steps", "alltime", None, "global")
# The records end on the last full week's Sunday: that week's board (about 70% of the users) is
# the weekly board read, whatever weekday the bench runs on.
LAST_DAY = today() - dt.timedelta(days=today().weekday() + 1)
WEEK_START = LAST_DAY - dt.timedelta(days=6)
WEEKLY = board_key("steps", "weekly", WEEK_START, "global")
RECORDS_PER_USER = 10
CHUNK_RECORDS = 500_000  # step records a build statement writes: one chunk in memory
SIGNUPS_MS = 2 * 365 * 86_400_000  # the users signed up over two years
STRIDES, OFFSETS = 3, 10  # a user walks every 1st to 3rd day; the last one 0 to 9 days back
TOP = 100
AROUND = 5
WARMUP = 200  # reads of each kind before timing
REDIS_CHUNK = 10_000
DEFAULT_REDIS = "redis://127.0.0.1:6379"
TARGETS = {"pg_top100_p99_ms": ("<=", 5.0), "pg_rank_p99_ms": ("<=", 10.0)}
CITIES = ("pune", "mumbai", "bengaluru", "delhi", "hyderabad")

err = Console(stderr=True)
scratch = bench_module("scratch")

# One chunk of users: each user's days (k of them, skewed to few: new users), their step
# records (`records` a user, record i on day i mod k, interval samples of one phone whose
# counts add up to the day), the days' verified summaries and the member row (name, city)
# the boards show. The user's usual day is log-normal around 6,000 steps (Box-Muller;
# PostgreSQL 15 has no random_normal); each day is 70% to 130% of it, rounded to 10 steps.
_CHUNK = """
WITH g AS (
  SELECT n, replace(gen_random_uuid()::text, '-', '') AS r
  FROM generate_series(%(first)s, %(first)s + %(users)s - 1) AS n
), u AS MATERIALIZED (  -- id: a uuid7 (sign-up time in ms, version, random, variant, random)
  SELECT (lpad(to_hex(%(since_ms)s::bigint + n::bigint * %(spacing_ms)s), 12, '0')
          || '7' || substr(r, 1, 3) || '8' || substr(r, 18, 15))::uuid AS id,
         1 + floor(%(records)s * power(random(), 2))::int AS k,
         1 + floor(%(strides)s * random())::int AS stride,
         floor(%(offsets)s * random())::int AS back,
         exp(ln(6000) + 0.45 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS usual,
         (%(cities)s::text[])[1 + floor(%(ncities)s * random())::int] AS city
  FROM g
), d AS MATERIALIZED (
  SELECT u.id, u.k, j, %(last)s::date - (j * u.stride + u.back) AS day,
         greatest(10, round(u.usual * (0.7 + 0.6 * random()) / 10) * 10)::int AS steps,
         (%(records)s - 1 - j) / u.k + 1 AS r  -- the day's records: j, j + k, j + 2k, ...
  FROM u CROSS JOIN LATERAL generate_series(0, u.k - 1) AS j
), rec AS (
  INSERT INTO step_records (user_id, day, source, kind, start_at, end_at,
                            utc_offset_minutes, count, device_id, distance_m, synced_at)
  SELECT d.id, d.day, 'google_fit', 'interval', x.at,
         x.at + least(interval '50 minutes', interval '16 hours' / d.r), 330, x.n,
         'bench-' || d.id, x.n * 3 / 4, now()
  FROM d CROSS JOIN LATERAL (
    SELECT (d.day + interval '1 hour' + interval '16 hours' * ((i - d.j) / d.k) / d.r)
             AT TIME ZONE 'UTC' AS at,
           d.steps / d.r + CASE WHEN i = d.j THEN d.steps %% d.r ELSE 0 END AS n
    FROM generate_series(d.j, %(records)s - 1, d.k) AS i) x
  ORDER BY d.id, d.day, x.at
), mem AS (
  INSERT INTO engagement_members (user_id, name, city, updated_at)
  SELECT id, 'Walker ' || substr(id::text, 1, 8), city, now() FROM u
)
INSERT INTO daily_step_summary (id, user_id, day, steps, distance_m, by_source,
                                utc_offset_minutes, status, verified_steps)
SELECT gen_random_uuid(), id, day, steps, steps * 3 / 4,
       jsonb_build_object('google_fit', steps), 330, 'verified', steps
FROM d ORDER BY id, day
"""
_PARTITION = """
CREATE TABLE IF NOT EXISTS partitions.step_records_p{month:%Y_%m} PARTITION OF step_records
FOR VALUES FROM ('{month}') TO ('{next}')
"""
_VACUUM = ("VACUUM (ANALYZE) leaderboard_entries, engagement_members, leaderboards,"
           " leaderboard_score_buckets")


def run(url: str, **kw: Any) -> dict[str, Any]:
    """`leaderboards` in a scratch database on `url`'s server, dropped at the end."""
    with scratch.scratch_database(url) as bench_url:
        return bench_module("ledger").run_async(leaderboards(bench_url, **kw))


async def leaderboards(url: str, *, users: int = 1_000_000, samples: int = 2_000,
                       records_per_user: int = RECORDS_PER_USER,
                       redis_url: str | None = None) -> dict[str, Any]:
    if users < 1000 or samples < 1 or records_per_user < 1:
        raise ValueError("users must be at least 1,000, samples and records positive")
    results: dict[str, Any] = {"users": users, "samples": samples}
    notes: list[str] = []
    results.update(await build_pg(url, users, records_per_user))
    picked = await sample_users(url, samples)

    db = Database(url, pool_size=2, max_overflow=0)
    try:
        async def pg(read: Callable[[Boards], Awaitable[Any]]) -> None:
            async with unit_of_work(db) as session:
                await read(PgBoards(session))

        results.update(await measure("pg", pg, picked))
        with err.status("PostgreSQL: rank_of alone"):
            ranks = await timed(lambda u: pg(lambda b: b.rank_of(ALLTIME, u)), picked)
        results.update(pg_rank_of_p50_ms=p50(ranks), pg_rank_of_p99_ms=p99(ranks))
        if os.environ.get("GULLAK_REDIS_URL"):
            notes.append("HTTP skipped: GULLAK_REDIS_URL is set, the API would read Redis")
        else:
            results.update(await measure_http(db, picked))
    finally:
        await db.dispose()

    results.update(await redis_part(url, redis_url or DEFAULT_REDIS, picked, notes))
    for key, (op, limit) in TARGETS.items():
        value = results.get(key)
        results[f"{key}_target"] = f"{op} {limit:g}"
        results[f"{key}_met"] = value is not None and value <= limit
    results["notes"] = notes
    return results


# -- building ---------------------------------------------------------------------------------

async def build_pg(url: str, users: int, records: int) -> dict[str, Any]:
    """The step records and verified days, then the boards rebuilt from them; the figures."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(embedded.libpq_url(url),
                                                     autocommit=True) as conn:
        began = time.perf_counter()
        await make_partitions(conn, records)
        built = await build_records(conn, users, records)
        records_s = time.perf_counter() - began
        report("records_build_s", records_s, "s")
        rebuilt, rebuild_s = await rebuild_boards(url)
        report("rebuild_s", rebuild_s, "s")
        if (rebuilt.users, rebuilt.days) != (users, built["days"]):
            raise RuntimeError(f"the rebuild counted {rebuilt.users:,} users and "
                               f"{rebuilt.days:,} days of {users:,} and {built['days']:,}")
        with err.status("VACUUM (ANALYZE), CHECKPOINT"):
            t0 = time.perf_counter()
            await conn.execute(_VACUUM)
            await checkpoint(conn)
            vacuum_s = time.perf_counter() - t0
        sizes = await board_sizes(conn)
    return {"step_records_built": built["records"], "verified_days_built": built["days"],
            "records_build_s": round(records_s, 1), "rebuild_s": round(rebuild_s, 1),
            "rebuild_boards": rebuilt.boards, "vacuum_s": round(vacuum_s, 1),
            "build_s": round(records_s + rebuild_s + vacuum_s, 1), **sizes}


async def board_sizes(conn: Any) -> dict[str, int]:
    rows = await (await conn.execute(
        "SELECT board, count(*) FROM leaderboard_entries GROUP BY board")).fetchall()
    sizes = {b: int(n) for b, n in rows}
    return {"entries_built": sum(sizes.values()), "alltime_entries": sizes.get(ALLTIME, 0),
            "weekly_entries": sizes.get(WEEKLY, 0)}


async def make_partitions(conn: Any, records: int) -> None:
    """The months of step_records the records fall in (the migration makes them from last
    month on), named as `activity.steps.ensure_partitions` names them."""
    first = LAST_DAY - dt.timedelta(days=(records - 1) * STRIDES + OFFSETS - 1)
    month = first.replace(day=1)
    while month <= LAST_DAY:
        after = (month + dt.timedelta(days=32)).replace(day=1)
        await conn.execute(_PARTITION.format(month=month, next=after))
        month = after


async def build_records(conn: Any, users: int, records: int) -> dict[str, int]:
    """The users' records, days and members, a chunk of users a statement. User ids are
    time-ordered (uuid7, as the platform makes them: sign-ups over two years), so each chunk
    appends to the tables' user-keyed indexes."""
    per_chunk = max(1, CHUNK_RECORDS // records)
    spacing = max(1, SIGNUPS_MS // users)
    days = 0
    params = {"records": records, "strides": STRIDES, "offsets": OFFSETS, "last": LAST_DAY,
              "cities": list(CITIES), "ncities": len(CITIES), "spacing_ms": spacing,
              "since_ms": int(time.time() * 1000) - spacing * users}
    with err.status(f"PostgreSQL: {users * records:,} step records of {users:,} users") as s:
        for done in range(0, users, per_chunk):
            cur = await conn.execute(_CHUNK, {**params, "first": done,
                                              "users": min(per_chunk, users - done)})
            days += cur.rowcount
            s.update(f"PostgreSQL: step records of {done + per_chunk:,} / {users:,} users")
        await conn.execute("VACUUM (ANALYZE) step_records, daily_step_summary")
        await checkpoint(conn)
    return {"records": users * records, "days": days}


async def checkpoint(conn: Any) -> None:
    """What was just written, flushed, as a table written long before would be: neither the
    rebuild nor the reads measured next pay for the server's writing it out in the background
    (a checkpoint spreads over minutes). Needs superuser or pg_checkpoint; without, skipped."""
    import psycopg

    try:
        await conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        err.print("[yellow]CHECKPOINT not allowed: the figures include background writes[/]")


async def rebuild_boards(url: str) -> tuple[RebuildOut, float]:
    """The steps boards made from the verified days by the engagement domain's own rebuild
    (what `POST /v1/admin/leaderboards/rebuild` runs), into the PostgreSQL store."""
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        with err.status("PostgreSQL: the boards rebuilt from the verified days"):
            began = time.perf_counter()
            async with unit_of_work(db) as session:
                found = await engagement.rebuild(session, boards=PgBoards(session))
            return found, time.perf_counter() - began
    finally:
        await db.dispose()


async def sample_users(url: str, samples: int) -> list[uuid.UUID]:
    """`samples` random users of the all-time board (with repeats when it is smaller)."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(embedded.libpq_url(url)) as conn:
        rows = await (await conn.execute(
            "SELECT user_id FROM leaderboard_entries TABLESAMPLE SYSTEM (2)"
            " WHERE board = %s ORDER BY random() LIMIT %s", (ALLTIME, samples))).fetchall()
        if not rows:  # a small board: 2% of its few pages may be none of them
            rows = await (await conn.execute(
                "SELECT user_id FROM leaderboard_entries WHERE board = %s"
                " ORDER BY random() LIMIT %s", (ALLTIME, samples))).fetchall()
    found = [r[0] for r in rows]
    return [found[i % len(found)] for i in range(samples)]


async def build_redis(url: str, boards: RedisBoards) -> float:
    import psycopg

    client = boards.client
    began = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(embedded.libpq_url(url)) as conn:
        for board in (ALLTIME, WEEKLY):
            key = boards.key(board)
            cursor = conn.cursor(name=f"load_{secrets.token_hex(4)}")
            await cursor.execute("SELECT user_id, score FROM leaderboard_entries"
                                 " WHERE board = %s", (board,))
            while rows := await cursor.fetchmany(REDIS_CHUNK):
                async with client.pipeline(transaction=False) as pipe:
                    pipe.zadd(key, {member(u): s for u, s in rows})
                    await pipe.execute()
            await cursor.close()
    return time.perf_counter() - began


async def redis_part(url: str, redis_url: str, picked: list[uuid.UUID],
                     notes: list[str]) -> dict[str, Any]:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        await asyncio.wait_for(client.ping(), 2)
    except Exception as exc:  # noqa: BLE001 - any failure to answer means no Redis part
        notes.append(f"Redis skipped: {redis_url} did not answer ({type(exc).__name__})")
        await client.aclose()
        return {}
    prefix = f"gullak_bench_{secrets.token_hex(4)}:"
    boards = RedisBoards(client, prefix)
    try:
        with err.status(f"Redis: loading the boards under {prefix}"):
            redis_build_s = await build_redis(url, boards)
        report("redis_build_s", redis_build_s, "s")
        sizes = {b: await boards.size(b) for b in (ALLTIME, WEEKLY)}

        async def on_redis(read: Callable[[Boards], Awaitable[Any]]) -> None:
            await read(boards)

        found = await measure("redis", on_redis, picked)
        return {"redis_build_s": round(redis_build_s, 1),
                "redis_alltime_entries": sizes[ALLTIME], **found}
    finally:
        await boards.clear([ALLTIME, WEEKLY])
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)
        await client.aclose()


# -- measuring --------------------------------------------------------------------------------

async def timed(call: Callable[[uuid.UUID], Awaitable[Any]],
                picked: list[uuid.UUID]) -> list[float]:
    for u in picked[:min(WARMUP, max(1, len(picked) // 5))]:
        await call(u)
    spent = []
    for u in picked:
        began = time.perf_counter()
        await call(u)
        spent.append((time.perf_counter() - began) * 1000)
    return spent


async def measure(name: str, on: Callable[[Callable[[Boards], Awaitable[Any]]], Awaitable[None]],
                  picked: list[uuid.UUID]) -> dict[str, float]:
    found: dict[str, float] = {}
    title = {"pg": "PostgreSQL", "redis": "Redis"}[name]

    async def check_around(b: Boards, u: uuid.UUID) -> None:
        near = await b.around(ALLTIME, u, AROUND)
        assert any(e.user_id == u for e in near), "a sampled user is not on the board"

    with err.status(f"{title}: top-{TOP}, {len(picked):,} reads"):
        top = await timed(lambda _: on(lambda b: b.top(ALLTIME, TOP)), picked)
    with err.status(f"{title}: own rank with {AROUND} around, {len(picked):,} reads"):
        rank = await timed(lambda u: on(lambda b: check_around(b, u)), picked)
    with err.status(f"{title}: this week's board"):
        week_top = await timed(lambda _: on(lambda b: b.top(WEEKLY, TOP)), picked[:500])
    found.update({f"{name}_top100_p50_ms": p50(top), f"{name}_top100_p99_ms": p99(top),
                  f"{name}_rank_p50_ms": p50(rank), f"{name}_rank_p99_ms": p99(rank),
                  f"{name}_weekly_top100_p99_ms": p99(week_top)})
    report(f"{name}_top100_p99_ms", found[f"{name}_top100_p99_ms"], "ms")
    report(f"{name}_rank_p99_ms", found[f"{name}_rank_p99_ms"], "ms")
    return found


async def measure_http(db: Database, picked: list[uuid.UUID]) -> dict[str, float]:
    import httpx

    from gullak.app import create_app
    from gullak.kit import logging as gullak_logging
    from gullak.kit.security import Subject, current_subject
    from gullak.settings import Settings

    # No request log lines: thousands of them on the terminal would be the bench's output.
    gullak_logging.configure("warning")
    app = create_app(Settings(env="test", redis_url=None), db)
    app.state.replica = None

    async def bench_user(request: Request) -> Subject:
        return Subject("user", uuid.UUID(request.headers["x-bench-user"]))

    app.dependency_overrides[current_subject] = bench_user
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        async def get(path: str, u: uuid.UUID) -> None:
            response = await client.get(path, headers={"x-bench-user": str(u)})
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")

        with err.status(f"HTTP: top-{TOP}"):
            top = await timed(lambda u: get(f"/v1/leaderboards/steps/alltime?limit={TOP}", u),
                              picked)
        with err.status(f"HTTP: own rank with {AROUND} around"):
            rank = await timed(lambda u: get(
                f"/v1/me/leaderboards/steps/alltime?around={AROUND}", u), picked)
    return {"http_pg_top100_p50_ms": p50(top), "http_pg_top100_p99_ms": p99(top),
            "http_pg_rank_p50_ms": p50(rank), "http_pg_rank_p99_ms": p99(rank)}


def p50(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else 0.0


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2) if ordered else 0.0


def report(name: str, value: float, unit: str) -> None:
    err.print(f"  {name}: {value:,.2f} {unit}")
