"""The outbox of partners' webhooks: an event row for every status change of an order a
partner placed, written by the handler of `order.status_changed` in the unit of work of the
change itself (a rolled-back change leaves no event), with its delivery job enqueued in the
same transaction. Also the events' listing and replay."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import driver_rows
from gullak.kit import clock
from gullak.kit.events import Event
from gullak.kit.ids import parse_cursor, uuid7
from gullak.partners import errors
from gullak.partners.models import Partner, PartnerDelivery, PartnerEvent, PartnerOrder
from gullak.partners.schemas import DeliveryOut, EventOut, EventPage

STATUS_CHANGED = "order.status_changed"


async def enqueue_delivery(session: AsyncSession, partner_order_id: uuid.UUID,
                           at: dt.datetime | None = None) -> None:
    from gullak.partners import jobs  # jobs import the delivery, which imports this module

    await jobs.schedule(session, partner_order_id, at)


def deliverable(partner: Partner) -> bool:
    """A suspended partner, or one with no URL, keeps its events pending: the sweep sends
    them once it is active with a URL again."""
    return partner.status == "active" and partner.webhook_url is not None


async def record(session: AsyncSession, partner: Partner, row: PartnerOrder,
                 from_status: str | None, to_status: str, reason: str | None,
                 at: dt.datetime) -> PartnerEvent | None:
    """Write the event for the partner (if it listens to this type) and enqueue delivery."""
    if STATUS_CHANGED not in partner.events:
        return None
    # Moves on one order are serialised by the order's row lock: the next number is safe.
    sequence = 1 + (await session.scalar(select(func.coalesce(func.max(
        PartnerEvent.sequence), 0)).where(PartnerEvent.partner_order_id == row.id)) or 0)
    event_id = uuid7()
    payload: dict[str, Any] = {
        "id": str(event_id), "type": STATUS_CHANGED, "created_at": clock.now().isoformat(),
        "data": {"order_id": str(row.order_id), "order_number": row.order_number,
                 "external_ref": row.external_ref, "sequence": sequence,
                 "from_status": from_status, "to_status": to_status, "reason": reason,
                 "at": at.isoformat()}}
    event = PartnerEvent(id=event_id, partner_id=partner.id, partner_order_id=row.id,
                         user_id=row.user_id, sequence=sequence, type=STATUS_CHANGED,
                         payload=payload, status="pending", attempts=0, series=1,
                         next_attempt_at=clock.now())
    session.add(event)
    await session.flush()
    if deliverable(partner):
        await enqueue_delivery(session, row.id)
    return event


async def order_status_changed(session: AsyncSession, event: Event) -> None:
    """The handler of `order.status_changed`: only orders a partner placed have a row here.
    An order leaves 'created' only while it is placed, before the partner's row is written:
    `flows.place` records those moves itself, so they are not looked up."""
    if event.data.get("from_status") in (None, "created"):
        return
    try:
        order_id = uuid.UUID(str(event.data.get("order_id")))
    except ValueError:
        return
    # Asked on every move of every order, and nearly always none: on the driver.
    found = await driver_rows(session, "SELECT id FROM partner_orders WHERE order_id = %s",
                              (order_id,))
    if not found:
        return
    row = await session.get(PartnerOrder, found[0][0])
    assert row is not None
    partner = await session.get(Partner, row.partner_id)
    assert partner is not None
    await record(session, partner, row, event.data.get("from_status"),
                 str(event.data["to_status"]), event.data.get("reason"), clock.now())


# -- reading and replaying --------------------------------------------------------------------

async def _event(session: AsyncSession, event_id: uuid.UUID, partner_id: uuid.UUID | None,
                 *, lock: bool = False) -> PartnerEvent:
    query = select(PartnerEvent).where(PartnerEvent.id == event_id)
    if partner_id is not None:
        query = query.where(PartnerEvent.partner_id == partner_id)
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise errors.EventNotFound()  # another partner's event is missing, never forbidden
    return row


async def get_event(session: AsyncSession, event_id: uuid.UUID,
                    partner_id: uuid.UUID | None = None) -> EventOut:
    """The event with every attempt to deliver it; `partner_id` limits it to that partner's."""
    row = await _event(session, event_id, partner_id)
    deliveries = await session.scalars(select(PartnerDelivery).where(
        PartnerDelivery.event_id == row.id).order_by(PartnerDelivery.id))
    return EventOut.model_validate(row).model_copy(update={
        "deliveries": [DeliveryOut.model_validate(d) for d in deliveries]})


async def list_events(session: AsyncSession, partner_id: uuid.UUID, *,
                      status: str | None = None, cursor: str | None = None,
                      limit: int = 20) -> EventPage:
    query = select(PartnerEvent).where(PartnerEvent.partner_id == partner_id) \
        .order_by(PartnerEvent.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(PartnerEvent.status == status)
    after = parse_cursor(cursor)
    if after is not None:
        query = query.where(PartnerEvent.id < after)
    rows = list(await session.scalars(query))
    items = [EventOut.model_validate(r) for r in rows[:limit]]
    return EventPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)


async def replay(session: AsyncSession, event_id: uuid.UUID,
                 partner_id: uuid.UUID | None = None) -> EventOut:
    """Deliver the event again, as a new series of attempts (the log keeps the old ones).
    The receiver sees the same `Gullak-Event-Id` and body, so it can tell a replay."""
    row = await _event(session, event_id, partner_id, lock=True)
    row.status, row.series, row.attempts = "pending", row.series + 1, 0
    row.next_attempt_at, row.delivered_at = clock.now(), None
    await session.flush()
    partner = await session.get(Partner, row.partner_id)
    assert partner is not None
    if deliverable(partner):
        await enqueue_delivery(session, row.partner_order_id)
    return await get_event(session, row.id)


async def due(session: AsyncSession, *, limit: int = 100) -> list[uuid.UUID]:
    """Partner orders with an event due for delivery (its job lost, or its lease run out)."""
    found = await session.scalars(
        select(PartnerEvent.partner_order_id).join(Partner, Partner.id == PartnerEvent.partner_id)
        .where(PartnerEvent.status == "pending", PartnerEvent.next_attempt_at <= clock.now(),
               Partner.status == "active", Partner.webhook_url.is_not(None))
        .group_by(PartnerEvent.partner_order_id)
        .order_by(func.min(PartnerEvent.next_attempt_at)).limit(limit))
    return list(found)
