"""`gullak bench campaigns`: what campaigns cost the paths they sit on, in a scratch database
(gullak_bench_<random>) on the given URL's server, migrated and dropped at the end.

One client, one unit of work after another (`rounds` of each), timed per unit:

- plain: a unit that runs `SELECT 1` (the reference: a unit's fixed cost and one round trip);
- attribute_miss: the attribution every paid order and redeemed offer now runs, for a user no
  campaign reached (most users, most of the time);
- attribute_hit: the same for a user a campaign reached within its window (a conversion
  recorded, or found already recorded);
- count: a segment count (city AND active in 30 days AND android) over `users` users, what a
  preview in the back office costs, and what each send batch evaluates.

The figures are medians (and p99) in microseconds, and each path's ratio to the reference.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak import domains
from gullak.campaigns import service
from gullak.campaigns.schemas import PreviewIn
from gullak.cli import bench_module
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work

err = Console(stderr=True)
Step = Callable[[AsyncSession], Awaitable[None]]
CITIES = ("Pune", "Mumbai", "Delhi", "Nashik", "Surat")
FILTERS = PreviewIn.model_validate({"filters": [
    {"type": "city", "city": "pune"}, {"type": "last_active", "within_days": 30},
    {"type": "platform", "platforms": ["android"]}]}).filters


async def _timed(db: Database, rounds: int, step: Step) -> list[float]:
    spent = []
    for _ in range(rounds):
        start = time.perf_counter()
        async with unit_of_work(db) as session:
            await step(session)
        spent.append((time.perf_counter() - start) * 1e6)
    return spent


async def _populate(db: Database, users: int) -> uuid.UUID:
    """`users` users, each with an address, a device and a sign-in spread over 90 days, and a
    sent campaign that reached the first 1,000 of them; returns one user it reached."""
    err.print(f"building {users:,} users")
    async with unit_of_work(db) as session:
        await session.execute(text("""
            INSERT INTO users (id, referral_code, phone, last_login_at)
            SELECT gen_random_uuid(), 'B' || g, '+9190' || lpad(g::text, 8, '0'),
                   now() - (g % 90) * interval '1 day'
            FROM generate_series(1, :n) g"""), {"n": users})
        await session.execute(text("""
            INSERT INTO addresses (id, user_id, line1, city)
            SELECT gen_random_uuid(), id, '1 Road',
                   (ARRAY['Pune','Mumbai','Delhi','Nashik','Surat'])[1 + abs(hashtext(id::text)) % 5]
            FROM users"""))
        await session.execute(text("""
            INSERT INTO devices (id, user_id, device_id, platform, app_version)
            SELECT gen_random_uuid(), id, 'd-' || id,
                   (ARRAY['android','ios','web'])[1 + abs(hashtext(id::text || 'p')) % 3], '3.2.0'
            FROM users"""))
        segment = await session.scalar(text("""
            INSERT INTO campaign_segments (id, name, filters) VALUES (gen_random_uuid(), 'all',
            '[]'::jsonb) RETURNING id"""))
        campaign = await session.scalar(text("""
            INSERT INTO notification_campaigns (id, name, segment_id, channel, template_code,
                throttle_per_minute, attribution_days, status)
            VALUES (gen_random_uuid(), 'bench', :s, 'inbox', 'bench', 1000, 7, 'sent')
            RETURNING id"""), {"s": segment})
        await session.execute(text("""
            INSERT INTO campaign_recipients (campaign_id, user_id, variant, notification_id,
                suppressed, sent_at)
            SELECT :c, id, 'A', gen_random_uuid(), false, now() FROM users LIMIT 1000"""),
            {"c": campaign})
        reached = await session.scalar(text(
            "SELECT user_id FROM campaign_recipients LIMIT 1"))
        await session.execute(text("ANALYZE"))
    assert isinstance(reached, uuid.UUID)
    return reached


async def _run(url: str, rounds: int, users: int) -> dict[str, list[float]]:
    domains.install()
    db = Database(url, pool_size=4, max_overflow=2)
    try:
        reached = await _populate(db, users)

        async def plain(session: AsyncSession) -> None:
            await session.execute(text("SELECT 1"))

        async def attribute_miss(session: AsyncSession) -> None:
            await service.attribute(session, uuid.uuid4(), "order", uuid.uuid4(), 100, "INR")

        async def attribute_hit(session: AsyncSession) -> None:
            await service.attribute(session, reached, "order", uuid.uuid4(), 100, "INR")

        async def count(session: AsyncSession) -> None:
            await service.count(session, FILTERS)

        paths: dict[str, tuple[Step, int]] = {
            "plain": (plain, rounds), "attribute_miss": (attribute_miss, rounds),
            "attribute_hit": (attribute_hit, rounds), "count": (count, max(rounds // 100, 5))}
        for step, n in paths.values():  # warm the pool and the statement caches
            await _timed(db, min(n, 20), step)
        return {name: await _timed(db, n, step) for name, (step, n) in paths.items()}
    finally:
        await db.dispose()


def main(url: str, *, rounds: int = 2_000, users: int = 100_000, json_out: bool = False) -> None:
    scratch = bench_module("scratch")
    started = dt.datetime.now(dt.UTC)
    with scratch.scratch_database(url) as bench_url:
        found = asyncio.run(_run(bench_url, rounds, users))
    reference = statistics.median(found["plain"])
    figures = {name: {"median_us": round(statistics.median(v), 1),
                      "p99_us": round(sorted(v)[max(int(len(v) * 0.99) - 1, 0)], 1),
                      "ratio": round(statistics.median(v) / reference, 2)}
               for name, v in found.items()}
    if json_out:
        print(json.dumps({"rounds": rounds, "users": users, **figures}))
        return
    table = Table(title=f"campaigns: {rounds} units each ({users:,} users), one client,"
                        f" {started:%Y-%m-%d %H:%M} UTC")
    for column in ("path", "median µs", "p99 µs", "× plain"):
        table.add_column(column)
    for name, f in figures.items():
        table.add_row(name, str(f["median_us"]), str(f["p99_us"]), str(f["ratio"]))
    Console().print(table)
