"""Periodic offers work: expire offers past their window, cancel redemptions left pending past
their deadline, and create the monthly partitions of views and clicks ahead of time."""

from __future__ import annotations

from gullak.db.uow import unit_of_work
from gullak.offers import service
from gullak.worker import drain, queue, worker_db

BATCH = 500


@queue.periodic(cron="* * * * *", periodic_id="offers_expire")
@queue.task(name="offers.expire_offers", queueing_lock="offers.expire_offers")
async def expire_offers(timestamp: int) -> int:
    """Every minute; each batch is its own transaction so a backlog commits as it goes."""
    return await drain(service.expire_offers, BATCH)


@queue.periodic(cron="* * * * *", periodic_id="offers_expire_redemptions")
@queue.task(name="offers.expire_redemptions", queueing_lock="offers.expire_redemptions")
async def expire_redemptions(timestamp: int) -> int:
    return await drain(service.expire_redemptions, BATCH)


@queue.periodic(cron="17 3 * * *", periodic_id="offers_partitions")
@queue.task(name="offers.ensure_partitions", queueing_lock="offers.ensure_partitions")
async def ensure_partitions(timestamp: int) -> list[str]:
    """Daily: the partitions of this month and the next `MONTHS_AHEAD` exist well before the
    first row needs them (a missed run has months to catch up)."""
    async with unit_of_work(worker_db()) as session:
        return await service.ensure_partitions(session)
