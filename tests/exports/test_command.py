"""`gullak export`: the same export from the command line, logged in the run log."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]
from sqlalchemy import text

from gullak.db.engine import Database
from tests.exports.support import add_orders, at


def gullak(*args: str, tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GULLAK_")}
    env.update(GULLAK_DATABASE_URL=url, GULLAK_DATA_DIR=str(tmp_path / "data"),
               GULLAK_LOG_FORMAT="json")
    return subprocess.run([sys.executable, "-m", "gullak.cli", "export", *args], env=env,
                          capture_output=True, text=True, timeout=120)


async def test_the_command_writes_the_file_and_logs_the_run(fresh_db: Database,
                                                            tmp_path: Path) -> None:
    ids = await add_orders(fresh_db, [at("2026-11-10", 1), at("2026-11-10", 2),
                                      at("2026-11-11", 0)])
    out = tmp_path / "orders.parquet"

    done = gullak("orders", "--since", "2026-11-10", "--until", "2026-11-11", "--format",
                  "parquet", "--out", str(out), tmp_path=tmp_path, url=fresh_db.url)

    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in pq.read_table(out).to_pylist()] == [str(i) for i in ids[:2]]
    checksum = hashlib.sha256(out.read_bytes()).hexdigest()
    assert checksum in done.stdout
    async with fresh_db.engine.connect() as conn:
        logged = (await conn.execute(text(
            "SELECT status, requested_by_kind, location, row_count, checksum, path"
            " FROM warehouse_exports"))).all()
    assert [tuple(r) for r in logged] == [("done", "cli", "file", 2, checksum,
                                           str(out.resolve()))]


async def test_bad_input_exits_2_and_logs_nothing(fresh_db: Database, tmp_path: Path) -> None:
    for args in (["users", "--since", "2026-11-10", "--until", "2026-11-11"],
                 ["orders", "--since", "2026-11-10", "--until", "2026-11-10"],
                 ["orders", "--since", "yesterday", "--until", "2026-11-10"],
                 ["orders", "--since", "2026-11-10", "--until", "2026-11-11", "--format",
                  "xml"]):
        done = gullak(*args, tmp_path=tmp_path, url=fresh_db.url)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
    async with fresh_db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM warehouse_exports")) == 0
