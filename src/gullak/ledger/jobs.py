"""Periodic ledger work: expire holds past their deadline, sweep expired lots to breakage."""

from __future__ import annotations

from gullak.db.uow import unit_of_work
from gullak.ledger import service
from gullak.worker import queue, worker_db

BATCH = 500


@queue.periodic(cron="* * * * *", periodic_id="expire_holds")
@queue.task(name="ledger.expire_holds", queueing_lock="ledger.expire_holds")
async def expire_holds(timestamp: int) -> int:
    """Every minute; each batch is its own transaction so a long backlog commits as it goes."""
    total = 0
    while True:
        async with unit_of_work(worker_db()) as session:
            done = await service.expire_holds(session, limit=BATCH)
        total += done
        if done < BATCH:
            return total


@queue.periodic(cron="* * * * *", periodic_id="expire_lots")
@queue.task(name="ledger.expire_lots", queueing_lock="ledger.expire_lots")
async def expire_lots(timestamp: int) -> int:
    total = 0
    while True:
        async with unit_of_work(worker_db()) as session:
            done = await service.expire_lots(session, limit=BATCH)
        total += done
        if done < BATCH:
            return total
