"""Queue housekeeping."""

from __future__ import annotations

import procrastinate
from procrastinate import builtin_tasks

from gullak.worker import queue


@queue.periodic(cron="17 3 * * *", periodic_id="prune_finished_jobs")
@queue.task(name="system.prune_finished_jobs", queueing_lock="system.prune_finished_jobs",
            pass_context=True)
async def prune_finished_jobs(context: procrastinate.JobContext, timestamp: int) -> None:
    """Daily: forget succeeded jobs older than a week so the queue table stays small."""
    await builtin_tasks.remove_old_jobs(context, max_hours=24 * 7, remove_failed=False)
