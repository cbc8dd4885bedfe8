"""An API process, a worker and a benchmark keep what they started with out of the garbage
collector's way, and collect less often than CPython's defaults (kit/collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gullak import worker
from gullak.app import create_app
from gullak.db.engine import Database
from gullak.kit import collector
from gullak.settings import Settings


@pytest.fixture
def defaults() -> Iterator[None]:
    """CPython's own state before and after: the rest of the suite runs as it always did."""
    before = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.usefixtures("defaults")
async def test_the_started_app_is_frozen_out_of_full_collections(
        settings: Settings, db: Database) -> None:
    app = create_app(settings, db)
    async with app.router.lifespan_context(app):
        # Routes, models and pools, made at start, are no longer walked by a collection.
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold() == collector.THRESHOLDS != (700, 10, 10)


@pytest.mark.usefixtures("defaults")
async def test_a_worker_collects_as_the_api_does(fresh_db: Database) -> None:
    await worker.run(fresh_db.url, concurrency=1, stop_after_idle=True)
    assert gc.get_freeze_count() > 10_000
    assert gc.get_threshold() == collector.THRESHOLDS
