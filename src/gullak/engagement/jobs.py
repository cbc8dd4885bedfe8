"""Engagement background work: the period rollover."""

from __future__ import annotations

from gullak.engagement import service
from gullak.worker import drain, queue

BATCH = 20


@queue.periodic(cron="5 * * * *", periodic_id="engagement_roll_over")
@queue.task(name="engagement.roll_over", queueing_lock="engagement.roll_over")
async def roll_over(timestamp: int) -> int:
    """Hourly: weekly and monthly boards whose period is over become snapshots."""
    return await drain(service.roll_over, BATCH)
