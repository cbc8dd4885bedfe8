"""Partners' orders, across the orders domain: placing one for a linked user under the
partner's own reference (idempotent on it), reading and cancelling it.

Consent: a partner never names a user. It names a link (`link_id`) that the user made from
their own signed-in session (`POST /v1/me/partners/{partner_id}/link`) and handed to the
partner; an unknown, another partner's or a revoked link is refused before anything is
touched. The order is then placed as the user's own would be: coins and wallet cash are held
from that user's accounts, under the same caps and checks.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.ids import parse_cursor, request_digest
from gullak.kit.sql import xact_lock
from gullak.kit.security import Subject
from gullak.orders import flows as orders
from gullak.orders import service as order_service
from gullak.orders.flows import Policy
from gullak.partners import errors, outbox, service
from gullak.partners.models import PartnerOrder
from gullak.partners.schemas import (
    PartnerOrderIn,
    PartnerOrderOut,
    PartnerOrderPage,
    PartnerOrderSummary,
)

# How the partners domain reads an order it placed: as the platform reads any order.
READER = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000000e1"),
                 frozenset({"orders.read"}))


def _hash(data: PartnerOrderIn) -> str:
    return request_digest(data.model_dump(mode="json"))


async def _out(session: AsyncSession, row: PartnerOrder) -> PartnerOrderOut:
    order = await order_service.get_order(session, row.order_id, READER)
    return PartnerOrderOut(external_ref=row.external_ref, link_id=row.link_id, order=order)


async def _find(session: AsyncSession, partner_id: uuid.UUID, ref: str) -> PartnerOrder | None:
    return await session.scalar(select(PartnerOrder).where(
        PartnerOrder.partner_id == partner_id, PartnerOrder.external_ref == ref))


async def place(session: AsyncSession, actor: Subject, partner_id: uuid.UUID,
                data: PartnerOrderIn, policy: Policy) -> tuple[PartnerOrderOut, bool]:
    """(the order, whether it is new). The same reference with the same body gives the first
    order again; with another body, external_ref_reused. Concurrent duplicates queue on the
    reference's lock, and the later ones find the first's order."""
    digest = _hash(data)
    await xact_lock(session, f"partners.place:{partner_id}:{data.external_ref}")
    existing = await _find(session, partner_id, data.external_ref)
    if existing is not None:
        if existing.request_hash != digest:
            raise errors.ExternalRefReused(field="external_ref")
        return await _out(session, existing), False
    partner = await service.get(session, partner_id)
    link = await service.active_link(session, partner_id, data.link_id)
    if partner.merchant_ids is not None and data.merchant_id not in partner.merchant_ids:
        raise errors.MerchantNotAllowed(field="merchant_id")
    placed, _ = await orders.place_order(
        session, actor, data.order(), policy, user_id=link.user_id,
        idempotency_key=f"partner:{partner_id}:{data.external_ref}")
    row = PartnerOrder(partner_id=partner_id, external_ref=data.external_ref, link_id=link.id,
                       user_id=link.user_id, order_id=placed.id, order_number=placed.number,
                       request_hash=digest, created_at=clock.now())
    session.add(row)
    await session.flush()
    # The order moved (created, then paid or awaiting payment) before this row existed:
    # the partner hears of those moves now, in the same unit, in their order.
    for event in placed.events:
        await outbox.record(session, partner, row, event.from_status, event.to_status,
                            event.reason, event.at)
    return PartnerOrderOut(external_ref=row.external_ref, link_id=row.link_id,
                           order=placed), True


async def get_order(session: AsyncSession, partner_id: uuid.UUID, ref: str) -> PartnerOrderOut:
    """Another partner's reference is missing, never forbidden."""
    row = await _find(session, partner_id, ref)
    if row is None:
        raise errors.PartnerOrderNotFound()
    return await _out(session, row)


async def cancel(session: AsyncSession, actor: Subject, partner_id: uuid.UUID, ref: str,
                 reason: str | None) -> PartnerOrderOut:
    """The partner calls the order off for its user, while the user still could: nothing
    has left the merchant yet."""
    row = await _find(session, partner_id, ref)
    if row is None:
        raise errors.PartnerOrderNotFound()
    order = await order_service.locked(session, row.order_id)
    if order.status not in order_service.USER_CANCELLABLE:
        raise errors.TooLateToCancel(f"The order is {order.status}: too late to cancel.",
                                     current_status=order.status, target="cancelled")
    cancelled = await orders.cancel(session, row.order_id, actor, reason or "cancelled by partner")
    return PartnerOrderOut(external_ref=row.external_ref, link_id=row.link_id, order=cancelled)



async def list_orders(session: AsyncSession, partner_id: uuid.UUID, *,
                      cursor: str | None = None, limit: int = 20) -> PartnerOrderPage:
    """Newest first, a keyset page at a time."""
    query = select(PartnerOrder).where(PartnerOrder.partner_id == partner_id) \
        .order_by(PartnerOrder.id.desc()).limit(limit + 1)
    after = parse_cursor(cursor)
    if after is not None:
        query = query.where(PartnerOrder.id < after)
    rows = list(await session.scalars(query))
    items = [PartnerOrderSummary.model_validate(r) for r in rows[:limit]]
    return PartnerOrderPage(items=items,
                            next_cursor=str(items[-1].id) if len(rows) > limit else None)
