"""Delivering the outbox: one partner order's events in their order, each POSTed to the
partner's URL outside any database transaction.

A delivery job works on one partner order. In a short unit it claims the order's oldest
pending event (the order's row locked while it claims), if that event is due, and leases it
for the length of a call: a second job for the same order finds nothing due and leaves, so
event 3 is never sent while event 2 is in flight or waiting for its retry. The call is made
after that unit commits; its outcome is recorded in a unit of its own, with a row in the
delivery log per attempt. A 2xx answer delivers the event and the job goes on to the next;
anything else (an error status, a timeout, a refused address) schedules a retry after an
exponential backoff with jitter, until the attempts run out and the event is `failed`, which
no longer holds back the events after it. A job lost in a crash is made good by the sweep,
which re-enqueues orders whose due events have no job.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from dataclasses import dataclass

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.partners import errors, outbox, service, webhooks
from gullak.partners.models import Partner, PartnerDelivery, PartnerEvent, PartnerOrder
from gullak.settings import Settings

log = structlog.get_logger("gullak.partners")
BODY_KEPT = 1_000  # characters of a receiver's answer kept in the delivery log
LEASE_MARGIN = dt.timedelta(seconds=30)
USER_AGENT = "Gullak-Webhooks/1"


@dataclass(frozen=True)
class Attempt:
    event_id: uuid.UUID
    user_id: uuid.UUID
    partner_id: uuid.UUID
    url: str
    body: bytes
    secrets: list[str]
    number: int
    series: int

    def __repr__(self) -> str:  # a traceback or a log line must never show the secrets
        return f"Attempt(event_id={self.event_id}, number={self.number})"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    duration_ms: int
    error: str | None
    body: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff(settings: Settings, attempt: int) -> dt.timedelta:
    """Doubling from the base after each failed attempt, at most the cap, less up to a fifth
    at random so that many failing events do not retry in step."""
    delay = min(settings.partners_webhook_backoff_seconds * 2 ** (attempt - 1),
                settings.partners_webhook_backoff_cap_seconds)
    return dt.timedelta(seconds=delay * (1 - random.random() / 5))


async def claim(session: AsyncSession, settings: Settings,
                partner_order_id: uuid.UUID) -> Attempt | None:
    """The order's next attempt to make now, leased to the caller; None if there is none."""
    order = await session.get(PartnerOrder, partner_order_id, with_for_update=True)
    if order is None:
        return None
    event = await session.scalar(select(PartnerEvent).where(
        PartnerEvent.partner_order_id == partner_order_id, PartnerEvent.status == "pending")
        .order_by(PartnerEvent.sequence).limit(1))
    partner = await session.get(Partner, order.partner_id)
    assert partner is not None
    if event is None or event.next_attempt_at > clock.now() or not outbox.deliverable(partner):
        return None
    assert partner.webhook_url is not None
    timeout = dt.timedelta(seconds=settings.partners_webhook_timeout_seconds)
    event.attempts += 1
    event.next_attempt_at = clock.now() + timeout + LEASE_MARGIN
    await session.flush()
    body = json.dumps(event.payload, separators=(",", ":"), sort_keys=True).encode()
    return Attempt(event.id, event.user_id, partner.id, partner.webhook_url, body,
                   service.signing_secrets(settings, partner), event.attempts, event.series)


async def send(settings: Settings, attempt: Attempt,
               client: httpx.AsyncClient | None = None) -> Outcome:
    """POST the event; never raises. No transaction is open while this runs."""
    started = time.perf_counter()

    def took() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        await webhooks.check_destination(attempt.url, settings.partners_webhook_allow_private)
    except errors.InvalidWebhookUrl as exc:
        return Outcome(None, took(), f"refused: {exc.detail}", None)
    stamp = int(clock.now().timestamp())
    headers = {"content-type": "application/json", "user-agent": USER_AGENT,
               webhooks.HEADER: webhooks.signature_header(attempt.secrets, stamp, attempt.body),
               webhooks.EVENT_HEADER: str(attempt.event_id)}
    try:
        async with httpx.AsyncClient(timeout=settings.partners_webhook_timeout_seconds,
                                     follow_redirects=False) as own:
            answer = await (client or own).post(attempt.url, content=attempt.body,
                                                headers=headers)
    except httpx.TimeoutException:
        return Outcome(None, took(), "timeout", None)
    except httpx.HTTPError as exc:
        return Outcome(None, took(), f"{type(exc).__name__}: {str(exc)[:200]}", None)
    return Outcome(answer.status_code, took(), None if answer.is_success else
                   f"HTTP {answer.status_code}", answer.text[:BODY_KEPT])


async def settle(session: AsyncSession, settings: Settings, attempt: Attempt,
                 outcome: Outcome) -> str:
    """Log the attempt and move the event on: delivered, retry (its job scheduled in this
    unit) or failed. Returns which. An attempt of an older series (a replay began meanwhile)
    is logged and changes nothing else."""
    event = await session.get(PartnerEvent, attempt.event_id, with_for_update=True,
                              populate_existing=True)
    assert event is not None
    session.add(PartnerDelivery(
        event_id=event.id, user_id=event.user_id, partner_id=attempt.partner_id,
        series=attempt.series, attempt=attempt.number, url=attempt.url,
        status_code=outcome.status_code, duration_ms=outcome.duration_ms, error=outcome.error,
        response_body=outcome.body,
        at=clock.now()))
    if event.series != attempt.series or event.status != "pending":
        await session.flush()
        return "superseded"
    if outcome.delivered:
        event.status, event.delivered_at = "delivered", clock.now()
        result = "delivered"
    elif attempt.number >= settings.partners_webhook_max_attempts:
        event.status, event.next_attempt_at = "failed", clock.now()
        result = "failed"
    else:
        event.next_attempt_at = clock.now() + backoff(settings, attempt.number)
        # A second late, so that a worker whose clock runs a little behind finds it due.
        await outbox.enqueue_delivery(session, event.partner_order_id,
                                      event.next_attempt_at + dt.timedelta(seconds=1))
        result = "retry"
    await session.flush()
    log.info("partner_webhook_attempt", event_id=str(event.id), attempt=attempt.number,
             status_code=outcome.status_code, outcome=result, ms=outcome.duration_ms)
    return result


async def deliver_order(db: Database, settings: Settings, partner_order_id: uuid.UUID,
                        client: httpx.AsyncClient | None = None) -> int:
    """Deliver the order's due events in order until one must wait; how many attempts."""
    made = 0
    while True:
        async with unit_of_work(db) as session:
            attempt = await claim(session, settings, partner_order_id)
        if attempt is None:
            return made
        outcome = await send(settings, attempt, client)
        made += 1
        async with unit_of_work(db) as session:
            result = await settle(session, settings, attempt, outcome)
        if result == "retry":
            return made


async def sweep(db: Database, *, limit: int = 100) -> int:
    """Enqueue delivery for every partner order with an event due; how many."""
    async with unit_of_work(db) as session:
        orders = await outbox.due(session, limit=limit)
        for partner_order_id in orders:
            await outbox.enqueue_delivery(session, partner_order_id)
    return len(orders)
