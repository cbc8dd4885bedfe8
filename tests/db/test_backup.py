"""Backups: a database with traffic in it, backed up and restored elsewhere, is the same
database (every table's rows, every balance, the migration) and its ledger verifies; a backup
taken under writes is one snapshot; restore never touches a database that is not empty; a
failed backup leaves no file behind."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from gullak import seed
from gullak.db import backup, embedded, migrate
from gullak.db.backup import Archive, Tool
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetIn, AssetKind, TransferIn
from tests.helpers.ledger import verified


async def open_accounts(db: Database, asset: str, users: int = 8) -> list[uuid.UUID]:
    """Ledger accounts of new users, each funded from the asset's issuance account."""
    async with unit_of_work(db) as session:
        issuance = await ledger.platform_account(session, asset, "issuance")
        accounts = [(await ledger.user_account(session, uuid.uuid4(), asset)).id
                    for _ in range(users)]
        await ledger.post(session, [
            TransferIn(debit_account_id=issuance.id, credit_account_id=a, asset_code=asset,
                       amount=100_000, kind="earn") for a in accounts])
    return accounts


async def pay(db: Database, rng: random.Random, accounts: list[uuid.UUID], asset: str) -> None:
    debit, credit = rng.sample(accounts, 2)
    async with unit_of_work(db) as session:
        await ledger.transfer(session, TransferIn(
            debit_account_id=debit, credit_account_id=credit, asset_code=asset,
            amount=rng.randint(1, 50), kind="transfer"))


def rows(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(embedded.libpq_url(url)) as conn:
        return conn.execute(query, args).fetchall()


def row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(embedded.libpq_url(url)) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        return {name: conn.execute(sql.SQL("SELECT count(*) FROM public.{}").format(
            sql.Identifier(name))).fetchone()[0] for name in names}  # type: ignore[index]


def balances(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT account_id, sum(balance), sum(held) FROM ledger_balances "
                     "GROUP BY account_id ORDER BY account_id")


def transfers(url: str) -> int:
    return int(rows(url, "SELECT count(*) FROM ledger_transfers")[0][0])


@contextmanager
def new_database(admin_url: str) -> Iterator[str]:
    name = f"gullak_test_restore_{uuid.uuid4().hex[:10]}"
    embedded.ensure_database(admin_url, name)
    try:
        yield embedded.with_database(admin_url, name)
    finally:
        embedded.drop_database(admin_url, name)


async def test_round_trip_with_traffic(fresh_db: Database, admin_url: str,
                                       tmp_path: Path) -> None:
    await seed.load(fresh_db)
    accounts = await open_accounts(fresh_db, "REZ")
    rng = random.Random(17)
    for _ in range(60):
        await pay(fresh_db, rng, accounts, "REZ")
    file = tmp_path / "gullak.dump"
    seen: list[tuple[int, int]] = []

    made = backup.backup(fresh_db.url, file, progress=lambda done, total: seen.append((done, total)))

    assert file.is_file() and not file.with_name("gullak.dump.part").exists()
    assert made.size == file.stat().st_size
    assert made.tables == backup.count_tables(fresh_db.url) == seen[-1][0] == seen[-1][1]
    assert made.revision == ", ".join(sorted(migrate.heads()))
    with new_database(admin_url) as url:
        restored = backup.restore(url, file, jobs=2)
        assert restored.entries > made.tables
        assert await verified(url)
        counts = row_counts(url)
        assert counts == row_counts(fresh_db.url)
        assert sum(1 for n in counts.values() if n) > 40  # the demo data filled many tables
        assert balances(url) == balances(fresh_db.url)
        assert len(balances(url)) > len(accounts)
        assert migrate.current(url) == migrate.current(fresh_db.url) == migrate.heads()


@asynccontextmanager
async def gate(url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A table locked by a transaction of its own: pg_dump, which locks every table after
    taking its snapshot, waits there until the transaction ends."""
    async with await psycopg.AsyncConnection.connect(embedded.libpq_url(url),
                                                     autocommit=True) as conn:
        await conn.execute("CREATE TABLE backup_gate ()")
        await conn.execute("BEGIN")
        await conn.execute("LOCK TABLE backup_gate IN ACCESS EXCLUSIVE MODE")
        yield conn


async def waiting_pid(url: str) -> int:
    """The server process of the pg_dump that waits at the gate."""
    async with await psycopg.AsyncConnection.connect(embedded.libpq_url(url),
                                                     autocommit=True) as conn:
        for _ in range(1200):
            row = await (await conn.execute(
                "SELECT pid FROM pg_locks WHERE NOT granted "
                "AND relation = 'backup_gate'::regclass")).fetchone()
            if row:
                return int(row[0])
            await asyncio.sleep(0.05)
    raise AssertionError("pg_dump never reached the locked table")


async def test_backup_under_writes_is_one_snapshot(fresh_db: Database, admin_url: str,
                                                   tmp_path: Path) -> None:
    async with unit_of_work(fresh_db) as session:
        await ledger.create_asset(session, AssetIn(code="COIN", name="Coins", kind=AssetKind.coin,
                                                   scale=0))
    accounts = await open_accounts(fresh_db, "COIN")
    stop = asyncio.Event()
    rng = random.Random(3)

    async def write() -> None:
        while not stop.is_set():
            await pay(fresh_db, rng, accounts, "COIN")

    file = tmp_path / "busy.dump"
    writer = asyncio.create_task(write())
    try:
        async with gate(fresh_db.url) as held:
            before = transfers(fresh_db.url)
            dump = asyncio.create_task(asyncio.to_thread(backup.backup, fresh_db.url, file))
            await waiting_pid(fresh_db.url)
            at_snapshot = transfers(fresh_db.url)
            while transfers(fresh_db.url) < at_snapshot + 30:  # written while pg_dump runs
                assert not writer.done(), writer
                await asyncio.sleep(0.05)
            await held.execute("COMMIT")
            await dump
    finally:
        stop.set()
        await writer
    after = transfers(fresh_db.url)
    with new_database(admin_url) as url:
        backup.restore(url, file)
        assert before <= transfers(url) <= at_snapshot < after
        assert await verified(url)


def test_restore_refuses_a_database_that_is_not_empty(fresh_db: Database,
                                                      tmp_path: Path) -> None:
    file = tmp_path / "g.dump"
    backup.backup(fresh_db.url, file)
    with psycopg.connect(embedded.libpq_url(fresh_db.url), autocommit=True) as conn:
        conn.execute("CREATE TABLE public.kept (n int)")
        conn.execute("INSERT INTO public.kept VALUES (7)")
    before = row_counts(fresh_db.url)

    with pytest.raises(backup.Refused, match="not empty"):
        backup.restore(fresh_db.url, file)

    assert row_counts(fresh_db.url) == before
    assert rows(fresh_db.url, "SELECT n FROM public.kept") == [(7,)]


async def test_a_failed_backup_leaves_no_file(fresh_db: Database, tmp_path: Path) -> None:
    file = tmp_path / "cut.dump"
    part = tmp_path / "cut.dump.part"
    async with gate(fresh_db.url):
        dump = asyncio.create_task(asyncio.to_thread(backup.backup, fresh_db.url, file))
        pid = await waiting_pid(fresh_db.url)
        assert part.exists() and not file.exists()  # pg_dump has started writing
        rows(fresh_db.url, "SELECT pg_terminate_backend(%s)", pid)
        with pytest.raises(backup.BackupError):
            await dump
    assert not file.exists() and not part.exists()


def test_an_unreachable_server_leaves_no_file(tmp_path: Path) -> None:
    file = tmp_path / "none.dump"
    with pytest.raises(backup.BackupError, match="cannot connect"):
        backup.backup("postgresql://postgres@127.0.0.1:1/gullak", file)
    assert list(tmp_path.iterdir()) == []


def test_backup_refuses_to_overwrite(tmp_path: Path) -> None:
    file = tmp_path / "old.dump"
    file.write_text("an older backup")
    with pytest.raises(backup.Refused, match="--force"):
        backup.backup("postgresql://postgres@127.0.0.1:1/gullak", file)
    assert file.read_text() == "an older backup"


def tools(*majors: int) -> list[Tool]:
    return [Tool(Path(f"/pg/{m}/bin/pg_dump"), m) for m in majors]


def test_pg_dump_of_the_servers_version_else_the_oldest_newer() -> None:
    assert backup.dump_tool(15, tools(18, 15, 16)) == (tools(15)[0], None)
    tool, note = backup.dump_tool(15, tools(18, 17))
    assert tool.major == 17 and note is not None
    with pytest.raises(backup.Refused, match="PostgreSQL 17 client"):
        backup.dump_tool(17, tools(15, 16))


def test_pg_restore_reads_the_archive_and_matches_the_target() -> None:
    from15 = Archive(entries=10, dumped_by=15, dumped_from=15)
    assert backup.restore_tool(from15, 15, tools(18, 15))[0].major == 15
    assert backup.restore_tool(from15, 18, tools(18, 15))[0].major == 18
    assert backup.restore_tool(from15, 17, tools(18, 15))[0].major == 15
    by18 = Archive(entries=10, dumped_by=18, dumped_from=15)
    with pytest.raises(backup.Refused, match="pg_dump 15"):
        backup.restore_tool(by18, 15, tools(18, 15))  # pg_restore 18 sets what 15 rejects
    with pytest.raises(backup.Refused, match="PostgreSQL 18 or newer"):
        backup.restore_tool(Archive(10, 18, 18), 15, tools(18, 15))


def gullak(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gullak.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_backs_up_and_restores_into_a_new_database(fresh_db: Database, admin_url: str,
                                                       tmp_path: Path) -> None:
    # Trust authentication ignores the password, which must still appear nowhere.
    secret = "s3cret-never-shown"
    url = make_url(fresh_db.url).set(password=secret).render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GULLAK_", "PG"))}
    env.update(GULLAK_DATABASE_URL=url, GULLAK_DATA_DIR=str(tmp_path / "data"))
    file = tmp_path / "cli.dump"
    name = f"gullak_test_cli_{uuid.uuid4().hex[:10]}"
    try:
        made = gullak("db", "backup", str(file), env=env)
        assert made.returncode == 0, made.stderr
        again = gullak("db", "backup", str(file), env=env)
        assert again.returncode == 2 and "--force" in again.stderr
        restored = gullak("db", "restore", str(file), "--create", name, env=env)
        assert restored.returncode == 0, restored.stderr
        assert "ledger verified" in restored.stderr
        refused = gullak("db", "restore", str(file), env=env)
        assert refused.returncode == 2 and "not empty" in refused.stderr
        output = "".join(r.stdout + r.stderr for r in (made, again, restored, refused))
        assert secret not in output
        assert row_counts(embedded.with_database(admin_url, name)) == row_counts(fresh_db.url)
    finally:
        embedded.drop_database(admin_url, name)
