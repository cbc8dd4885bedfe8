"""Refunds: a completed order's money back over the tenders that paid it, in proportion
(money.split_refund), through the ledger at once; the gateway's part by a job that calls the
payments domain after the unit commits. Also what a cancellation gives back."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.giftcards import service as giftcards
from gullak.kit import events
from gullak.kit.errors import Forbidden, GullakError
from gullak.kit.ids import uuid7
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.orders import errors, service
from gullak.offers import service as offers
from gullak.orders.common import (
    ESCROW,
    ORDERS_ACTOR,
    REFERENCE,
    audit_move,
    merchant_account,
    scope,
)
from gullak.orders.models import Order, OrderTender
from gullak.orders.money import Slot, split_refund
from gullak.orders.pricing import INR
from gullak.orders.schemas import RefundOut
from gullak.payments import flows as payment_flows


async def refund_later(session: AsyncSession, payment_id: uuid.UUID | None, amount: int,
                       key: str) -> None:
    """The gateway is called after this unit commits, by a job written in it."""
    if payment_id is None or amount <= 0:
        return
    from gullak.orders import jobs  # jobs import this module
    from gullak.worker import enqueue

    await enqueue(session, jobs.refund_gateway, payment_id=str(payment_id), amount=amount,
                  key=key)


async def refund_gateway(db: Database, payment_id: uuid.UUID, amount: int, key: str) -> None:
    await payment_flows.refund(db, payment_id, amount, key)


async def give_back(session: AsyncSession, order: Order, tenders: list[OrderTender],
                    units: list[int], key: str, *,
                    gateway_to_wallet: bool = False) -> list[dict[str, Any]]:
    """Refund `units` on each tender as one ledger transaction: the commission on that part
    back to the merchant first, then the part itself to the user's wallet (coins, cash), onto
    the gift card that paid it (the wallet once the card is closed), or to order escrow (the
    gateway's refund follows, by a job). With `gateway_to_wallet` (the user's choice) the
    gateway's part goes to the INR wallet at once, and nothing is refunded at the gateway."""
    transfers, parts, gateway = [], [], []
    for tender, give in zip(tenders, units, strict=True):
        if give <= 0:
            continue
        merchant = await merchant_account(session, order.merchant_id, tender.asset_code)
        back = tender.commission * (tender.refunded + give) // tender.captured \
            - tender.commission_refunded
        if back > 0:
            revenue = await ledger.platform_account(session, tender.asset_code,
                                                    "commission_revenue")
            transfers.append(TransferIn(
                debit_account_id=revenue.id, credit_account_id=merchant.id,
                asset_code=tender.asset_code, amount=back, kind="order_commission_refund",
                reference_type=REFERENCE, reference_id=str(order.id)))
        if tender.kind == "gateway" and gateway_to_wallet:
            to = (await ledger.user_account(session, order.user_id, INR)).id
        elif tender.kind == "gateway":
            to = (await ledger.platform_account(session, INR, ESCROW)).id
            gateway.append((tender.payment_id, give))
        elif tender.kind == "gift_card" and tender.gift_card_id is not None:
            to = await giftcards.refund_account(session, tender.gift_card_id, order.user_id)
        else:
            to = (await ledger.user_account(session, order.user_id, tender.asset_code)).id
        transfers.append(TransferIn(
            debit_account_id=merchant.id, credit_account_id=to, asset_code=tender.asset_code,
            amount=give, kind="order_refund", reference_type=REFERENCE,
            reference_id=str(order.id)))
        tender.refunded += give
        tender.commission_refunded += max(back, 0)
        parts.append({"kind": tender.kind, "asset_code": tender.asset_code, "amount": give,
                      "value": give * tender.rate,
                      **({"to": "wallet" if gateway_to_wallet else "gateway"}
                         if tender.kind == "gateway" else {})})
    if transfers:
        await ledger.post(session, transfers, idempotency_key=key)
    for payment_id, give in gateway:
        await refund_later(session, payment_id, give, f"{key}:{payment_id}")
    return parts


async def undo_coupon(session: AsyncSession, order: Order, reason: str) -> None:
    """An order given back whole gives its coupon back too: the redemption is refunded (its
    coins spent come back, its coins earned go back) and the user's slot is free again. If
    the user has spent the coins it earned, the ledger refuses; the order's refund still
    stands, and a note says why the coupon stayed used."""
    if order.redemption_id is None:
        return
    redemption = await offers.get_redemption(session, order.redemption_id, ORDERS_ACTOR)
    if redemption.status == "pending":
        await offers.cancel(session, order.redemption_id, ORDERS_ACTOR, reason)
        return
    if redemption.status != "completed":
        return
    try:
        async with session.begin_nested():
            await offers.refund(session, order.redemption_id, ORDERS_ACTOR, reason)
    except GullakError as exc:
        order.notes = [*order.notes, {"code": "coupon_not_given_back", "reason": exc.code}]


def _may_refund(actor: Subject, order: Order) -> None:
    scope(actor, order)
    if actor.kind == "merchant_user" and not actor.can("merchant.orders.refund"):
        raise Forbidden("Needs the permission merchant.orders.refund.",
                        permission="merchant.orders.refund")
    if actor.kind in ("admin", "service") and not actor.can("orders.refund"):
        raise Forbidden("Needs the permission orders.refund.", permission="orders.refund")
    if actor.kind == "user":
        raise errors.OrderNotFound()


async def refund(session: AsyncSession, order_id: uuid.UUID, amount: int, reason: str,
                 actor: Subject, *, gateway_to_wallet: bool = False) -> RefundOut:
    """Give back `amount` (order currency) of a completed order, split over the tenders it was
    paid with in proportion, never more on one than it paid; announced as `order.refunded`."""
    order = await service.locked(session, order_id)
    _may_refund(actor, order)
    if order.status not in service.REFUNDABLE:
        raise errors.InvalidTransition(f"A {order.status} order is not refunded: cancel it.",
                                       current_status=order.status, target="refunded")
    tenders = [t for t in await service.tenders_of(session, order.id) if t.captured > 0]
    units = split_refund([Slot(t.rate, t.captured, t.refunded) for t in tenders], amount)
    paid = sum(t.captured * t.rate for t in tenders)
    target = "refunded" if order.refunded + amount == paid else "partially_refunded"
    service.check_move(order, target)
    parts = await give_back(session, order, tenders, units, f"order:{order.id}:refund:{uuid7()}",
                            gateway_to_wallet=gateway_to_wallet)
    order.refunded += amount
    before = order.status
    await service.move(session, order, target, actor, reason, {"amount": amount, "tenders": parts})
    if target == "refunded":
        await undo_coupon(session, order, reason)
    await audit_move(session, actor, "refund", order, before, amount=amount, tenders=parts)
    await events.publish(session, "order.refunded", {
        "order_id": str(order.id), "user_id": str(order.user_id), "amount": amount,
        "currency": order.currency, "tenders": parts})
    return RefundOut(order=await service.order_out(session, order), amount=amount, tenders=parts)
