"""Leaderboard reads at FitKart's scale (issue 13, "Speed (benchmark)"): top-100 and own
rank, on the PostgreSQL and the Redis implementations of `engagement.boards.Boards`.

`run(url, ...)` makes a scratch database (gullak_bench_<random>) on the given URL's server,
migrates it, calls `leaderboards` and drops the database at the end, whatever happens.

What is built (timed, `build_s`): the all-time global steps board (`steps:alltime:all:global`)
with `users` entries and this week's global steps board with about 70% of them, written
straight into the PostgreSQL store's tables in one `INSERT ... SELECT generate_series` each,
with the `engagement_members` row (display name) the API's reads join, the boards'
registry rows and the score buckets own rank reads (one `INSERT ... SELECT ... GROUP BY` after
the entries), then `VACUUM (ANALYZE)` (a steady-state table is vacuumed by autovacuum; the
rank reads are index-only scans, which need the visibility map). The 10,000,000 step records
of the issue are NOT built: the reads only see the board entries, and building them through
the activity domain's records and `engagement.periods.rebuild` would measure that rebuild,
not the reads. Step ingestion and the rebuild are measured elsewhere (bench/activity.py).

Scores: a user's all-time score is days active × a daily total, the days skewed towards new
users (1 to 365), the daily total log-normal around 6,000 steps and rounded to 100 steps so
that there are many ties (the tie-break on user id is a path of its own in both stores); this
week's score is 1 to 7 days × a daily total, so ties are the rule there.

The same boards are then loaded into Redis (`redis_url`, else redis://127.0.0.1:6379) under
a unique key prefix, through a pipeline in chunks of ZADD (`redis_build_s`), and deleted at
the end; without an answering Redis that part is skipped with a note.

Measured, sequentially after a warm-up, through the domain's own `PgBoards` / `RedisBoards`
(the code the API runs; on PostgreSQL each call in its own unit of work, as a request runs
it): `samples` top-100 reads (`Boards.top`) and `samples` own-rank reads with 5 users above
and below (`Boards.around`, which is `rank_of` and the neighbours) for random users; on
PostgreSQL `rank_of` alone as well. Then the same two reads through HTTP in-process
(httpx.ASGITransport on `gullak.app.create_app`, the PostgreSQL store; names joined):
GET /v1/leaderboards/steps/alltime?limit=100 and GET /v1/me/leaderboards/steps/alltime?around=5.
"""

from __future__ import annotations

import asyncio
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
from gullak.engagement.boards import (
    Boards,
    PgBoards,
    RedisBoards,
    board_key,
    member,
    period_start,
)
from gullak.engagement.scores import today

ALLTIME = board_key("steps", "alltime", None, "global")
WEEK_START = period_start("weekly", today())
WEEKLY = board_key("steps", "weekly", WEEK_START, "global")
TOP = 100
AROUND = 5
WARMUP = 200  # reads of each kind before timing
REDIS_CHUNK = 10_000
DEFAULT_REDIS = "redis://127.0.0.1:6379"
TARGETS = {"pg_top100_p99_ms": ("<=", 5.0), "pg_rank_p99_ms": ("<=", 10.0)}

err = Console(stderr=True)

# One statement per board. random() per row: days skewed to new users, the daily total
# log-normal (Box-Muller; PostgreSQL 15 has no random_normal) rounded to 100 steps.
_ALLTIME = """
INSERT INTO leaderboard_entries (board, user_id, score, updated_at)
SELECT %(board)s, gen_random_uuid(),
       (1 + floor(365 * power(random(), 2)))::bigint
       * greatest(100, round(exp(ln(6000) + 0.45 * sqrt(-2 * ln(1 - random()))
                                 * cos(2 * pi() * random())) / 100) * 100)::bigint,
       now()
FROM generate_series(1, %(users)s)
"""
_WEEKLY = """
INSERT INTO leaderboard_entries (board, user_id, score, updated_at)
SELECT %(board)s, user_id,
       (1 + floor(7 * random()))::bigint
       * greatest(100, round(exp(ln(6000) + 0.45 * sqrt(-2 * ln(1 - random()))
                                 * cos(2 * pi() * random())) / 100) * 100)::bigint,
       now()
FROM leaderboard_entries WHERE board = %(alltime)s AND random() < 0.7
"""
_MEMBERS = """
INSERT INTO engagement_members (user_id, name, city, updated_at)
SELECT user_id, 'Walker ' || substr(user_id::text, 1, 8),
       (ARRAY['pune', 'mumbai', 'bengaluru', 'delhi', 'hyderabad'])[1 + floor(5 * random())::int],
       now()
FROM leaderboard_entries WHERE board = %(alltime)s
"""
# The score buckets own rank reads, counted from the entries as `PgBoards.recount` does.
_BUCKETS = """
INSERT INTO leaderboard_score_buckets (board, bucket, n)
SELECT board, gullak_board_bucket(score), count(*) FROM leaderboard_entries WHERE score > 0
GROUP BY 1, 2
"""
scratch = bench_module("scratch")
_REGISTER = """
INSERT INTO leaderboards (board, metric, period, starts, scope)
VALUES (%(alltime)s, 'steps', 'alltime', NULL, 'global'),
       (%(weekly)s, 'steps', 'weekly', %(week)s, 'global')
"""


def run(url: str, **kw: Any) -> dict[str, Any]:
    """`leaderboards` in a scratch database on `url`'s server, dropped at the end."""
    with scratch.scratch_database(url) as bench_url:
        return bench_module("ledger").run_async(leaderboards(bench_url, **kw))


async def leaderboards(url: str, *, users: int = 1_000_000, samples: int = 2_000,
                       redis_url: str | None = None) -> dict[str, Any]:
    if users < 1000 or samples < 1:
        raise ValueError("users must be at least 1,000 and samples positive")
    results: dict[str, Any] = {"users": users, "samples": samples, "step_records_built": 0}
    notes: list[str] = ["board entries built directly; the 10M step records and the rebuild"
                        " path are not built (measured by bench/activity.py)"]
    build_s, sizes = await build_pg(url, users)
    results.update(build_s=round(build_s, 1), alltime_entries=sizes[ALLTIME],
                   weekly_entries=sizes[WEEKLY])
    report("build_s", build_s, "s")
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

async def build_pg(url: str, users: int) -> tuple[float, dict[str, int]]:
    import psycopg

    params = {"board": ALLTIME, "alltime": ALLTIME, "weekly": WEEKLY, "week": WEEK_START,
              "users": users}
    async with await psycopg.AsyncConnection.connect(embedded.libpq_url(url),
                                                     autocommit=True) as conn:
        began = time.perf_counter()
        with err.status(f"PostgreSQL: the all-time board, {users:,} users"):
            await conn.execute(_REGISTER, params)
            await conn.execute(_ALLTIME, params)
        with err.status("PostgreSQL: this week's board and the members"):
            await conn.execute(_WEEKLY, {**params, "board": WEEKLY})
            await conn.execute(_MEMBERS, params)
        with err.status("PostgreSQL: the score buckets"):
            await conn.execute(_BUCKETS)
        with err.status("VACUUM (ANALYZE)"):
            await conn.execute("VACUUM (ANALYZE) leaderboard_entries, engagement_members,"
                               " leaderboards, leaderboard_score_buckets")
        elapsed = time.perf_counter() - began
        rows = await (await conn.execute(
            "SELECT board, count(*) FROM leaderboard_entries GROUP BY board")).fetchall()
    return elapsed, {b: int(n) for b, n in rows}


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
