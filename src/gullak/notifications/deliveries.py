"""Deliveries: claiming one to send (a lease), recording what the provider answered, and
finding those due (queued and past their time, or claimed by a worker that never recorded).

A claim commits before the provider is called and the outcome is recorded after, each in a
unit of work of its own; a worker that dies between the call and the record leaves the
delivery `sending`, and once the lease runs out it is claimed and sent again with the same
idempotency key (the delivery's id), which the provider takes as the message it already has.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import service as identity
from gullak.kit import clock
from gullak.notifications.models import NotificationDelivery
from gullak.settings import Settings


@dataclass(frozen=True)
class Message:
    """What a sender needs for one delivery; `key` is the idempotency key."""

    key: str
    channel: str
    platform: str | None
    target: str
    content: dict[str, Any]
    attempt: int


@dataclass(frozen=True)
class Outcome:
    """What a provider answered. `retry`: a temporary failure; `invalid_target`: the token or
    address will never work (a push token is retired)."""

    status: str  # sent, retry, failed, invalid_target
    provider: str
    provider_id: str | None = None
    error: str | None = None


async def claim(session: AsyncSession, settings: Settings,
                delivery_id: uuid.UUID) -> Message | None:
    """Take the delivery for sending if it is due and nobody holds it; None otherwise."""
    now = clock.now()
    row = await session.scalar(select(NotificationDelivery).where(
        NotificationDelivery.id == delivery_id,
        NotificationDelivery.status.in_(("queued", "sending"))).with_for_update(skip_locked=True))
    if row is None or row.not_before > now:
        return None
    if row.status == "sending" and row.lease_until is not None and row.lease_until > now:
        return None
    row.status, row.attempts = "sending", row.attempts + 1
    row.lease_until = now + dt.timedelta(seconds=settings.notifications_lease_seconds)
    row.updated_at = now
    await session.flush()
    return Message(key=str(row.id), channel=row.channel, platform=row.platform,
                   target=row.target, content=dict(row.content), attempt=row.attempts)


async def record(session: AsyncSession, settings: Settings, delivery_id: uuid.UUID,
                 outcome: Outcome) -> str:
    """Keep the provider's answer; a temporary failure is tried again later (the delay
    doubles), until the attempts run out. Returns the delivery's status."""
    row = await session.get(NotificationDelivery, delivery_id, with_for_update=True)
    if row is None or row.status in ("sent", "failed"):
        return row.status if row is not None else "missing"
    now = clock.now()
    row.provider, row.updated_at, row.lease_until = outcome.provider, now, None
    if outcome.status == "sent":
        row.status, row.provider_id, row.sent_at, row.error = "sent", outcome.provider_id, now, None
        return row.status
    row.error = (outcome.error or outcome.status)[:500]
    if outcome.status == "invalid_target" and row.channel == "push":
        await identity.retire_push_token(session, row.target)
    if outcome.status == "retry" and row.attempts < settings.notifications_max_attempts:
        delay = settings.notifications_backoff_seconds * 2 ** (row.attempts - 1)
        row.status, row.not_before = "queued", now + dt.timedelta(seconds=delay)
    else:
        row.status = "failed"
    return row.status


async def record_sent(session: AsyncSession, settings: Settings, delivery_id: uuid.UUID,
                      provider: str, provider_id: str | None) -> str:
    return await record(session, settings, delivery_id,
                        Outcome("sent", provider, provider_id=provider_id))


async def record_failure(session: AsyncSession, settings: Settings, delivery_id: uuid.UUID,
                         provider: str, error: str, *, temporary: bool) -> str:
    return await record(session, settings, delivery_id,
                        Outcome("retry" if temporary else "failed", provider, error=error))


async def due_deliveries(session: AsyncSession, limit: int = 500) -> list[uuid.UUID]:
    """Deliveries to send now: queued and past their time (quiet hours over, retry delay
    passed), or claimed by a worker whose lease ran out without an outcome."""
    now = clock.now()
    rows = await session.scalars(select(NotificationDelivery.id).where(
        NotificationDelivery.status.in_(("queued", "sending")),
        NotificationDelivery.not_before <= now,
        or_(NotificationDelivery.status == "queued",
            and_(NotificationDelivery.status == "sending",
                 NotificationDelivery.lease_until < now)),
    ).order_by(NotificationDelivery.not_before).limit(limit))
    return list(rows)
