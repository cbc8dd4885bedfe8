"""Loyalty background work: the daily tier review (renewals and downgrades at period ends),
privé renewal payments and the expiry of subscriptions."""

from __future__ import annotations

from gullak.loyalty import flows, service
from gullak.settings import get_settings
from gullak.worker import drain, queue, worker_db

BATCH = 100


@queue.periodic(cron="15 0 * * *", periodic_id="loyalty_review_tiers")
@queue.task(name="loyalty.review_tiers", queueing_lock="loyalty.review_tiers")
async def review_tiers(timestamp: int) -> int:
    """Daily: users whose tier period (or grace) ended keep, lose or gain their tier."""
    return await drain(service.review, BATCH)


@queue.periodic(cron="0 * * * *", periodic_id="loyalty_renew_prive")
@queue.task(name="loyalty.renew_prive", queueing_lock="loyalty.renew_prive")
async def renew_prive(timestamp: int) -> int:
    """Hourly: renewal payments for privé subscriptions near their period's end."""
    return await flows.renew(worker_db(), get_settings(), batch=BATCH)


@queue.periodic(cron="5 * * * *", periodic_id="loyalty_expire_prive")
@queue.task(name="loyalty.expire_prive", queueing_lock="loyalty.expire_prive")
async def expire_prive(timestamp: int) -> int:
    """Hourly: subscriptions past their period's end (and grace) move on."""
    return await drain(service.expire_due, BATCH)
