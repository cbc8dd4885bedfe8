"""Campaigns jobs: every minute, due campaigns start and each sending campaign sends its next
batch within its throttle, in units of work of `campaign_send_chunk` messages each."""

from __future__ import annotations

import structlog

from gullak.campaigns import service
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.settings import Settings, get_settings
from gullak.worker import queue, worker_db

log = structlog.get_logger("gullak.campaigns")


async def send_due(db: Database, settings: Settings) -> int:
    """One run: how many users were reached (sent or suppressed). A campaign's failure is
    logged and leaves the others sending; its batch rolled back, the next run tries again."""
    async with unit_of_work(db) as session:
        await service.start_due(session)
        campaigns = await service.sending(session)
    chunk = settings.campaign_send_chunk
    total = 0
    for campaign_id in campaigns:
        while True:
            try:
                async with unit_of_work(db) as session:
                    batch = await service.send_batch(session, campaign_id, chunk)
            except Exception:  # one campaign's failure must not hold up the others
                log.exception("campaign_batch_failed", campaign_id=str(campaign_id))
                break
            total += batch.reached
            if batch.finished or batch.reached < chunk:
                break
    return total


@queue.periodic(cron="* * * * *", periodic_id="campaigns_send")
@queue.task(name="campaigns.send", queueing_lock="campaigns.send")
async def send(timestamp: int) -> int:
    return await send_due(worker_db(), get_settings())
