"""`gullak serve --workers 2`: two API processes answer on one port, a revocation made through
one reaches both, and SIGTERM stops them all."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gullak.access import service as access
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from tests.helpers.admins import Key, make_key
from tests.test_cli import base_env, free_port


def children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def statuses(url: str, key: Key, n: int = 32) -> list[int]:
    # Concurrent requests on separate connections, so that both processes take some.
    async def one() -> int:
        async with httpx.AsyncClient() as client:
            return (await client.get(url, headers=key.headers, timeout=10)).status_code

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def test_serve_runs_several_processes_and_stops_them_all(
        fresh_db: Database, tmp_path: Path) -> None:
    async with unit_of_work(fresh_db) as session:
        key = await make_key(session, "ledger.read")
    port, log = free_port(), tmp_path / "serve.log"
    env = base_env(tmp_path, fresh_db.url)
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gullak.cli", "serve", "--workers", "2",
                                 "--port", str(port)], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1/ledger/assets"
    try:
        deadline = time.monotonic() + 60
        while len(children(proc.pid)) < 2 or not await _healthy(port):
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            await asyncio.sleep(0.2)
        api = children(proc.pid)
        assert len(api) >= 2

        assert set(await statuses(url, key)) == {200}
        # Revoked as another process would: both API processes refuse the key from now on.
        async with unit_of_work(fresh_db) as session:
            await access.revoke_api_key(session, key.id)
        started = time.monotonic()
        while 200 in await statuses(url, key, 4):
            assert time.monotonic() - started < 5, "a process kept the revoked key"
        assert set(await statuses(url, key)) == {401}

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    answered = {x["pid"] for x in lines if x.get("event") == "request"}
    assert len(answered) >= 2 and answered <= api, (answered, api)
    assert proc.pid not in answered
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in api):
        assert time.monotonic() < deadline, [pid for pid in api if alive(pid)]
        await asyncio.sleep(0.1)
    assert "Traceback" not in log.read_text()


async def _healthy(port: int) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://127.0.0.1:{port}/health", timeout=1)).status_code == 200
    except httpx.TransportError:
        return False


