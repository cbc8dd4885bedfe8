"""`gullak bench rewards`: evaluating and paying the rewards of completed orders, with 200
active rules.

Everything runs in a scratch database (gullak_bench_<random>) on the given URL's server,
migrated, loaded with the demo data, and dropped at the end, whatever happens. On top of the
demo's rules the run adds rules up to 200 active ones, as a busy platform has them: most are
for other merchants, cities, tiers or hours (they are considered, explained and refused),
a few apply to every order (a percentage, a capped fixed bonus, a campaign with a budget).

An evaluation is what the order's unit of work runs when the order completes: the
`order.status_changed` event (to `completed`) published on the unit's session, which the
rewards domain's handler answers by loading the rules, deciding each one, storing why, and
posting each reward to the user's `pending` account through the ledger. Each evaluation is
its own unit of work (`unit_of_work`), on 16 clients by default, each with users of its own,
split over 2 forked processes as `gullak bench checkout` does.

Then a bulk confirmation: `confirmations` (100,000) pending cashbacks, spread over 1,000 users
whose `pending` accounts hold them (loaded, not timed), confirmed as an admin's
`POST /v1/admin/cashback/confirm` and the `cashback.settle_confirmed` job do it: one statement
marks them confirmed, then each pending -> main transfer goes through the ledger's
group-committing `Poster` (CONNECTIONS connections, many transfers per commit) —
`cashback_confirmations_s`.

The same run measures `cold_session_tps` of `gullak bench ledger` (a transfer per unit of
work, as a request makes one) for the ratio `evaluation_ratio`.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from types import ModuleType
from typing import Any, NamedTuple

from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from gullak import domains
from gullak.cli import bench_module
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.kit.events import publish
from gullak.kit.ids import uuid7
from gullak.kit.security import Subject

ACTIVE_RULES = 200
USERS_PER_CLIENT = 64
ORDER_TOTAL = 45_000  # ₹450.00
WARMUP = 3  # evaluations per client before timing
CONNECTIONS = 4  # the poster's, as the cashback.settle_confirmed job opens it
ADMIN = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000000e3"),
                frozenset({"rewards.manage"}))

err = Console(stderr=True)


class Setup(NamedTuple):
    merchants: list[uuid.UUID]
    users: list[list[uuid.UUID]]  # one list per client


scratch = bench_module("scratch")


def main(url: str, *, seconds: float, clients: int, confirmations: int = 100_000,
         json_out: bool) -> None:
    if seconds <= 0 or clients < 1 or confirmations < 1:
        raise SystemExit("seconds, clients and confirmations must be positive")
    ledger = bench_module("ledger")
    started = time.perf_counter()
    with scratch.scratch_database(url) as bench_url:
        results = run_all(bench_url, ledger, seconds=seconds, clients=clients,
                          confirmations=confirmations)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    if json_out:
        print(json.dumps(results, separators=(",", ":")))
    else:
        print_table(results)
    if not results["verified"]:
        raise SystemExit(1)


def run_all(url: str, ledger: ModuleType, *, seconds: float, clients: int,
            confirmations: int) -> dict[str, Any]:
    processes = max(1, min(ledger.PROCESSES, clients))
    with err.status("loading the demo data"):
        ledger.run_async(ledger.load_demo(url))
    ledger_setup = ledger.run_async(ledger.prepare(url, clients))
    session_tps = ledger.timed(url, "cold_session", ledger_setup, seconds=seconds,
                               processes=processes)
    ledger.report("cold_session_tps", session_tps, "tps")
    with err.status(f"{ACTIVE_RULES} active rules and the clients' users"):
        setup = ledger.run_async(prepare(url, clients))
    ledger.checkpoint(url)
    shares = [Share(*found) for found in scratch.forked(
        lambda group, ready: ledger.run_async(drive(url, setup, group, seconds, ready)),
        clients, processes, f"rewards for {seconds:g} s")]
    count = sum(s.count for s in shares)
    evaluations_s = count / max(max(s.span for s in shares), 1e-9)
    latencies = sorted(v for s in shares for v in s.latencies)
    rewards = ledger.run_async(rewards_posted(url))
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    ledger.report("evaluations_s", evaluations_s, "/s")
    ledger.report("evaluation_p99_ms", p99, "ms")
    with err.status(f"{confirmations:,} pending cashbacks"):
        confirmed, confirm_s = ledger.run_async(bulk_confirmation(url, confirmations))
    ledger.report("cashback_confirmations_s", confirmed / confirm_s, "/s")
    with err.status("gullak ledger verify"):
        verified = ledger.run_async(ledger.verified_ledger(url))
    return {
        "evaluations_s": round(evaluations_s, 1),
        "evaluation_p50_ms": round(statistics.median(latencies), 2) if latencies else 0.0,
        "evaluation_p99_ms": round(p99, 2),
        "cold_session_tps": round(session_tps, 1),
        "evaluation_ratio": round(evaluations_s / session_tps, 4) if session_tps else 0.0,
        "evaluations": count,
        "rewards_posted": rewards,
        "active_rules": ACTIVE_RULES,
        "cashback_confirmations_s": round(confirmed / confirm_s, 1),
        "cashback_confirmed": confirmed,
        "cashback_confirm_s": round(confirm_s, 1),
        "verified": verified,
        "clients": clients,
        "seconds": seconds,
    }


async def prepare(url: str, clients: int) -> Setup:
    """Rules up to ACTIVE_RULES: a handful that every order meets, the rest for others."""
    from gullak.rewards import service
    from gullak.rewards.schemas import CampaignIn, RuleIn

    domains.install()
    db = Database(url, pool_size=2, max_overflow=0)
    try:
        async with unit_of_work(db) as session:
            merchants = list(await session.scalars(text(
                "SELECT id FROM merchants WHERE status = 'live' ORDER BY id")))
            if not merchants:
                raise RuntimeError("the demo data has no live merchant")
            active = int(await session.scalar(text(
                "SELECT count(*) FROM reward_rules WHERE status = 'active'")) or 0)
            campaign = await service.create_campaign(session, CampaignIn(
                name="Bench", asset_code="REZ", status="active",
                starts_at=clock.now(), budget=10**15), ADMIN)
            applying: list[dict[str, Any]] = [
                {"kind": "percent", "value": 300},
                {"kind": "fixed", "value": 5, "caps": [{"period": "day", "count": 50}]},
                {"kind": "fixed", "value": 2, "campaign_id": str(campaign.id)},
            ]
            others = [
                {"kind": "fixed", "value": 10, "conditions": {"merchant_ids": [str(uuid7())]}},
                {"kind": "fixed", "value": 10, "conditions": {"cities": ["Nowhere"]}},
                {"kind": "fixed", "value": 10, "conditions": {"tier_codes": ["prive"]}},
                {"kind": "percent", "value": 100, "conditions": {"min_amount": 10**9}},
                {"kind": "fixed", "value": 10, "conditions": {"segments": ["vip"]}},
            ]
            for n in range(max(0, ACTIVE_RULES - active)):
                extra = applying[n] if n < len(applying) else others[n % len(others)]
                await service.create_rule(session, RuleIn.model_validate({
                    "name": f"Bench rule {n}", "trigger": "order_completed",
                    "asset_code": "REZ", **extra}), ADMIN)
        users = [[uuid.uuid4() for _ in range(USERS_PER_CLIENT)] for _ in range(clients)]
        return Setup(merchants, users)
    finally:
        await db.dispose()


class Share(NamedTuple):
    count: int
    latencies: list[float]
    span: float


async def drive(url: str, setup: Setup, clients: list[int], seconds: float,
                ready: Any) -> Share:
    domains.install()
    db = Database(url, pool_size=len(clients), max_overflow=0)
    latencies: list[float] = []
    timing = False

    async def evaluate(index: int, user_id: uuid.UUID) -> None:
        merchant_id = setup.merchants[index % len(setup.merchants)]
        began = time.perf_counter()
        async with unit_of_work(db) as session:  # the order's completion
            await publish(session, "order.status_changed", {
                "order_id": str(uuid7()), "user_id": str(user_id),
                "merchant_id": str(merchant_id), "number": "BENCH", "kind": "purchase",
                "outlet_id": None, "total": ORDER_TOTAL, "refunded": 0, "currency": "INR",
                "from_status": "delivered", "to_status": "completed", "actor_type": "system",
                "actor_id": None, "reason": None})
        if timing:
            latencies.append((time.perf_counter() - began) * 1000)

    async def client(index: int, deadline: float) -> int:
        users, n = setup.users[index], 0
        while time.monotonic() < deadline:
            await evaluate(index, users[n % len(users)])
            n += 1
        return n

    try:
        for n in range(WARMUP):
            await asyncio.gather(*(evaluate(i, setup.users[i][-1 - n]) for i in clients))
        await asyncio.to_thread(ready)
        timing = True
        began = time.monotonic()
        counts = await asyncio.gather(*(client(i, began + seconds) for i in clients))
        return Share(sum(counts), latencies, time.monotonic() - began)
    finally:
        await db.dispose()


async def rewards_posted(url: str) -> int:
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        async with db.engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM rewards")) or 0)
    finally:
        await db.dispose()


async def bulk_confirmation(url: str, count: int) -> tuple[int, float]:
    """`count` pending cashbacks loaded (not timed), then confirmed in one batch: how many
    were settled, and in how many seconds."""
    from gullak.cashback import service as cashback
    from gullak.ledger import service as ledger

    domains.install()
    db = Database(url, pool_size=2, max_overflow=0)
    try:
        network_id = await cashback.prepare(db, count, users=1_000)
        async with ledger.Poster(url, connections=CONNECTIONS) as poster:
            began = time.perf_counter()
            settled = await cashback.confirm_many(db, poster, network_id=network_id, limit=count)
            return settled, time.perf_counter() - began
    finally:
        await db.dispose()


def print_table(results: dict[str, Any]) -> None:
    table = Table(title="gullak bench rewards")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in results.items():
        table.add_row(key, f"{value:,}" if isinstance(value, (int, float))
                      and not isinstance(value, bool) else str(value))
    Console().print(table)
