"""Rewards background work: confirming rewards whose return window has closed."""

from __future__ import annotations

from gullak.rewards import service
from gullak.worker import drain, queue

BATCH = 100


@queue.periodic(cron="*/5 * * * *", periodic_id="rewards_confirm_due")
@queue.task(name="rewards.confirm_due", queueing_lock="rewards.confirm_due")
async def confirm_due(timestamp: int) -> int:
    """Every five minutes: pending rewards past `confirm_at` move to the users' wallets."""
    return await drain(service.confirm_due, BATCH)
