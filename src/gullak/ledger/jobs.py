"""Periodic ledger work: expire holds past their deadline, sweep expired lots to breakage."""

from __future__ import annotations

from gullak.ledger import service
from gullak.worker import drain, queue

BATCH = 500


@queue.periodic(cron="* * * * *", periodic_id="expire_holds")
@queue.task(name="ledger.expire_holds", queueing_lock="ledger.expire_holds")
async def expire_holds(timestamp: int) -> int:
    """Every minute; each batch is its own transaction so a long backlog commits as it goes."""
    return await drain(service.expire_holds, BATCH)


@queue.periodic(cron="* * * * *", periodic_id="expire_lots")
@queue.task(name="ledger.expire_lots", queueing_lock="ledger.expire_lots")
async def expire_lots(timestamp: int) -> int:
    return await drain(service.expire_lots, BATCH)
