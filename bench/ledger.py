"""`gullak bench ledger`: ledger throughput and read latency against a pgbench reference.

Everything runs in a scratch database (gullak_bench_<random>) created on the server of the
given URL, migrated to head, and dropped at the end, whatever happens: a user's data is never
touched. The reference is pgbench running the bare double-entry transfer (two account updates
and one entry insert, pipelined in one round trip) on scratch tables of that database.
Gullak's cold and hot figures are standalone transfers through `posting.Poster`, each
acknowledged after its commit, concurrent ones group-committed; the *_session figures are the
same transfers each in its own unit of work through `service.transfer`, as a request that
writes other things with it runs them. bench/README.md explains each figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import queue
import random
import re
import secrets
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg_pool import AsyncConnectionPool
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress_bar import ProgressBar
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gullak.db import embedded, migrate
from gullak.db.engine import Database, UnitSession
from gullak.db.uow import autocommit, unit_of_work
from gullak.ledger import service
from gullak.ledger.posting import Poster
from gullak.ledger.schemas import AssetIn, AssetKind, TransferIn
from gullak.ledger.verify import verify_database

ASSET = "BENCH"
BATCH = 1000  # transfers per atomic batch, as the issue specifies
POOL = 128  # user accounts owned by each client: clients never wait on each other's rows
OPENERS = 4  # connections opening the accounts
FUNDING = 10**12  # per user account, so no workload ever runs out of funds
REF_ACCOUNTS = 100_000  # pgbench's account table, as large as pgbench's own scale 1
WARMUP_OPS = 8  # per client: opens its connection and passes psycopg's prepare threshold (5)
# History rows per statement and commit: every row updates the account's one balance row, and
# longer runs of updates to one row inside one transaction only got slower per row.
BUILD_CHUNK = 1_000
READ_SECONDS_MAX = 5.0
# The history's ids go back this many months, evenly, so its pages are read across a year of
# monthly partitions (gullak.db.partitions), as a long-lived account's are.
HISTORY_MONTHS = 12
# Client processes for the write workloads, the clients split between them as coroutines.
# A transfer costs Gullak's client side more CPU than the server's, so one process caps the
# figure at one core; on 2 cores two processes measured about 10% more than one for every
# write workload (bench/README.md). The variable re-checks that on other machines.
PROCESSES = int(os.environ.get("GULLAK_BENCH_PROCESSES", "2"))
POSTER_CONNECTIONS = 2  # group-commit writers per client process

UNITS = 2000  # units of work per round of the unit cost, over `clients` coroutines
UNIT_ROUNDS = 3  # rounds of each, alternated; the median counts

TARGETS: dict[str, tuple[str, float]] = {
    "cold_ratio": (">=", 0.5),
    "hot_ratio": (">=", 0.9),
    "batch_tps": (">=", 30_000),
    "session_ratio": (">=", 0.25),
    "keyed_ratio": (">=", 0.9),
    "uow_ratio": ("<=", 1.5),
    "balance_read_p99_ms": ("<=", 2.0),
    "history_page_p99_ms": ("<=", 5.0),
}

err = Console(stderr=True)


# -- the scratch database -------------------------------------------------------------------

def main(url: str, *, seconds: float, clients: int, entries: int, json_out: bool) -> None:
    """Run every workload in a scratch database on `url`'s server, then print the figures."""
    if seconds <= 0 or clients < 1 or entries < 1:
        raise SystemExit("seconds, clients and entries must be positive")
    started = time.perf_counter()
    # A terminal closed or a `kill` must drop the scratch database too: turn them into the
    # KeyboardInterrupt that Ctrl-C raises, which the finally below handles.
    previous = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        results = in_scratch_database(url, seconds=seconds, clients=clients, entries=entries)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    if json_out:
        print(json.dumps(results, separators=(",", ":")))
    else:
        print_table(results)


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def in_scratch_database(url: str, *, seconds: float, clients: int,
                        entries: int) -> dict[str, Any]:
    admin = embedded.libpq_url(url)
    name = f"gullak_bench_{secrets.token_hex(4)}"
    err.print(f"[dim]scratch database {name} (dropped at the end)[/dim]")
    embedded.ensure_database(admin, name)
    try:
        bench_url = embedded.with_database(admin, name)
        with err.status("migrating the scratch database"):
            migrate.upgrade(bench_url)
        return run_all(bench_url, seconds=seconds, clients=clients, entries=entries)
    finally:
        # WITH (FORCE) also ends connections a killed worker process may have left behind.
        with err.status(f"dropping {name}"):
            embedded.drop_database(admin, name)


def run_all(url: str, *, seconds: float, clients: int, entries: int) -> dict[str, Any]:
    processes = max(1, min(PROCESSES, clients))
    err.print(f"[dim]{clients} clients in {processes} process(es), {seconds:g} s per "
              f"workload, history of {entries:,} entries[/dim]")
    setup = run_async(prepare(url, clients))
    uow_us, psycopg_us, orm_us = run_async(unit_cost(url, clients))
    report("uow_empty_us", uow_us, "us")
    report("psycopg_tx_us", psycopg_us, "us")

    pgbench_tps = reference_tps(url, seconds=seconds, clients=clients)
    report("pgbench_tps", pgbench_tps, "tps")
    cold = timed(url, "cold", setup, seconds=seconds, processes=processes)
    report("cold_tps", cold, "tps")
    hot = timed(url, "hot", setup, seconds=seconds, processes=processes)
    report("hot_tps", hot, "tps")
    cold_session = timed(url, "cold_session", setup, seconds=seconds, processes=processes)
    report("cold_session_tps", cold_session, "tps")
    hot_session = timed(url, "hot_session", setup, seconds=seconds, processes=processes)
    report("hot_session_tps", hot_session, "tps")
    batch = timed(url, "batch", setup, seconds=seconds, processes=processes)
    report("batch_tps", batch, "tps")
    keyed = timed(url, "keyed", setup, seconds=seconds, processes=processes)
    report("cold_keyed_tps", keyed, "tps")

    account, cursors = build_history(url, setup, entries)
    read_seconds = min(READ_SECONDS_MAX, max(1.0, seconds / 4))
    balance_p99, history_p50, history_p99 = run_async(
        read_latency(url, setup, account, cursors, read_seconds))
    report("balance_read_p99_ms", balance_p99, "ms")
    report("history_page_p50_ms", history_p50, "ms")
    report("history_page_p99_ms", history_p99, "ms")
    verified = run_async(verified_ledger(url))

    return {
        "pgbench_tps": round(pgbench_tps, 1),
        "cold_tps": round(cold, 1),
        "hot_tps": round(hot, 1),
        "batch_tps": round(batch, 1),
        "cold_ratio": round(cold / pgbench_tps, 3) if pgbench_tps else 0.0,
        "hot_ratio": round(hot / cold, 3) if cold else 0.0,
        "balance_read_p99_ms": round(balance_p99, 3),
        "history_page_p50_ms": round(history_p50, 3),
        "history_page_p99_ms": round(history_p99, 3),
        "cold_keyed_tps": round(keyed, 1),
        "cold_session_tps": round(cold_session, 1),
        "hot_session_tps": round(hot_session, 1),
        "session_ratio": round(cold_session / pgbench_tps, 3) if pgbench_tps else 0.0,
        "keyed_ratio": round(keyed / cold_session, 3) if cold_session else 0.0,
        "uow_empty_us": round(uow_us, 1),
        "psycopg_tx_us": round(psycopg_us, 1),
        "uow_ratio": round(uow_us / psycopg_us, 3) if psycopg_us else 0.0,
        "uow_orm_us": round(orm_us, 1),
        "verified": verified,
        "clients": clients,
        "processes": processes,
        "seconds": seconds,
        "entries": entries,
    }


async def load_demo(url: str) -> None:
    """The demo data (`gullak seed`), which the HTTP and checkout benchmarks start from."""
    from gullak import seed

    db = Database(url, pool_size=2, max_overflow=0)
    try:
        await seed.load(db)
    finally:
        await db.dispose()


async def verified_ledger(url: str) -> bool:
    """`gullak ledger verify` of everything the run posted: no figure counts without it."""
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        with err.status("verifying the ledger"):
            result = await verify_database(db)
    finally:
        await db.dispose()
    for check in result.checks:
        if not check.ok:
            err.print(f"[red]ledger verify: {check.name} failed {check.failures} times: "
                      f"{check.sample}[/red]")
    return result.ok


def report(name: str, value: float, unit: str) -> None:
    err.print(f"  {name:<22} {value:>12,.1f} {unit}")


def run_async(coro: Awaitable[Any]) -> Any:
    """asyncio.run on uvloop when it is installed, as uvicorn picks it for `gullak run`."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]


def checkpoint(url: str) -> None:
    """Start each timed workload on a fresh checkpoint, so none pays for another's dirty
    pages; without the privilege to checkpoint, they all run as they come."""
    with contextlib.suppress(psycopg.Error), psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


# -- the reference: pgbench ----------------------------------------------------------------

# Locks the lower account id first, as Gullak's trigger locks its rows in one global order:
# two transfers over the same pair cannot deadlock.
PGBENCH_SCRIPT = f"""\
\\set d random(1, {REF_ACCOUNTS})
\\set c 1 + (:d + random(0, {REF_ACCOUNTS - 2})) % {REF_ACCOUNTS}
\\set lo least(:d, :c)
\\set hi greatest(:d, :c)
\\set delta CASE WHEN :lo = :d THEN -1 ELSE 1 END
\\startpipeline
BEGIN;
UPDATE bench_ref_accounts SET balance = balance + :delta WHERE id = :lo;
UPDATE bench_ref_accounts SET balance = balance - :delta WHERE id = :hi;
INSERT INTO bench_ref_entries (debit_id, credit_id, amount) VALUES (:d, :c, 1);
COMMIT;
\\endpipeline
"""


REF_DROP = "DROP TABLE IF EXISTS bench_ref_accounts, bench_ref_entries"


def pgbench_env(url: str) -> tuple[str, dict[str, str]]:
    """The conninfo pgbench takes as its database argument, and its environment.

    The URL may name a unix socket folder (host=/path in its query) or a TCP host; libpq reads
    either from the URI itself. The password goes through PGPASSWORD, not the command line."""
    parsed = make_url(embedded.libpq_url(url))
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    conninfo = parsed.set(password=None).render_as_string(hide_password=False)
    return conninfo, env


def reference_tps(url: str, *, seconds: float, clients: int) -> float:
    with (err.status("pgbench: creating its scratch tables"),
          psycopg.connect(url, autocommit=True) as conn):
        conn.execute(REF_DROP)
        conn.execute("CREATE TABLE bench_ref_accounts"
                     " (id integer PRIMARY KEY, balance bigint NOT NULL)")
        conn.execute("CREATE TABLE bench_ref_entries"
                     " (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                     " debit_id integer NOT NULL, credit_id integer NOT NULL,"
                     " amount bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now())")
        conn.execute("INSERT INTO bench_ref_accounts SELECT g, 0 FROM generate_series(1, %s) g",
                     (REF_ACCOUNTS,))
        conn.execute("VACUUM ANALYZE bench_ref_accounts")
    try:
        checkpoint(url)
        conninfo, env = pgbench_env(url)
        threads = max(1, min(clients, os.cpu_count() or 1))
        duration = max(1, round(seconds))
        with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="gullak_bench_") as script:
            script.write(PGBENCH_SCRIPT)
            script.flush()
            command = [str(embedded.bin_path() / "pgbench"), "-n", "-M", "prepared",
                       "-c", str(clients), "-j", str(threads), "-T", str(duration),
                       "-f", script.name, conninfo]
            with time_bar(f"pgbench ({clients} clients)", duration):
                done = subprocess.run(command, env=env, capture_output=True, text=True,
                                      timeout=duration + 120)
        if done.returncode != 0:
            raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stderr}{done.stdout}")
        match = re.search(r"^tps = ([0-9.]+)", done.stdout, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no tps in pgbench's output:\n{done.stdout}")
        return float(match.group(1))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(REF_DROP)


# -- the unit of work against the driver's own transaction ---------------------------------

async def unit_cost(url: str, clients: int) -> tuple[float, float, float]:
    """Client CPU (user + system, µs) per unit that runs `SELECT 1`, `clients` at once in this
    one process: Gullak's unit of work on its driver connection (as the ledger's commands
    run), psycopg's own `conn.transaction()` on a pooled connection, and the unit of work
    through SQLAlchemy's `session.execute`. Medians of alternated rounds."""
    db = Database(url, pool_size=clients, max_overflow=0)
    pool = AsyncConnectionPool(url, min_size=clients, max_size=clients, open=False)
    await pool.open(wait=True)

    async def uow() -> None:
        async with unit_of_work(db) as session:
            assert isinstance(session, UnitSession)
            await session.driver.execute("SELECT 1")

    async def bare() -> None:
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT 1")

    select_1 = text("SELECT 1")

    async def orm() -> None:
        async with unit_of_work(db) as session:
            await session.execute(select_1)

    async def cpu_per_unit(unit: Callable[[], Awaitable[None]]) -> float:
        async def client(n: int) -> None:
            for _ in range(n):
                await unit()

        started = time.process_time()
        await asyncio.gather(*(client(UNITS // clients) for _ in range(clients)))
        return (time.process_time() - started) / (UNITS // clients * clients) * 1e6

    try:
        samples: dict[str, list[float]] = {"uow": [], "bare": [], "orm": []}
        with err.status("unit of work against psycopg's transaction"):
            for unit in (uow, bare, orm):  # connections opened, statements prepared
                await asyncio.gather(*(unit() for _ in range(clients * 2)))
            for _ in range(UNIT_ROUNDS):
                for name, unit in (("uow", uow), ("bare", bare), ("orm", orm)):
                    samples[name].append(await cpu_per_unit(unit))
    finally:
        await pool.close()
        await db.dispose()
    return (statistics.median(samples["uow"]), statistics.median(samples["bare"]),
            statistics.median(samples["orm"]))


# -- Gullak: accounts and funds -------------------------------------------------------------

class Setup(NamedTuple):
    issuance: uuid.UUID
    pools: list[list[uuid.UUID]]  # one per client, disjoint
    history: uuid.UUID  # the account whose entries are read back


async def prepare(url: str, clients: int) -> Setup:
    db = Database(url, pool_size=OPENERS, max_overflow=0)
    try:
        async with unit_of_work(db) as session:
            await service.create_asset(session, AssetIn(code=ASSET, name="Bench coin",
                                                        kind=AssetKind.coin, scale=0))
            issuance = (await service.platform_account(session, ASSET, "issuance")).id
            history = (await service.user_account(session, uuid.uuid4(), ASSET)).id
        with progress_bar() as bar:
            task = bar.add_task("opening user accounts", total=clients * POOL)
            accounts = await open_accounts(db, clients * POOL, lambda: bar.advance(task))
        pools = [accounts[i * POOL:(i + 1) * POOL] for i in range(clients)]
        with progress_bar() as bar:
            task = bar.add_task("funding them (service.post)", total=len(accounts))
            for start in range(0, len(accounts), BATCH):
                chunk = accounts[start:start + BATCH]
                async with unit_of_work(db) as session:
                    await service.post(session, [
                        TransferIn(debit_account_id=issuance, credit_account_id=a,
                                   asset_code=ASSET, amount=FUNDING, kind="earn")
                        for a in chunk])
                bar.advance(task, len(chunk))
        return Setup(issuance, pools, history)
    finally:
        await db.dispose()


async def open_accounts(db: Database, n: int, opened: Callable[[], None]) -> list[uuid.UUID]:
    """n user accounts through the service, a few connections at once, 100 per commit."""
    owners = [uuid.uuid4() for _ in range(n)]
    chunks = [owners[i:i + 100] for i in range(0, n, 100)]
    found: dict[uuid.UUID, uuid.UUID] = {}

    async def opener() -> None:
        while chunks:
            chunk = chunks.pop()
            async with unit_of_work(db) as session:
                for owner in chunk:
                    found[owner] = (await service.user_account(session, owner, ASSET)).id
                    opened()

    await asyncio.gather(*(opener() for _ in range(OPENERS)))
    return [found[o] for o in owners]


# -- Gullak: the timed write workloads ------------------------------------------------------

Op = Callable[[Database, random.Random], Awaitable[int]]


def make_op(workload: str, pool: list[uuid.UUID], issuance: uuid.UUID,
            poster: Poster | None = None) -> Op:
    """One client's next unit of work; returns how many transfers it posted."""

    async def cold_group(db: Database, rng: random.Random) -> int:
        # A standalone transfer, committed before it returns; concurrent ones share commits.
        assert poster is not None
        debit, credit = rng.sample(pool, 2)
        await poster.transfer(TransferIn(debit_account_id=debit, credit_account_id=credit,
                                         asset_code=ASSET, amount=1, kind="transfer"))
        return 1

    async def hot_group(db: Database, rng: random.Random) -> int:
        assert poster is not None
        await poster.transfer(TransferIn(debit_account_id=issuance,
                                         credit_account_id=rng.choice(pool),
                                         asset_code=ASSET, amount=1, kind="earn"))
        return 1

    async def cold(db: Database, rng: random.Random) -> int:
        debit, credit = rng.sample(pool, 2)
        async with unit_of_work(db) as session:
            await service.transfer(session, TransferIn(
                debit_account_id=debit, credit_account_id=credit, asset_code=ASSET,
                amount=1, kind="transfer"))
        return 1

    async def keyed(db: Database, rng: random.Random) -> int:
        # What the HTTP API does for every transfer: it requires an Idempotency-Key.
        debit, credit = rng.sample(pool, 2)
        async with unit_of_work(db) as session:
            await autocommit(session)  # as the API runs a ledger command
            await service.transfer(session, TransferIn(
                debit_account_id=debit, credit_account_id=credit, asset_code=ASSET,
                amount=1, kind="transfer"), idempotency_key=f"bench:{uuid.uuid4().hex}")
        return 1

    async def hot(db: Database, rng: random.Random) -> int:
        async with unit_of_work(db) as session:
            await service.transfer(session, TransferIn(
                debit_account_id=issuance, credit_account_id=rng.choice(pool),
                asset_code=ASSET, amount=1, kind="earn"))
        return 1

    async def batch(db: Database, rng: random.Random) -> int:
        moves = []
        for _ in range(BATCH):
            debit, credit = rng.sample(pool, 2)
            moves.append(TransferIn(debit_account_id=debit, credit_account_id=credit,
                                    asset_code=ASSET, amount=1, kind="transfer"))
        async with unit_of_work(db) as session:
            await service.post(session, moves)
        return BATCH

    return {"cold": cold_group, "hot": hot_group, "cold_session": cold, "hot_session": hot,
            "keyed": keyed, "batch": batch}[workload]


class Share(NamedTuple):
    transfers: int
    started: float  # time.monotonic(): one clock for every process on the machine
    finished: float


async def drive(url: str, workload: str, setup: Setup, clients: Sequence[int], seconds: float,
                ready: Callable[[], None]) -> Share:
    """Run these clients (indexes into setup.pools) as coroutines until the deadline."""
    db = Database(url, pool_size=len(clients), max_overflow=0)
    poster = await Poster(url, connections=POSTER_CONNECTIONS).open() \
        if workload in ("cold", "hot") else None
    try:
        ops = [make_op(workload, setup.pools[i], setup.issuance, poster) for i in clients]
        rngs = [random.Random(i) for i in clients]
        warm = WARMUP_OPS if workload != "batch" else 1
        await asyncio.gather(*(warm_up(op, db, rng, warm) for op, rng in zip(ops, rngs)))
        await asyncio.get_running_loop().run_in_executor(None, ready)
        started = time.monotonic()
        deadline = started + seconds

        async def client(op: Op, rng: random.Random) -> int:
            done = 0
            while time.monotonic() < deadline:
                done += await op(db, rng)
            return done

        counts = await asyncio.gather(*(client(op, rng) for op, rng in zip(ops, rngs)))
        return Share(sum(counts), started, time.monotonic())
    finally:
        if poster is not None:
            await poster.close()
        await db.dispose()


async def warm_up(op: Op, db: Database, rng: random.Random, times: int) -> None:
    for _ in range(times):
        await op(db, rng)


def worker(url: str, workload: str, setup: Setup, clients: list[int], seconds: float,
           barrier: Any, results: Any) -> None:
    """One client process (forked): its own event loop, engine and connections."""
    try:
        share = run_async(drive(url, workload, setup, clients, seconds,
                                lambda: barrier.wait(timeout=300)))
        # A plain tuple: the parent cannot unpickle this module's classes (the CLI loads the
        # module from a path, so it is not importable by name).
        results.put(("ok", tuple(share)))
    except BaseException as exc:
        results.put(("error", f"{type(exc).__name__}: {exc}"))
        barrier.abort()  # a parent still waiting at the start learns it now, not at timeout


def timed(url: str, workload: str, setup: Setup, *, seconds: float, processes: int) -> float:
    """Transfers per second of one workload, over all client processes."""
    count = len(setup.pools)
    checkpoint(url)
    # fork: the children inherit the setup and this module (the CLI loads it from a path,
    # which a spawned child could not import), and start their own loops and engines.
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    groups = [list(range(count))[p::processes] for p in range(processes)]
    groups = [g for g in groups if g]
    barrier = ctx.Barrier(len(groups) + 1)
    children = [ctx.Process(target=worker, args=(url, workload, setup, g, seconds, barrier,
                                                 results), daemon=True) for g in groups]
    for child in children:
        child.start()
    try:
        with err.status(f"{workload}: {count} clients connecting and warming up"):
            try:
                barrier.wait(timeout=300)
            except threading.BrokenBarrierError:
                status, value = results.get(timeout=10)
                raise RuntimeError(f"{workload} workload failed: {value}") from None
        with time_bar(f"{workload} ({count} clients)", seconds):
            shares: list[Share] = []
            while len(shares) < len(children):
                try:
                    status, value = results.get(timeout=1.0)
                except queue.Empty:
                    if any(c.exitcode not in (None, 0) for c in children):
                        raise RuntimeError(f"a {workload} client process died") from None
                    continue
                if status != "ok":
                    raise RuntimeError(f"{workload} workload failed: {value}")
                shares.append(Share(*value))
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.terminate()
                child.join()
    elapsed = max(s.finished for s in shares) - min(s.started for s in shares)
    return sum(s.transfers for s in shares) / elapsed


# -- Gullak: reads --------------------------------------------------------------------------

def build_history(url: str, setup: Setup, entries: int) -> tuple[uuid.UUID, tuple[int, int]]:
    """One user account with `entries` entries: three earns from issuance for every spend to
    another user, posted by the ledger's own trigger, a statement per chunk. Their ids are
    spread evenly from `HISTORY_MONTHS` months ago to now, oldest first, so the entries fill a
    monthly partition each month (their times are now: the trigger keeps each balance row's
    times in entry order). Returns the account and the range of seq its entries span (any seq
    in it is a valid cursor)."""
    other = setup.pools[-1][-1]
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT now() - make_interval(months => %s), now()",
                           (HISTORY_MONTHS,)).fetchone()
        assert row is not None
        start, now = row
        conn.execute("SELECT gullak_create_partitions('ledger_transfers', %s, %s)", (start, now))
        step = (now - start) / entries
        history = setup.history
        statement = """
            INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
                credit_account_id, amount, kind, debit_balance_after, credit_balance_after,
                created_at)
            SELECT gullak_uuid7(%(start)s + (%(offset)s + g) * %(step)s), 0, gullak_uuid7(),
                   %(asset)s,
                   CASE WHEN mod(%(offset)s + g, 4) = 0 THEN %(history)s ELSE %(issuance)s END,
                   CASE WHEN mod(%(offset)s + g, 4) = 0 THEN %(other)s ELSE %(history)s END,
                   1, CASE WHEN mod(%(offset)s + g, 4) = 0 THEN 'spend' ELSE 'earn' END,
                   0, 0, clock_timestamp()
            FROM generate_series(1, %(n)s) AS g
            RETURNING seq
        """
        first = last = 0
        with progress_bar() as bar:
            task = bar.add_task(f"history: {entries:,} entries", total=entries)
            done = 0
            while done < entries:
                n = min(BUILD_CHUNK, entries - done)
                seqs = [r[0] for r in conn.execute(statement, {
                    "asset": ASSET, "history": history, "issuance": setup.issuance,
                    "other": other, "offset": done, "n": n, "start": start,
                    "step": step}).fetchall()]
                first = first or min(seqs)
                last = max(seqs)
                done += n
                bar.advance(task, n)
        with err.status("analyzing the ledger tables"):
            conn.execute("ANALYZE ledger_transfers, ledger_balances, ledger_accounts")
    return history, (first, last)


async def read_latency(url: str, setup: Setup, account: uuid.UUID, seqs: tuple[int, int],
                       seconds: float) -> tuple[float, float, float]:
    """In ms, p99 of balance reads and p50 and p99 of history pages: one client's reads, each
    its own unit of work, with nothing else running."""
    db = Database(url, pool_size=1, max_overflow=0)
    rng = random.Random(7)
    everyone = [a for pool in setup.pools for a in pool]
    first, last = seqs

    async def balance() -> None:
        async with unit_of_work(db) as session:
            await service.balance(session, rng.choice(everyone))

    turn = 0

    async def page() -> None:
        # Alternately the newest page and a page at a random depth, as a client following
        # next_cursor from anywhere in the history would ask for it.
        nonlocal turn
        turn += 1
        cursor = None if turn % 2 else str(rng.randint(first, last + 1))
        async with unit_of_work(db) as session:
            result = await service.history(session, account, cursor=cursor)
        assert result.entries or cursor is not None

    try:
        balance_ms = await sample(balance, seconds, "balance reads")
        history_ms = await sample(page, seconds, "history pages")
    finally:
        await db.dispose()
    return p99(balance_ms), statistics.median(history_ms), p99(history_ms)


async def sample(call: Callable[[], Awaitable[None]], seconds: float, label: str) -> list[float]:
    for _ in range(50):  # connection, prepared statements, caches
        await call()
    times: list[float] = []
    with time_bar(label, seconds):
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            await call()
            times.append((time.perf_counter() - t0) * 1000)
    return times


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


# -- output ---------------------------------------------------------------------------------

def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed:,}/{task.total:,}"), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=err, transient=True,
                    disable=not err.is_terminal)


class WallBar(BarColumn):
    """A bar that fills with the task's wall time: the work it stands for runs elsewhere."""

    def render(self, task: Task) -> ProgressBar:
        total = task.total or 1.0
        return ProgressBar(total=total, completed=min(total, task.elapsed or 0.0),
                           width=self.bar_width, style=self.style,
                           complete_style=self.complete_style,
                           finished_style=self.finished_style, pulse_style=self.pulse_style)


@contextlib.contextmanager
def time_bar(label: str, seconds: float) -> Iterator[None]:
    bar = Progress(TextColumn(label), WallBar(), TimeElapsedColumn(), console=err,
                   transient=True, disable=not err.is_terminal)
    bar.add_task(label, total=seconds)
    with bar:
        yield


def print_table(results: dict[str, Any]) -> None:
    table = Table(title="gullak bench ledger",
                  caption=f"{results['clients']} clients in {results['processes']} client "
                          f"process(es), {results['seconds']:g} s per workload, "
                          f"{results['entries']:,} history entries, whole run "
                          f"{results['elapsed_s']} s")
    table.add_column("field")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("met", justify="center")
    for name in ("pgbench_tps", "cold_tps", "hot_tps", "batch_tps", "cold_ratio", "hot_ratio",
                 "balance_read_p99_ms", "history_page_p50_ms", "history_page_p99_ms",
                 "cold_keyed_tps",
                 "cold_session_tps", "hot_session_tps", "session_ratio", "keyed_ratio",
                 "uow_empty_us", "psycopg_tx_us", "uow_ratio", "uow_orm_us"):
        value = results[name]
        shown = f"{value:,.3f}" if isinstance(value, float) and value < 100 else f"{value:,.0f}"
        target, met = "", ""
        if name in TARGETS:
            op, bound = TARGETS[name]
            target = f"{op} {bound:g}"
            ok = value >= bound if op == ">=" else value <= bound
            met = "[green]yes[/green]" if ok else "[red]no[/red]"
        table.add_row(name, shown, target, met)
    table.add_row("verified", "yes" if results["verified"] else "[red]NO[/red]", "yes",
                  "[green]yes[/green]" if results["verified"] else "[red]no[/red]")
    Console().print(table)
