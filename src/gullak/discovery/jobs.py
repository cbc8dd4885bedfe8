"""Discovery jobs: popular searches and the spelling dictionary rebuilt every ten minutes, the
search log pruned daily."""

from __future__ import annotations

from gullak.db.uow import unit_of_work
from gullak.discovery import service
from gullak.worker import drain, queue, worker_db


@queue.periodic(cron="*/10 * * * *", periodic_id="discovery_popular")
@queue.task(name="discovery.refresh_popular", queueing_lock="discovery.refresh_popular")
async def refresh_popular(timestamp: int) -> int:
    async with unit_of_work(worker_db()) as session:
        return await service.refresh_popular(session)


@queue.periodic(cron="*/10 * * * *", periodic_id="discovery_terms")
@queue.task(name="discovery.refresh_terms", queueing_lock="discovery.refresh_terms")
async def refresh_terms(timestamp: int) -> int:
    """The spelling dictionary follows the catalogue within ten minutes."""
    async with unit_of_work(worker_db()) as session:
        return await service.refresh_terms(session)


@queue.periodic(cron="17 3 * * *", periodic_id="discovery_prune_log")
@queue.task(name="discovery.prune_log", queueing_lock="discovery.prune_log")
async def prune_log(timestamp: int) -> int:
    """Each batch is its own transaction, so a long backlog commits as it goes."""
    return await drain(service.prune_log, service.PRUNE_BATCH)
