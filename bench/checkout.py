"""`gullak bench checkout`: users placing and paying orders, coins and the sandbox gateway.

Everything runs in a scratch database (gullak_bench_<random>) on the given URL's server,
migrated, loaded with the demo data, and dropped at the end, whatever happens. A live demo
merchant gets a product with stock enough for any run, and every user enough REZ coins, so
that each order is paid in coins up to the coin cap (20% by default) and the rest at the
gateway, the sandbox, with nothing charged anywhere.

A checkout is what the API and the worker run for it, through the same services, each step
its own unit of work (`unit_of_work`) as its request or job runs it:

1. POST /v1/orders: `orders.flows.place_order` (pricing, stock reserved, coins held, the
   gateway's part recorded as a payment) — the figure `placement_p50_ms`/`_p99_ms`;
2. POST /v1/payments/{id}/start: `payments.flows.start` (the sandbox's order made, outside
   the order's transaction, and recorded);
3. the person pays on the sandbox's page: `Sandbox.settle` makes the signed webhook and the
   intake stores it and enqueues its job (`service.receive_webhook` + `worker.enqueue`), as
   POST /v1/payments/webhooks/sandbox does;
4. the worker's job `payments.process_event`: the capture moves the money to escrow, the order
   hears `payment.succeeded`, captures its coins and moves the gateway's part to the merchant.
   Run by worker coroutines beside the clients, the queued job marked done in its unit.

The same run measures `cold_session_tps` of `gullak bench ledger` (a transfer per unit of
work, as a request makes one) for the ratio. bench/README.md explains each figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import statistics
import time
import uuid
from types import ModuleType
from typing import Any, NamedTuple

from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gullak import domains
from gullak.cli import bench_module
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit.security import Subject
from gullak.ledger.schemas import TransferIn
from gullak.ledger.verify import verify_database
from gullak.orders import flows as orders
from gullak.orders.pricing import Policy
from gullak.orders.schemas import ItemIn, OrderIn
from gullak.payments import flows as payments
from gullak.payments import gateways, jobs, service
from gullak.payments.gateways.sandbox import Sandbox
from gullak.settings import get_settings
from gullak.worker import enqueue

USERS_PER_CLIENT = 64  # each client's own users: no client waits on another's wallet rows
COINS = 10**9  # REZ per user, so no run runs out
PRICE = 25_000  # ₹250.00 a unit
STOCK = 10**9
WORKERS = 2  # job coroutines per process applying webhooks, as `gullak worker` runs jobs
WARMUP = 3  # checkouts per client before timing: connections opened, statements prepared
JOB_RETRIES = 5  # as payments.process_event's task is declared
RETRIED = ("40P01", "40001")  # deadlock, serialization failure: the job runs again
TARGETS = {"placement_p99_ms": ("<=", 50.0)}

err = Console(stderr=True)


class Setup(NamedTuple):
    products: list[tuple[uuid.UUID, uuid.UUID]]  # (merchant, product) of each client
    users: list[list[uuid.UUID]]  # one list per client


class Share(NamedTuple):
    checkouts: int
    events: int
    placements_ms: list[float]
    started: float
    finished: float  # the clients' deadline passed and every webhook was applied
    retries: int  # webhook jobs run again after a deadlock


scratch = bench_module("scratch")


# -- the run --------------------------------------------------------------------------------

def main(url: str, *, seconds: float, clients: int, json_out: bool) -> None:
    if seconds <= 0 or clients < 1:
        raise SystemExit("seconds and clients must be positive")
    if get_settings().payment_gateway != "sandbox":
        raise SystemExit("the checkout benchmark pays at the sandbox gateway:"
                         " unset GULLAK_PAYMENT_GATEWAY")
    ledger = bench_module("ledger")
    started = time.perf_counter()
    with scratch.scratch_database(url) as bench_url:
        results = run_all(bench_url, ledger, seconds=seconds, clients=clients)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    if json_out:
        print(json.dumps(results, separators=(",", ":")))
    else:
        print_table(results)
    if not results["verified"]:
        raise SystemExit(1)


def run_all(url: str, ledger: ModuleType, *, seconds: float, clients: int) -> dict[str, Any]:
    processes = max(1, min(ledger.PROCESSES, clients))
    with err.status("loading the demo data"):
        ledger.run_async(ledger.load_demo(url))
    ledger_setup = ledger.run_async(ledger.prepare(url, clients))
    session_tps = ledger.timed(url, "cold_session", ledger_setup, seconds=seconds,
                               processes=processes)
    ledger.report("cold_session_tps", session_tps, "tps")

    with err.status("a shop and its customers"):
        setup = ledger.run_async(prepare(url, clients))
    ledger.checkpoint(url)
    shares = [Share(*found) for found in scratch.forked(
        lambda group, ready: ledger.run_async(drive(url, setup, group, seconds, ready)),
        clients, processes, f"checkout for {seconds:g} s")]
    start = min(s.started for s in shares)
    clients_end = start + seconds
    finished = max(s.finished for s in shares)
    checkouts = sum(s.checkouts for s in shares)
    events = sum(s.events for s in shares)
    placements = sorted(ms for s in shares for ms in s.placements_ms)
    checkouts_s = checkouts / max(1e-9, max(clients_end, start) - start)
    events_s = events / max(1e-9, finished - start)
    p50 = statistics.median(placements) if placements else 0.0
    p99 = placements[min(len(placements) - 1, int(len(placements) * 0.99))] \
        if placements else 0.0
    ledger.report("checkouts_s", checkouts_s, "/s")
    ledger.report("placement_p99_ms", p99, "ms")
    ledger.report("webhook_events_s", events_s, "/s")
    with err.status("gullak ledger verify; every order paid"):
        verified, unpaid = ledger.run_async(check(url, setup))
    return {
        "checkouts_s": round(checkouts_s, 1),
        "placement_p50_ms": round(p50, 2),
        "placement_p99_ms": round(p99, 2),
        "webhook_events_s": round(events_s, 1),
        "cold_session_tps": round(session_tps, 1),
        "checkout_ratio": round(checkouts_s / session_tps, 4) if session_tps else 0.0,
        "checkouts": checkouts,
        "events": events,
        "job_retries": sum(s.retries for s in shares),
        "unpaid_orders": unpaid,
        "verified": verified and unpaid == 0,
        "clients": clients,
        "processes": processes,
        "seconds": seconds,
    }


async def prepare(url: str, clients: int) -> Setup:
    """For every client a product of its own, at the live demo merchants in turn (one
    product for all would make its stock row the queue every order waits in), and funded
    users of its own."""
    from gullak.catalog import service as catalog
    from gullak.catalog.schemas import ProductIn
    from gullak.ledger import service as ledger
    from gullak.offers import service as offers

    db = Database(url, pool_size=2, max_overflow=0)
    try:
        async with unit_of_work(db) as session:
            live = list(await session.scalars(text(
                "SELECT id FROM merchants WHERE status = 'live' ORDER BY id")))
            if not live:
                raise RuntimeError("the demo data has no live merchant")
            products = []
            for n in range(clients):
                merchant_id = live[n % len(live)]
                product = await catalog.create_product(session, merchant_id, ProductIn(
                    sku=f"BENCH-{n}", name=f"Bench thali {n}", price=PRICE, stock=STOCK),
                    None)
                products.append((merchant_id, product.id))
                # Made on a merchant's first order otherwise, where two first orders at once
                # race to create it and one fails (offers.branded_asset).
                await offers.branded_asset(session, merchant_id)
        users = [[uuid.uuid4() for _ in range(USERS_PER_CLIENT)] for _ in range(clients)]
        for group in users:
            async with unit_of_work(db) as session:
                issuance = await ledger.platform_account(session, "REZ", "issuance")
                await ledger.post(session, [TransferIn(
                    debit_account_id=issuance.id,
                    credit_account_id=(await ledger.user_account(session, u, "REZ")).id,
                    asset_code="REZ", amount=COINS, kind="earn") for u in group])
        return Setup(products, users)
    finally:
        await db.dispose()


async def check(url: str, setup: Setup) -> tuple[bool, int]:
    """The ledger verifies, and how many of the run's orders were left unpaid (none, when
    every webhook was applied; the demo data's own orders are not counted)."""
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        report = await verify_database(db)
        async with db.engine.connect() as conn:
            unpaid = await conn.scalar(text(
                "SELECT count(*) FROM orders WHERE status <> 'paid' AND user_id = ANY(:u)"),
                {"u": [u for group in setup.users for u in group]})
        return report.ok, int(unpaid or 0)
    finally:
        await db.dispose()


# -- the workload ---------------------------------------------------------------------------

async def drive(url: str, setup: Setup, clients: list[int], seconds: float,
                ready: Any) -> Share:
    domains.install()  # the orders domain hears payment.succeeded, as in every process
    settings = get_settings()
    policy = Policy.of(settings)
    db = Database(url, pool_size=len(clients) + WORKERS, max_overflow=0)
    sandbox = Sandbox(db, secrets.token_hex(16), public_url="http://bench.invalid")
    events: asyncio.Queue[tuple[uuid.UUID, int]] = asyncio.Queue()
    placements: list[float] = []
    timing, retries = False, 0

    async def checkout(index: int, user_id: uuid.UUID) -> None:
        merchant_id, product_id = setup.products[index]
        body = OrderIn(merchant_id=merchant_id, items=[ItemIn(product_id=product_id,
                                                              quantity=1)])
        began = time.perf_counter()
        async with unit_of_work(db) as session:  # POST /v1/orders
            order, _ = await orders.place_order(session, Subject("user", user_id), body,
                                                policy, idempotency_key=uuid.uuid4().hex)
        if timing:
            placements.append((time.perf_counter() - began) * 1000)
        [payment_id] = [t.payment_id for t in order.tenders if t.payment_id is not None]
        started = await payments.start(db, payment_id, user_id=user_id,  # .../start
                                       settings=settings)
        assert started.gateway_ref is not None
        webhook = await sandbox.settle(started.gateway_ref, "paid")  # the person pays
        assert webhook is not None
        async with unit_of_work(db) as session:  # POST /v1/payments/webhooks/sandbox
            stored = await service.receive_webhook(session, sandbox, *webhook)
            assert stored is not None
            job_id = await enqueue(session, jobs.process_event, event_id=str(stored))
        events.put_nowait((stored, job_id))

    async def worker() -> None:
        nonlocal retries
        while True:
            event_id, job_id = await events.get()
            try:
                for attempt in range(JOB_RETRIES + 1):
                    try:
                        async with unit_of_work(db) as session:  # payments.process_event
                            assert await service.process_event(session, event_id) \
                                == "succeeded"
                            await session.execute(text(
                                "UPDATE procrastinate_jobs SET status = 'succeeded'"
                                " WHERE id = :id"), {"id": job_id})
                        break
                    except DBAPIError as exc:
                        # The job is retried, as `gullak worker` retries it (retry=5).
                        code = getattr(exc.orig, "sqlstate", None)
                        if code not in RETRIED or attempt == JOB_RETRIES:
                            raise
                        retries += 1
            finally:
                events.task_done()

    async def client(index: int, deadline: float) -> int:
        users, n = setup.users[index], 0
        while time.monotonic() < deadline:
            # Users in turn: a user's previous order is paid long before its next one.
            await checkout(index, users[n % len(users)])
            n += 1
        return n

    with gateways.override(sandbox):
        workers = [asyncio.create_task(worker()) for _ in range(WORKERS)]
        try:
            for n in range(WARMUP):
                await asyncio.gather(*(checkout(i, setup.users[i][-1 - n]) for i in clients))
            await events.join()
            await asyncio.get_running_loop().run_in_executor(None, ready)
            timing = True
            began = time.monotonic()
            counts = await asyncio.gather(*(client(i, began + seconds) for i in clients))
            await events.join()
            finished = time.monotonic()
        finally:
            for w in workers:
                w.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*workers)
            await db.dispose()
    # Every checkout of the timed window has had its webhook applied by `finished`.
    return Share(sum(counts), sum(counts), placements, began, finished, retries)


def print_table(results: dict[str, Any]) -> None:
    table = Table(title="gullak bench checkout")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target")
    for key, value in results.items():
        op, limit = TARGETS.get(key, ("", None))
        table.add_row(key, f"{value:,}" if isinstance(value, (int, float))
                      and not isinstance(value, bool) else str(value),
                      f"{op} {limit:g}" if limit is not None else "")
    Console().print(table)
