"""`gullak bench exports`: how fast a period's orders become a file, in a scratch database
(gullak_bench_<random>) on the given URL's server, migrated and dropped at the end.

`rows` orders of one day are written by the server in one statement, then exported, each way
`rounds` times, timed whole (best run kept):

- copy: PostgreSQL's own `COPY (SELECT the same columns ...) TO STDOUT (FORMAT csv)`, read by
  psycopg and hashed (the reference: the server's CSV and the driver's transfer alone);
- csv: `gullak export orders --format csv` (the run log, the server-side cursor, the csv
  module, the SHA-256 and the file);
- parquet: the same as Parquet (zstd, row groups of GULLAK_EXPORT_PARQUET_ROW_GROUP).

The figures are rows per second and each way's time as a ratio of the reference.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import tempfile
import time
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from gullak import domains
from gullak.cli import bench_module
from gullak.db.engine import Database
from gullak.exports import runner
from gullak.orders import service as orders
from gullak.settings import Settings

err = Console(stderr=True)
DAY = dt.date(2026, 1, 1)


async def _fill(db: Database, rows: int) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO orders (id, number, user_id, merchant_id, kind, status, fulfilment,"
            " currency, subtotal, discount, delivery_fee, tax, total, coupon_code, created_at,"
            " updated_at)"
            " SELECT gen_random_uuid(), 'ORD-BENCH-' || g, gen_random_uuid(),"
            " gen_random_uuid(), 'purchase', 'completed', 'delivery', 'INR', g, 0, 0, 0, g,"
            " 'CODE,\"' || g, TIMESTAMPTZ '2026-01-01 00:00:00+00' + g * interval '1 ms',"
            " TIMESTAMPTZ '2026-01-01 00:00:00+00' FROM generate_series(1, :rows) AS g"),
            {"rows": rows})
        await conn.execute(text("ANALYZE orders"))


def _copy(url: str) -> float:
    columns = ", ".join(orders.EXPORT_COLUMNS)
    start = time.perf_counter()
    digest = hashlib.sha256()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY (SELECT {columns} FROM orders WHERE created_at >= '2026-01-01'"
                      " AND created_at < '2026-01-02' ORDER BY created_at, id)"
                      " TO STDOUT (FORMAT csv, HEADER)") as copy:
            for chunk in copy:
                digest.update(chunk)
    return time.perf_counter() - start


async def _export(db: Database, settings: Settings, fmt: str) -> float:
    start = time.perf_counter()
    done = await runner.export_now(db, settings, "orders", DAY, DAY + dt.timedelta(days=1), fmt)
    assert done.status == "done", done.error
    return time.perf_counter() - start


async def _run(url: str, rows: int, rounds: int, folder: Path) -> dict[str, float]:
    domains.install()
    db = Database(url, pool_size=2, max_overflow=0)
    settings = Settings(env="test", data_dir=folder, export_dir=folder / "exports")
    try:
        with err.status(f"writing {rows:,} orders"):
            await _fill(db, rows)
        best: dict[str, float] = {}
        for _ in range(rounds):
            with err.status("exporting"):
                best["copy"] = min(best.get("copy", 1e9), await asyncio.to_thread(_copy, url))
                for fmt in ("csv", "parquet"):
                    best[fmt] = min(best.get(fmt, 1e9), await _export(db, settings, fmt))
        return best
    finally:
        await db.dispose()


def main(url: str, *, rows: int = 200_000, rounds: int = 3, json_out: bool = False) -> None:
    scratch = bench_module("scratch")
    with scratch.scratch_database(url) as bench_url, tempfile.TemporaryDirectory() as folder:
        best = asyncio.run(_run(bench_url, rows, rounds, Path(folder)))
    figures = {name: {"seconds": round(s, 3), "rows_per_s": round(rows / s),
                      "ratio": round(s / best["copy"], 2)} for name, s in best.items()}
    if json_out:
        print(json.dumps({"rows": rows, "rounds": rounds, **figures}))
        return
    table = Table(title=f"exports: {rows:,} orders, best of {rounds}")
    for column in ("way", "seconds", "rows/s", "× copy"):
        table.add_column(column)
    for name, f in figures.items():
        table.add_row(name, str(f["seconds"]), f"{f['rows_per_s']:,}", str(f["ratio"]))
    Console().print(table)
