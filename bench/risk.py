"""`gullak bench risk`: what the risk domain costs the actions it guards, and what keeping a
blocking finding through the rollback of its action costs, in a scratch database
(gullak_bench_<random>) on the given URL's server, migrated and dropped at the end.

One client, one unit of work after another (`rounds` of each), timed per unit:

- plain: a unit that runs `SELECT 1` (the reference: a unit's fixed cost and one round trip);
- guarded: a unit that runs the guard every sign-in, redemption and withdrawal now runs
  (is the user blocked?) for a user who is not: the price of enforcement on every action;
- kept_in_unit: a unit that writes a finding and a block in its own transaction (how a
  finding below the block threshold is kept, with its fact);
- kept_apart: a unit whose finding blocks: the event and the block written on a connection
  of their own and committed, then the action refused and rolled back (what a block costs;
  blocks are rare, so this is paid rarely).

The figures are medians (and p99) in microseconds, and each path's ratio to the reference.
"""

from __future__ import annotations

import asyncio
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
from gullak.cli import bench_module
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.risk import enforcement
from gullak.risk.errors import AccountRestricted
from gullak.risk.rules import Finding
from gullak.settings import Settings

err = Console(stderr=True)
Step = Callable[[AsyncSession], Awaitable[None]]


async def _timed(db: Database, rounds: int, step: Step) -> list[float]:
    spent = []
    for _ in range(rounds):
        start = time.perf_counter()
        try:
            async with unit_of_work(db) as session:
                await step(session)
        except AccountRestricted:
            pass
        spent.append((time.perf_counter() - start) * 1e6)
    return spent


async def _run(url: str, rounds: int) -> dict[str, list[float]]:
    domains.install()
    db = Database(url, pool_size=4, max_overflow=2)
    blocking = Settings(env="test", risk_block_score=50)
    try:
        async def plain(session: AsyncSession) -> None:
            await session.execute(text("SELECT 1"))

        async def guarded(session: AsyncSession) -> None:
            await enforcement.guard(session, uuid.uuid4())

        def finding() -> Finding:
            return Finding("device_accounts", "device", "bench-device", 90, {"accounts": 9})

        async def kept_in_unit(session: AsyncSession) -> None:
            found = finding()
            await enforcement.write(session, uuid.uuid4(), [found], found)

        async def kept_apart(session: AsyncSession) -> None:
            await enforcement.act(session, blocking, uuid.uuid4(), [finding()])

        paths: dict[str, Step] = {"plain": plain, "guarded": guarded,
                                  "kept_in_unit": kept_in_unit, "kept_apart": kept_apart}
        for step in paths.values():  # warm the pool and the statement caches
            await _timed(db, min(rounds, 50), step)
        return {name: await _timed(db, rounds, step) for name, step in paths.items()}
    finally:
        await db.dispose()


def main(url: str, *, rounds: int = 2_000, json_out: bool = False) -> None:
    scratch = bench_module("scratch")
    with scratch.scratch_database(url) as bench_url:
        found = asyncio.run(_run(bench_url, rounds))
    reference = statistics.median(found["plain"])
    figures = {name: {"median_us": round(statistics.median(v), 1),
                      "p99_us": round(sorted(v)[int(len(v) * 0.99) - 1], 1),
                      "ratio": round(statistics.median(v) / reference, 2)}
               for name, v in found.items()}
    if json_out:
        print(json.dumps({"rounds": rounds, **figures}))
        return
    table = Table(title=f"risk: {rounds} units each, one client")
    for column in ("path", "median µs", "p99 µs", "× plain"):
        table.add_column(column)
    for name, f in figures.items():
        table.add_row(name, str(f["median_us"]), str(f["p99_us"]), str(f["ratio"]))
    Console().print(table)
