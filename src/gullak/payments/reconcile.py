"""What our books say about a day, for the reconciliation against the gateways (flows.py):
what our payments captured and refunded, what the gateway clearing account moved, and which
payments to ask their gateway about."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.ledger import service as ledger
from gullak.payments.common import CURRENCIES, clearing
from gullak.payments.models import Payment, PaymentRefund
from gullak.payments.schemas import PaymentOut


@dataclass(frozen=True)
class DayBooks:
    captured: int
    refunded: int
    clearing_movement: int  # credits less debits of the clearing accounts over the day
    payments: list[PaymentOut]  # of the day, with a gateway reference: to ask about


def bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    return start, start + dt.timedelta(days=1)


async def day_books(session: AsyncSession, day: dt.date) -> DayBooks:
    start, end = bounds(day)
    captured = await session.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(
        Payment.succeeded_at >= start, Payment.succeeded_at < end))
    # A refund's money moves back when it is opened; a refused one is moved again, so only
    # refunds not refused count.
    refunded = await session.scalar(select(func.coalesce(func.sum(PaymentRefund.amount), 0))
                                    .where(PaymentRefund.created_at >= start,
                                           PaymentRefund.created_at < end,
                                           PaymentRefund.status != "failed"))
    movement = 0
    for currency in CURRENCIES:
        account = await clearing(session, currency)
        movement += (await ledger.balance_at(session, account.id, end)
                     - await ledger.balance_at(session, account.id, start))
    rows = await session.scalars(select(Payment).where(
        Payment.gateway_ref.is_not(None),
        or_(Payment.succeeded_at.between(start, end),
            Payment.created_at.between(start, end))).order_by(Payment.id))
    return DayBooks(int(captured or 0), int(refunded or 0), movement,
                    [PaymentOut.model_validate(p) for p in rows])
