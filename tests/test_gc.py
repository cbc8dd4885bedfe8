"""An API process keeps what it started with out of the garbage collector's way."""

from __future__ import annotations

import gc

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.settings import Settings


async def test_the_started_app_is_frozen_out_of_full_collections(
        settings: Settings, db: Database) -> None:
    app = create_app(settings, db)
    gc.unfreeze()
    try:
        async with app.router.lifespan_context(app):
            # Routes, models and pools, made at start, are no longer walked by a collection.
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
