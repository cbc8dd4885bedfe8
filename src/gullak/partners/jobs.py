"""Partners jobs: delivering one partner order's webhooks (enqueued by the outbox in the
transaction that wrote the event, or scheduled for a retry), and the sweep that re-enqueues
deliveries whose job was lost."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.partners import delivery
from gullak.settings import get_settings
from gullak.worker import queue, worker_db


@queue.task(name="partners.deliver")
async def deliver(partner_order_id: str) -> int:
    """Not retried by the queue: a failed attempt schedules its own retry, with backoff."""
    return await delivery.deliver_order(worker_db(), get_settings(), uuid.UUID(partner_order_id))


@queue.periodic(cron="* * * * *", periodic_id="partners_sweep_deliveries")
@queue.task(name="partners.sweep_deliveries", queueing_lock="partners.sweep_deliveries")
async def sweep_deliveries(timestamp: int) -> int:
    """Every minute: events due with no job (a worker died mid-call, a job lost) get one."""
    return await delivery.sweep(worker_db())


async def schedule(session: AsyncSession, partner_order_id: uuid.UUID,
                   at: dt.datetime | None = None) -> int:
    """Write a delivery job in the session's transaction, to run now or at `at`."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    job_id: int = await deliver.configure(connection=raw.driver_connection,
                                          schedule_at=at).defer_async(
        partner_order_id=str(partner_order_id))
    return job_id
