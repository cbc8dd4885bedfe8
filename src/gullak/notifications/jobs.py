"""Notifications jobs: each delivery is sent by a job enqueued in the transaction that made
it; a periodic sweep sends what became due (quiet hours over, retries after their delay,
deliveries whose worker died between the provider call and the record); a daily job warns
users of coins expiring within a week."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.notifications import flows, handlers
from gullak.notifications.providers.base import Senders
from gullak.settings import get_settings
from gullak.worker import queue, worker_db

_senders: tuple[Database, Senders] | None = None


def senders() -> Senders:
    # One set per worker run: the live senders keep their access tokens and connections.
    global _senders
    db = worker_db()
    if _senders is None or _senders[0] is not db:
        _senders = (db, flows.senders_from(get_settings(), db))
    return _senders[1]


@queue.task(name="notifications.deliver", retry=3)
async def deliver(delivery_id: str) -> str:
    return await flows.deliver(worker_db(), get_settings(), senders(), uuid.UUID(delivery_id))


@queue.task(name="notifications.achievements", retry=3)
async def achievements(packed: str = "", unlocks: list[dict[str, str]] | None = None) -> int:
    """`packed`: lines of `handlers.unpack_unlocks`; `unlocks`, as jobs enqueued before it."""
    async with unit_of_work(worker_db()) as session:
        return await handlers.notify_achievements(
            session, [*(unlocks or []), *handlers.unpack_unlocks(packed)])


@queue.task(name="notifications.cashbacks", retry=3)
async def cashbacks(packed: str = "", confirmed: list[dict[str, Any]] | None = None) -> int:
    """`packed`: lines of `handlers.unpack_cashbacks`; `confirmed`, as jobs enqueued before it."""
    async with unit_of_work(worker_db()) as session:
        return await handlers.notify_cashbacks(
            session, [*(confirmed or []), *handlers.unpack_cashbacks(packed)])


@queue.periodic(cron="* * * * *", periodic_id="notifications_sweep")
@queue.task(name="notifications.sweep", queueing_lock="notifications.sweep")
async def sweep(timestamp: int) -> int:
    return await flows.deliver_due(worker_db(), get_settings(), senders())


@queue.periodic(cron="30 4 * * *", periodic_id="notifications_coins_expiring")
@queue.task(name="notifications.coins_expiring", queueing_lock="notifications.coins_expiring")
async def coins_expiring(timestamp: int) -> int:
    """Daily (04:30 UTC, 10:00 in India): users whose coins expire within seven days."""
    today = dt.datetime.fromtimestamp(timestamp, dt.UTC).date()
    async with unit_of_work(worker_db()) as session:
        return await handlers.coins_expiring(session, today)
