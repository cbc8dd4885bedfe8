"""Support background work: flagging tickets whose SLA timers ran out, so the queue's filter
and reports see breaches even on tickets nobody has opened since (reads compute them anyway)."""

from __future__ import annotations

from gullak.db.uow import unit_of_work
from gullak.support import service
from gullak.worker import queue, worker_db


@queue.periodic(cron="*/5 * * * *", periodic_id="support_flag_breaches")
@queue.task(name="support.flag_breaches", queueing_lock="support.flag_breaches")
async def flag_breaches(timestamp: int) -> int:
    """Every five minutes; flagging is one statement per timer and twice is harmless."""
    async with unit_of_work(worker_db()) as session:
        flagged: int = await service.flag_breaches(session)
    return flagged
