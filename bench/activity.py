"""`gullak bench activity`: step ingestion, the daily conversion and leaderboard reads.

Ingestion and conversion run in a scratch database (gullak_bench_<random>) on the given URL's
server, migrated and dropped at the end; the leaderboards in one of their own
(bench/leaderboards.py, which builds a board of `board_users` users).

- `ingestion(url, seconds, clients)`: `clients` concurrent clients over PROCESSES forked
  processes, each client with users of its own, sync batches of 100 one-minute interval samples through the service
  (`activity.service.ingest`, one unit of work per batch, as `POST /v1/me/steps` runs it) for
  a day still running, so nothing is settled: samples ingested per second and the p99 of a
  batch. A user's batches walk through the day's minutes, then start over (resyncs).
- `conversion(url, users)`: `users` users (an account with a name and a city, a phone of
  their own) with a day that is over and not yet settled (records, devices and summaries
  loaded in bulk, not timed), then `activity.service.convert_day` as the `activity.convert`
  job runs it: users converted per second, and the client's CPU per user. Twice: with the
  leaderboards in PostgreSQL, then in Redis (a prefix of its own, deleted after; skipped
  with a note when Redis does not answer).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from gullak import domains
from gullak.activity import daily, service
from gullak.activity.schemas import SampleIn, Source
from gullak.cli import bench_module
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.engagement import scores
from gullak.kit import clock
from gullak.kit.errors import NotFound
from gullak.kit.ids import uuid7
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetIn, AssetKind
from gullak.loyalty import seed as loyalty_seed
from gullak.loyalty import service as loyalty
from gullak.settings import get_settings

BATCH = 100
USERS_PER_CLIENT = 32
PROCESSES = 2  # forked, as the other benchmarks split their clients
CONNECTIONS = 4  # the poster's, as the activity.convert job opens it
LOAD_CHUNK = 5_000


def _days() -> tuple[dt.date, dt.datetime, dt.datetime]:
    """(the day measured, a time it is still running, a time it is over)."""
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    return (day, dt.datetime.combine(day, dt.time(23, 30), dt.UTC),
            dt.datetime.combine(day + dt.timedelta(days=1), dt.time(13), dt.UTC))


async def _asset(db: Database) -> None:
    """The step coin; for the conversion also what FitKart's demo data has: the tiers and the
    seven achievements (paying REZ coins) that steps and goals report into."""
    async with unit_of_work(db) as session:
        for code, name in ((get_settings().activity_asset, "FitKart coins"),
                           ("REZ", "ReZ coins")):
            try:
                await ledger.get_asset(session, code)
            except NotFound:
                await ledger.create_asset(session, AssetIn(code=code, name=name,
                                                           kind=AssetKind.coin, scale=0))
        if not await loyalty.list_achievements(session):
            for tier in loyalty_seed.TIERS:
                await loyalty.create_tier(session, tier, None)
            for achievement in loyalty_seed.ACHIEVEMENTS:
                await loyalty.create_achievement(session, achievement, None)


def _batch(day: dt.date, first_minute: int, device: str) -> list[SampleIn]:
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    return [SampleIn(start=start + dt.timedelta(minutes=m),
                     end=start + dt.timedelta(minutes=m + 1), count=80 + m % 7,
                     source=Source.google_fit, device_id=device, distance_m=60)
            for m in range(first_minute, first_minute + BATCH)]


async def _prepare(url: str) -> None:
    domains.install()
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        await _asset(db)
    finally:
        await db.dispose()


async def _drive(url: str, group: list[int], seconds: float,
                 ready: Callable[[], object]) -> tuple[int, list[float], float]:
    """One process's clients: a warm-up batch each (not timed), then batches for `seconds`.
    Returns (samples, batch latencies in ms, the span in seconds)."""
    domains.install()
    db = Database(url, pool_size=len(group), max_overflow=4)
    day, running, _ = _days()
    clock.freeze(running)  # every task made below sees the day still running
    latencies: list[float] = []
    done = 0

    async def batch(user: uuid.UUID, i: int, timed: bool) -> None:
        nonlocal done
        first = (i // USERS_PER_CLIENT) * BATCH % (1440 - BATCH)
        samples = _batch(day, first, f"bench-{user}")
        t0 = time.perf_counter()
        async with unit_of_work(db) as session:
            await service.ingest(session, user, samples)
        if timed:
            latencies.append((time.perf_counter() - t0) * 1000)
            done += len(samples)

    async def client(users: list[uuid.UUID], stop: float) -> None:
        i = USERS_PER_CLIENT  # the warm-up did the first round's first batch
        while time.perf_counter() < stop:
            await batch(users[i % len(users)], i, True)
            i += 1

    try:
        users = {k: [uuid7() for _ in range(USERS_PER_CLIENT)] for k in group}
        await asyncio.gather(*(batch(users[k][0], 0, False) for k in group))
        await asyncio.to_thread(ready)
        t0 = time.perf_counter()
        await asyncio.gather(*(client(users[k], t0 + seconds) for k in group))
        return done, latencies, time.perf_counter() - t0
    finally:
        clock.reset()
        await db.dispose()


def ingestion(url: str, seconds: float = 20.0, clients: int = 16) -> dict[str, Any]:
    """The clients split over PROCESSES forked processes (one Python process is one core's
    worth of CPU), as `gullak serve --workers 2` would serve them."""
    asyncio.run(_prepare(url))
    shares = bench_module("scratch").forked(
        lambda group, ready: asyncio.run(_drive(url, group, seconds, ready)),
        clients, max(1, min(PROCESSES, clients)), f"ingestion for {seconds:g} s")
    done = sum(s[0] for s in shares)
    span = max(s[2] for s in shares)
    latencies = sorted(v for s in shares for v in s[1])
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {"samples_s": round(done / span, 1), "batch_p99_ms": round(p99, 2),
            "batch_p50_ms": round(latencies[len(latencies) // 2], 2), "samples": done,
            "batches": len(latencies), "clients": clients, "seconds": round(span, 1)}


CITIES = ("pune", "mumbai", "delhi", "bengaluru", "chennai", "kolkata", "jaipur", "indore")


async def _users(db: Database, users: int, first: int) -> None:
    """Accounts with a name and a default address in one of eight cities, as the leaderboards
    show them; their phones numbered from `first`."""
    for start in range(0, users, LOAD_CHUNK):
        async with unit_of_work(db) as session:
            await session.execute(text("""
                WITH u AS (
                  INSERT INTO users (id, phone, name, referral_code)
                  SELECT gen_random_uuid(), '+9197' || lpad((:first + g)::text, 8, '0'),
                         'Walker ' || (:first + g), upper(substr(md5(random()::text), 1, 12))
                  FROM generate_series(1, :n) g RETURNING id, phone)
                INSERT INTO addresses (id, user_id, line1, city, is_default)
                SELECT gen_random_uuid(), id, '1 Bench Road',
                       (CAST(:cities AS text[]))[1 + right(phone, 3)::int % :ncities], true
                FROM u
            """), {"n": min(LOAD_CHUNK, users - start), "first": first + start,
                   "cities": list(CITIES), "ncities": len(CITIES)})


async def _day(db: Database, users: int, first: int, day: dt.date) -> None:
    """Each of the users numbered from `first`: five hourly walks of `day` (counts differ by
    user and day: no identical days) on a phone of their own, and the day's open summary, as
    the syncs left them."""
    base = dt.datetime.combine(day, dt.time(8), dt.UTC)
    for start in range(0, users, LOAD_CHUNK):
        async with unit_of_work(db) as session:
            await session.execute(text("""
                WITH u AS (
                  SELECT id, right(phone, 8)::int AS g FROM users
                  WHERE phone BETWEEN '+9197' || lpad((:lo)::text, 8, '0')
                                  AND '+9197' || lpad((:hi)::text, 8, '0')),
                r AS (
                  INSERT INTO step_records (user_id, day, source, kind, start_at, end_at,
                    utc_offset_minutes, count, device_id, distance_m)
                  SELECT u.id, :day, 'google_fit', 'interval', :base + h * interval '1 hour',
                         :base + h * interval '1 hour' + interval '50 minutes', 0,
                         1000 + (u.g % 500) + h + :salt, 'bench-' || u.id, 750
                  FROM u, generate_series(0, 4) h RETURNING user_id),
                d AS (
                  INSERT INTO step_devices (device_id, user_id, last_seen_at)
                  SELECT 'bench-' || u.id, u.id, :base + interval '5 hours' FROM u
                  ON CONFLICT (device_id, user_id) DO UPDATE SET last_seen_at = excluded.last_seen_at
                  RETURNING user_id)
                INSERT INTO daily_step_summary (id, user_id, day, steps)
                SELECT gen_random_uuid(), u.id, :day, 5 * (1000 + (u.g % 500) + :salt) + 10
                FROM u
            """), {"lo": first + start + 1, "hi": first + min(start + LOAD_CHUNK, users),
                   "day": day, "base": base, "salt": day.toordinal() % 97})


async def _convert(url: str, users: int, first: int) -> dict[str, Any]:
    """Two days of the same users: the first conversion (accounts opened, the first
    achievements unlocked), then the next day's."""
    domains.install()
    # A connection for each unit, as the `activity.convert` job gives them, and a few more.
    db = Database(url, pool_size=daily.WORKERS, max_overflow=4)
    day, _, over = _days()
    out: dict[str, Any] = {}
    try:
        clock.freeze(over)
        await _asset(db)
        t0 = time.perf_counter()
        await _users(db, users, first)
        out["load_s"] = round(time.perf_counter() - t0, 1)
        for name, at in (("first_day", day - dt.timedelta(days=1)), ("next_day", day)):
            clock.freeze(dt.datetime.combine(at + dt.timedelta(days=1), dt.time(13), dt.UTC))
            await _day(db, users, first, at)
            async with ledger.Poster(db.url, connections=CONNECTIONS) as poster:
                t0, cpu0 = time.perf_counter(), time.process_time()
                converted = await service.convert_day(db, at, poster)
                span, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            async with unit_of_work(db) as session:
                credited = int(await session.scalar(text(
                    "SELECT count(*) FROM daily_step_summary WHERE day = :d AND credited > 0"
                    " AND posted_version = version"), {"d": at}) or 0)
                unlocked = int(await session.scalar(text(
                    "SELECT count(*) FROM user_achievements WHERE unlocked_at >= :t"),
                    {"t": clock.now()}) or 0)
            out[name] = {"users_s": round(converted / span, 1), "users": converted,
                         "credited": credited, "unlocked": unlocked, "seconds": round(span, 1),
                         "python_cpu_us_per_user": round(cpu / max(converted, 1) * 1e6)}
        return out
    finally:
        clock.reset()
        await db.dispose()


def conversion(url: str, users: int = 10_000, *, first: int = 0,
               redis_url: str | None = None) -> dict[str, Any] | str:
    """The leaderboards in PostgreSQL, or in Redis at `redis_url` under a key prefix of its
    own (deleted after; a note instead of figures when it does not answer), whatever the
    settings say. `first` numbers the users made (their phones): runs in one database differ."""
    client = None if redis_url is None else Redis.from_url(redis_url, socket_connect_timeout=2)
    try:
        if client is not None:
            client.ping()
    except RedisError as exc:
        return f"Redis skipped: {redis_url} did not answer ({type(exc).__name__})"
    settings, prefix, saved = get_settings(), scores.REDIS_PREFIX, get_settings().redis_url
    settings.redis_url, scores.REDIS_PREFIX = redis_url, f"gullak_bench_{uuid.uuid4().hex[:8]}:"
    try:
        return asyncio.run(_convert(url, users, first))
    finally:
        if client is not None:
            keys = list(client.scan_iter(scores.REDIS_PREFIX + "*"))
            if keys:
                client.delete(*keys)
            client.close()
        settings.redis_url, scores.REDIS_PREFIX = saved, prefix


# -- gullak bench activity ---------------------------------------------------------------------

TARGETS = {"samples_s": (">=", 20_000.0), "pg_top100_p99_ms": ("<=", 5.0),
           "pg_rank_p99_ms": ("<=", 10.0), "million_users_convert_s": ("<=", 300.0),
           "redis_million_users_convert_s": ("<=", 300.0)}
DEFAULT_REDIS = "redis://127.0.0.1:6379"
err = Console(stderr=True)


def _converted(prefix: str, convert: dict[str, Any]) -> dict[str, Any]:
    """The next day's conversion is the daily one (the target's); the first day's, with every
    account opened and the first achievements unlocked, is shown beside it."""
    first, next_ = convert["first_day"], convert["next_day"]
    return {f"{prefix}users_converted_s": next_["users_s"],
            f"{prefix}million_users_convert_s": round(1_000_000 / max(next_["users_s"], 1e-9), 1),
            f"{prefix}first_day_users_converted_s": first["users_s"],
            f"{prefix}conversion_python_cpu_us_per_user": next_["python_cpu_us_per_user"],
            f"{prefix}unlocked_first_day": first["unlocked"],
            f"{prefix}unlocked_next_day": next_["unlocked"]}


def main(url: str, *, seconds: float, clients: int, users: int, board_users: int,
         samples: int, json_out: bool, redis_url: str = DEFAULT_REDIS) -> None:
    if seconds <= 0 or clients < 1 or users < 1 or board_users < 1 or samples < 1:
        raise SystemExit("every size must be positive")
    started = time.perf_counter()
    with bench_module("scratch").scratch_database(url) as bench_url:
        with err.status(f"ingestion ({clients} clients, {seconds:g} s)"):
            ingest = ingestion(bench_url, seconds, clients)
        with err.status(f"conversion of {users:,} users (leaderboards in PostgreSQL)"):
            convert = conversion(bench_url, users)
            assert isinstance(convert, dict)
        with err.status(f"conversion of {users:,} users (leaderboards in Redis)"):
            on_redis = conversion(bench_url, users, first=users, redis_url=redis_url)
    boards = bench_module("leaderboards").run(url, users=board_users, samples=samples)
    results: dict[str, Any] = {
        "samples_s": ingest["samples_s"], "batch_p50_ms": ingest["batch_p50_ms"],
        "batch_p99_ms": ingest["batch_p99_ms"],
        **_converted("", convert),
        **(_converted("redis_", on_redis) if isinstance(on_redis, dict)
           else {"redis_conversion": on_redis}),
        **{f"board_{k}" if k in ("users", "samples", "elapsed_s") else k: v
           for k, v in boards.items() if not isinstance(v, dict)},
    }
    results["targets_met"] = {k: (v <= limit if op == "<=" else v >= limit)
                              for k, (op, limit) in TARGETS.items()
                              if isinstance(v := results.get(k), (int, float))}
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    if json_out:
        print(json.dumps(results, separators=(",", ":")))
        return
    table = Table(title="gullak bench activity")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in results.items():
        table.add_row(key, f"{value:,}" if isinstance(value, (int, float))
                      and not isinstance(value, bool) else str(value))
    Console().print(table)
