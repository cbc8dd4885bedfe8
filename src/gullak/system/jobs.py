"""Housekeeping: the job queue, rate limits, and the monthly partitions made ahead."""

from __future__ import annotations

import datetime as dt

import procrastinate
from procrastinate import builtin_tasks

from gullak.db import partitions
from gullak.db.uow import unit_of_work
from gullak.system import service
from gullak.worker import queue, worker_db


@queue.periodic(cron="17 3 * * *", periodic_id="prune_finished_jobs")
@queue.task(name="system.prune_finished_jobs", queueing_lock="system.prune_finished_jobs",
            pass_context=True)
async def prune_finished_jobs(context: procrastinate.JobContext, timestamp: int) -> None:
    """Daily: forget succeeded jobs older than a week so the queue table stays small."""
    await builtin_tasks.remove_old_jobs(context, max_hours=24 * 7, remove_failed=False)


@queue.periodic(cron="41 * * * *", periodic_id="prune_rate_limits")
@queue.task(name="system.prune_rate_limits", queueing_lock="system.prune_rate_limits")
async def prune_rate_limits(timestamp: int) -> int:
    """Hourly: drop rate limit windows that ended long ago."""
    async with unit_of_work(worker_db()) as session:
        return await service.prune_rate_limits(session, older_than=dt.timedelta(days=1))


@queue.periodic(cron="23 3 * * *", periodic_id="ensure_partitions")
@queue.task(name="system.ensure_partitions", queueing_lock="system.ensure_partitions")
async def ensure_partitions(timestamp: int) -> list[str]:
    """Daily: every table partitioned by month of its id has its partitions up to
    `MONTHS_AHEAD` months ahead, so a missed run (or one that could not get its lock) has
    months to catch up before an insert finds no partition."""
    async with unit_of_work(worker_db()) as session:
        return await partitions.ensure(session)
