"""Exports stream: what an export holds in memory does not grow with the period's size. Ten
times the rows may not take much more than the smaller export's peak (Python's allocations,
measured with tracemalloc), in either format."""

from __future__ import annotations

import datetime as dt
import tracemalloc

import pytest

from gullak.db.engine import Database
from gullak.exports import runner
from gullak.settings import Settings
from tests.exports.support import bulk_orders

SMALL, LARGE = 5_000, 50_000


async def peak(db: Database, settings: Settings, day: dt.date, fmt: str) -> tuple[int, int]:
    """(rows exported, peak bytes allocated while exporting)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        done = await runner.export_now(db, settings, "orders", day,
                                       day + dt.timedelta(days=1), fmt)
        return done.rows or 0, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_memory_stays_flat_as_the_period_grows(fresh_db: Database, settings: Settings,
                                                     fmt: str) -> None:
    await bulk_orders(fresh_db, SMALL, "2026-11-01")
    await bulk_orders(fresh_db, LARGE, "2026-11-02")
    # Parquet holds one row group: the same, full size in both exports.
    here = settings.model_copy(update={"export_parquet_row_group": 5_000})
    await peak(fresh_db, here, dt.date(2026, 10, 1), fmt)  # imports and caches, warmed

    small_rows, small_peak = await peak(fresh_db, here, dt.date(2026, 11, 1), fmt)
    large_rows, large_peak = await peak(fresh_db, here, dt.date(2026, 11, 2), fmt)

    assert (small_rows, large_rows) == (SMALL, LARGE)
    assert large_peak < small_peak * 1.5, (small_peak, large_peak)
