"""Console jobs: forget browser sessions that ended or expired a while ago."""

from __future__ import annotations

import datetime as dt

from gullak.console import service
from gullak.db.uow import unit_of_work
from gullak.worker import queue, worker_db


@queue.periodic(cron="53 3 * * *", periodic_id="console_prune_sessions")
@queue.task(name="console.prune_sessions", queueing_lock="console.prune_sessions")
async def prune_sessions(timestamp: int) -> int:
    """Daily: console sessions over for a week go (their sign-ins stay in the audit log)."""
    async with unit_of_work(worker_db()) as session:
        return await service.prune(session, older_than=dt.timedelta(days=7))
