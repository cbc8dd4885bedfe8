"""Payments jobs: each stored gateway event is processed by one job, enqueued in the
transaction that stored it; and a periodic check asks gateways about payments left waiting
on them (a webhook that never came, or came before we knew the provider's reference)."""

from __future__ import annotations

import datetime as dt
import uuid

from gullak.db.uow import unit_of_work
from gullak.payments import flows, service
from gullak.settings import get_settings
from gullak.worker import queue, worker_db


@queue.task(name="payments.process_event", retry=5)
async def process_event(event_id: str) -> str:
    """Exactly once per event: the event row is locked and marked processed in the same
    transaction as what it changed, so a retry or a second job finds it done."""
    async with unit_of_work(worker_db()) as session:
        return await service.process_event(session, uuid.UUID(event_id))


@queue.task(name="payments.cancel_open", retry=5)
async def cancel_open(reference_id: str) -> int:
    """The open payments of a cancelled order that were busy when it was cancelled."""
    async with unit_of_work(worker_db()) as session:
        return await service.cancel_open(session, reference_id)


@queue.periodic(cron="*/5 * * * *", periodic_id="payments_check_overdue")
@queue.task(name="payments.check_overdue", queueing_lock="payments.check_overdue")
async def check_overdue(timestamp: int) -> int:
    settings = get_settings()  # the worker's own, as it was started
    return await flows.check_overdue(worker_db(), dt.timedelta(
        minutes=settings.payment_pending_minutes), settings=settings)
