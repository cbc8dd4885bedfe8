"""Loyalty test tools: a tier ladder, the payment events of a subscription as payments
would publish them, and reading what a user holds."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.events import Event
from gullak.ledger import service as ledger
from gullak.loyalty import service
from gullak.loyalty.schemas import TierIn
from gullak.payments import service as payments

# basic; silver at ₹1,000 spent in 30 days (grace 5); gold at ₹5,000 in 30 days (grace 5)
SILVER, GOLD = 100_000, 500_000
LADDER = [
    TierIn(code="basic", name="Basic", rank=0, threshold=0, window_days=30, grace_days=0),
    TierIn(code="silver", name="Silver", rank=1, threshold=SILVER, window_days=30,
           grace_days=5, multiplier_bp=12_500, benefits=["1.25x coins"]),
    TierIn(code="gold", name="Gold", rank=2, threshold=GOLD, window_days=30, grace_days=5,
           multiplier_bp=15_000, benefits=["1.5x coins", "Free delivery"]),
]


async def make_ladder(session: AsyncSession) -> None:
    for tier in LADDER:
        await service.create_tier(session, tier, None)


async def complete_order(session: AsyncSession, user_id: uuid.UUID, total: int, *,
                         order_id: uuid.UUID | None = None, refunded: int = 0,
                         to_status: str = "completed") -> uuid.UUID:
    """The orders domain's announcement of a purchase order reaching `to_status`, as this
    domain's handler receives it (the order itself does not exist: other domains' handlers
    would look for it)."""
    order_id = order_id or uuid.uuid4()
    await service.order_status_changed(session, Event("order.status_changed", {
        "order_id": str(order_id), "user_id": str(user_id), "merchant_id": str(uuid.uuid4()),
        "number": "ORD-TEST", "kind": "purchase", "outlet_id": None, "total": total,
        "refunded": refunded, "currency": "INR", "from_status": "ready",
        "to_status": to_status}))
    return order_id


async def settle_payment(session: AsyncSession, payment_id: uuid.UUID, outcome: str) -> None:
    """What payments tells this domain when the gateway says so (`succeeded` or `failed`).
    No money moves here: the end-to-end test goes through the sandbox for that."""
    p = await payments.get_payment(session, payment_id)
    handler = service.payment_succeeded if outcome == "succeeded" else service.payment_failed
    await handler(session, Event(f"payment.{outcome}", {
        "payment_id": str(p.id), "purpose": p.purpose, "reference_id": p.reference_id,
        "user_id": str(p.user_id), "amount": p.amount, "currency": p.currency}))


async def holding(session: AsyncSession, user_id: uuid.UUID, asset: str) -> int:
    account = await ledger.user_account(session, user_id, asset)
    return (await ledger.balance(session, account.id)).posted


async def count(session: AsyncSession, table: str, where: str = "true", **params: object) -> int:
    return int(await session.scalar(text(f"SELECT count(*) FROM {table} WHERE {where}"),
                                    params) or 0)
