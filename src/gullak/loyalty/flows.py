"""Loyalty workflows that reach a payment gateway: the subscription (or its renewal
payment) is committed in a unit of its own first, then the payment is started at its gateway
by the payments domain's flow, outside any transaction (DESIGN §3)."""

from __future__ import annotations

import uuid

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit.errors import GullakError
from gullak.loyalty import prive
from gullak.loyalty.schemas import CheckoutOut
from gullak.payments import flows as payment_flows
from gullak.settings import Settings


async def subscribe(db: Database, settings: Settings | None, user_id: uuid.UUID,
                    plan_code: str) -> CheckoutOut:
    """A privé subscription pending payment, and its payment started: pay at the URL."""
    async with unit_of_work(db) as session:
        _, payment_id = await prive.subscribe(
            session, user_id, plan_code, settings.payment_gateway if settings else None)
    payment = await payment_flows.start(db, payment_id, user_id=user_id, settings=settings)
    async with unit_of_work(db) as session:
        sub = await prive.my_prive(session, user_id)
    assert sub is not None
    return CheckoutOut(subscription=sub, payment_id=payment.id, payment_status=payment.status,
                       checkout_url=payment.checkout_url)


async def renew(db: Database, settings: Settings | None = None, *, batch: int = 100) -> int:
    """The renewal run: payments asked for subscriptions near their period's end, each then
    started at its gateway (a failed start is left for the payments' own overdue check).
    Returns how many were asked."""
    asked = 0
    while True:
        async with unit_of_work(db) as session:
            ids = await prive.renew_due(session, limit=batch,
                                        gateway=settings.payment_gateway if settings else None)
        for payment_id in ids:
            try:
                await payment_flows.start(db, payment_id, settings=settings)
            except GullakError:  # one gateway's refusal does not stop the run
                continue
        asked += len(ids)
        if len(ids) < batch:
            return asked
