"""Exports jobs: an export asked for through the API is run by one job, enqueued in the
transaction that logged it; and, when GULLAK_EXPORT_WAREHOUSE_ENABLED is on, a daily job
exports yesterday's datasets for the warehouse."""

from __future__ import annotations

import datetime as dt
import uuid

from gullak.exports import runner
from gullak.settings import get_settings
from gullak.worker import queue, worker_db


@queue.task(name="exports.run")
async def run(export_id: str) -> str:
    """A run is claimed before it is written: a second delivery of the job writes nothing."""
    done = await runner.execute(worker_db(), get_settings(), uuid.UUID(export_id))
    return done.status


@queue.periodic(cron="30 1 * * *", periodic_id="exports_warehouse")
@queue.task(name="exports.warehouse", queueing_lock="exports.warehouse")
async def warehouse(timestamp: int) -> int:
    """Daily at 01:30 UTC, after analytics has summarised yesterday (UTC): that day of each
    configured dataset; how many ran."""
    settings = get_settings()
    if not settings.export_warehouse_enabled:
        return 0
    yesterday = dt.datetime.fromtimestamp(timestamp, dt.UTC).date() - dt.timedelta(days=1)
    return len(await runner.warehouse_day(worker_db(), settings, yesterday))
