"""Gift cards background work: the expiry sweep, which moves what is left on cards past their
date to the platform's breakage account."""

from __future__ import annotations

from gullak.giftcards import service
from gullak.worker import drain, queue

BATCH = 100


@queue.periodic(cron="*/5 * * * *", periodic_id="giftcards_expire_cards")
@queue.task(name="giftcards.expire_cards", queueing_lock="giftcards.expire_cards")
async def expire_cards(timestamp: int) -> int:
    """Every five minutes: cards past `expires_at` give what is left to breakage."""
    return await drain(service.expire_cards, BATCH)
