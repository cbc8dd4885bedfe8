"""Sending deliveries outside the transaction: exactly once per notification and channel even
when a worker dies between the provider's answer and our record (the same idempotency key is
sent again after the lease, and the provider keeps one message); temporary failures retried
with a growing delay, then failed; nothing sent twice once recorded."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.notifications import deliveries as delivery_rules
from gullak.notifications import flows, service
from gullak.notifications.deliveries import Message, Outcome
from gullak.notifications.models import NotificationDelivery, SandboxEmail, SandboxPush
from gullak.notifications.providers.base import Senders
from gullak.settings import Settings
from tests.notifications.support import add_everywhere_template, deliveries, make_user


class Killed(BaseException):
    """The worker process dying: not an error anything catches."""


async def _notified(db: Database, **user: object) -> list[NotificationDelivery]:
    async with unit_of_work(db) as session:
        user_id = await make_user(session, **user)  # type: ignore[arg-type]
        code = await add_everywhere_template(session)
        notification_id = await service.notify(session, user_id, code,
                                               {"name": "Asha", "count": 2})
        assert notification_id is not None
        return await deliveries(session, notification_id)


async def _rows(db: Database, ids: list[uuid.UUID]) -> list[NotificationDelivery]:
    async with unit_of_work(db) as session:
        return list(await session.scalars(select(NotificationDelivery).where(
            NotificationDelivery.id.in_(ids)).order_by(NotificationDelivery.id)))


async def test_killed_between_send_and_record_is_sent_once(
        fresh_db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    found = await _notified(fresh_db, phone=False, devices=("android", "ios"))
    ids = [d.id for d in found]
    assert sorted(d.channel for d in found) == ["email", "push", "push"]
    senders = flows.senders_from(settings, fresh_db)
    record = delivery_rules.record

    async def die(*args: object, **kwargs: object) -> str:
        raise Killed

    monkeypatch.setattr(delivery_rules, "record", die)
    for delivery_id in ids:
        with pytest.raises(Killed):
            await flows.deliver(fresh_db, settings, senders, delivery_id)
    monkeypatch.setattr(delivery_rules, "record", record)

    # The providers have the messages; our rows still say `sending`, under a lease.
    assert {r.status for r in await _rows(fresh_db, ids)} == {"sending"}
    assert await flows.deliver_due(fresh_db, settings, senders) == 0
    for delivery_id in ids:  # a duplicate job is turned away while the lease holds
        assert await flows.deliver(fresh_db, settings, senders, delivery_id) == "skipped"

    clock.advance(dt.timedelta(seconds=settings.notifications_lease_seconds + 1))
    assert await flows.deliver_due(fresh_db, settings, senders) == len(ids)
    rows = await _rows(fresh_db, ids)
    assert {(r.status, r.attempts) for r in rows} == {("sent", 2)}
    keys = [str(i) for i in ids]
    async with unit_of_work(fresh_db) as session:
        pushes = list(await session.scalars(select(SandboxPush).where(SandboxPush.key.in_(keys))))
        emails = list(await session.scalars(select(SandboxEmail).where(
            SandboxEmail.key.in_(keys))))
    # One message per delivery, though the provider was called twice with its key.
    assert len(pushes) == 2 and len(emails) == 1
    assert {p.sends for p in pushes} | {e.sends for e in emails} == {2}
    assert {p.data["notification_id"] for p in pushes} == {str(found[0].notification_id)}

    # Recorded: no sweep or stray job sends it again.
    clock.advance(dt.timedelta(days=1))
    assert await flows.deliver_due(fresh_db, settings, senders) == 0
    for delivery_id in ids:
        assert await flows.deliver(fresh_db, settings, senders, delivery_id) == "skipped"


class Flaky:
    """Fails temporarily `failures` times, then sends."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    async def send(self, message: Message) -> Outcome:
        self.calls += 1
        if self.calls <= self.failures:
            return Outcome("retry", self.name, error="503 UNAVAILABLE")
        return Outcome("sent", self.name, provider_id=f"p-{message.key}")


async def test_temporary_failures_are_retried_later(fresh_db: Database,
                                                    settings: Settings) -> None:
    settings = settings.model_copy(update={"notifications_backoff_seconds": 60,
                                           "notifications_max_attempts": 5})
    [email] = await _notified(fresh_db, phone=False, devices=())
    flaky = Flaky(failures=2)
    senders = Senders(android=flaky, ios=flaky, sms=flaky, email=flaky)
    clock.freeze(clock.now())
    assert await flows.deliver(fresh_db, settings, senders, email.id) == "queued"
    [row] = await _rows(fresh_db, [email.id])
    assert (row.attempts, row.error) == (1, "503 UNAVAILABLE")
    assert row.not_before == clock.now() + dt.timedelta(seconds=60)
    assert await flows.deliver_due(fresh_db, settings, senders) == 0  # not yet
    clock.advance(dt.timedelta(seconds=61))
    assert await flows.deliver_due(fresh_db, settings, senders) == 0  # failed again
    [row] = await _rows(fresh_db, [email.id])
    assert row.not_before == clock.now() + dt.timedelta(seconds=120)  # the delay doubled
    clock.advance(dt.timedelta(seconds=121))
    assert await flows.deliver_due(fresh_db, settings, senders) == 1
    [row] = await _rows(fresh_db, [email.id])
    assert (row.status, row.attempts, row.provider_id, row.error) == (
        "sent", 3, f"p-{email.id}", None)
    assert flaky.calls == 3


async def test_attempts_run_out(fresh_db: Database, settings: Settings) -> None:
    settings = settings.model_copy(update={"notifications_backoff_seconds": 1,
                                           "notifications_max_attempts": 2})
    [email] = await _notified(fresh_db, phone=False, devices=())
    flaky = Flaky(failures=10)
    senders = Senders(android=flaky, ios=flaky, sms=flaky, email=flaky)
    assert await flows.deliver(fresh_db, settings, senders, email.id) == "queued"
    clock.advance(dt.timedelta(seconds=2))
    assert await flows.deliver(fresh_db, settings, senders, email.id) == "failed"
    clock.advance(dt.timedelta(days=1))
    assert await flows.deliver_due(fresh_db, settings, senders) == 0
    assert flaky.calls == 2


class Exploding:
    name = "exploding"

    async def send(self, message: Message) -> Outcome:
        raise ValueError("an answer nobody expected")


async def test_an_unexpected_error_is_a_temporary_failure(fresh_db: Database,
                                                          settings: Settings) -> None:
    [email] = await _notified(fresh_db, phone=False, devices=())
    boom = Exploding()
    senders = Senders(android=boom, ios=boom, sms=boom, email=boom)
    assert await flows.deliver(fresh_db, settings, senders, email.id) == "queued"
    [row] = await _rows(fresh_db, [email.id])
    assert (row.status, row.error, row.lease_until) == ("queued", "ValueError", None)


async def test_the_worker_sends_what_notify_enqueued(fresh_db: Database) -> None:
    from gullak import worker

    found = await _notified(fresh_db, devices=("android",))
    assert len(found) == 3
    await worker.run(fresh_db.url, concurrency=1, stop_after_idle=True)
    rows = await _rows(fresh_db, [d.id for d in found])
    assert {(r.channel, r.status, r.attempts) for r in rows} == {
        ("push", "sent", 1), ("sms", "sent", 1), ("email", "sent", 1)}
    assert {r.provider for r in rows} == {"sandbox"}


async def test_concurrent_calls_keep_the_key_and_the_cap(fresh_db: Database,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         settings: Settings) -> None:
    import asyncio

    capped = settings.model_copy(update={"notifications_marketing_per_day": 3})
    monkeypatch.setattr(service, "get_settings", lambda: capped)
    async with unit_of_work(fresh_db) as session:
        user_id = await make_user(session)
    data = {"title": "T", "body": "B"}

    async def once(key: str | None) -> uuid.UUID | None:
        async with unit_of_work(fresh_db) as session:
            return await service.notify(session, user_id, "marketing.offer", data, key=key)

    same = await asyncio.gather(*(once("one-key") for _ in range(6)))
    assert len(set(same)) == 1 and same[0] is not None
    more = await asyncio.gather(*(once(None) for _ in range(8)))
    assert sum(found is not None for found in more) == 2  # the cap of 3, the keyed one counted
    async with unit_of_work(fresh_db) as session:
        rows = list(await session.scalars(select(NotificationDelivery).where(
            NotificationDelivery.user_id == user_id)))
    assert len(rows) == 3 * 3  # three notifications, each on push x2 and email
