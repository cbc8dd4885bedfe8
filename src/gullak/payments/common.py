"""What the payments modules share: reading a payment, locking one, the ledger's accounts
that money moves between, and the record of every call to a provider."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import driver_rows
from gullak.ledger import errors as ledger_errors
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountOut, AssetIn, AssetKind
from gullak.payments import errors
from gullak.payments.models import OPEN, Payment, PaymentAttempt
from gullak.payments.schemas import PaymentOut

CURRENCIES = ("INR",)
CLEARING = "gateway_clearing"  # the platform's money at the gateways: captures land here
OPEN_STATUSES = OPEN
ESCROW = "order_escrow"  # paid orders' money until the orders domain settles it


def payment_out(payment: Payment) -> PaymentOut:
    return PaymentOut.model_validate(payment)


# A payment's columns, in the order `payment_of` reads them, for the statements run on the
# driver (a payment started or applied is a row or two, and SQLAlchemy's session cost more
# client CPU than the round trips).
COLUMNS = ", ".join(PaymentOut.model_fields)
_LOCKED = f"SELECT {COLUMNS} FROM payments WHERE id = %s FOR UPDATE"


def payment_of(row: Sequence[Any]) -> PaymentOut:
    return PaymentOut.model_validate(dict(zip(PaymentOut.model_fields, row)))


async def load(session: AsyncSession, payment_id: uuid.UUID, *, lock: bool = False) -> Payment:
    query = select(Payment).where(Payment.id == payment_id).execution_options(
        populate_existing=True)
    found = await session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise errors.PaymentNotFound(field="payment_id")
    return found


async def locked(session: AsyncSession, payment_id: uuid.UUID) -> PaymentOut:
    """`load(lock=True)` on the driver, for a unit that reads and writes the payment there
    alone."""
    found = await driver_rows(session, _LOCKED, (payment_id,))
    if not found:
        raise errors.PaymentNotFound(field="payment_id")
    return payment_of(found[0])


async def ensure_asset(session: AsyncSession, currency: str) -> None:
    """The cash asset exists: the ledger's demo data makes INR, but a deployment without demo
    data takes payments too."""
    try:
        await ledger.get_asset(session, currency)
    except ledger_errors.AssetNotFound:
        try:
            async with session.begin_nested():  # a racing creator wins; ours is a no-op
                await ledger.create_asset(session, AssetIn(
                    code=currency, name=currency, kind=AssetKind.cash, scale=2))
        except (ledger_errors.AssetExists, IntegrityError):
            pass


async def _opened(session: AsyncSession, currency: str,
                  open_: Callable[[], Awaitable[AccountOut]]) -> AccountOut:
    # The account nearly always exists (and so its asset): one read. Only an account that
    # must be opened needs the asset, made first if it is missing.
    try:
        return await open_()
    except ledger_errors.AssetNotFound:
        await ensure_asset(session, currency)
        return await open_()


async def clearing(session: AsyncSession, currency: str) -> AccountOut:
    return await _opened(session, currency,
                         lambda: ledger.platform_account(session, currency, CLEARING))


async def destination(session: AsyncSession, payment: Payment | PaymentOut) -> AccountOut:
    """Where a captured payment's money goes: a top-up to the user's wallet, a subscription's
    to the platform's revenue, an order's to escrow."""
    currency = payment.currency
    if payment.purpose == "topup":
        return await _opened(session, currency,
                             lambda: ledger.user_account(session, payment.user_id, currency))
    purpose = "subscription_revenue" if payment.purpose == "subscription" else ESCROW
    return await _opened(session, currency,
                         lambda: ledger.platform_account(session, currency, purpose))


async def record_attempt(session: AsyncSession, payment: Payment, operation: str,
                         request: dict[str, Any], outcome: str,
                         response: dict[str, Any]) -> None:
    session.add(PaymentAttempt(user_id=payment.user_id, payment_id=payment.id,
                               operation=operation, request=request, outcome=outcome,
                               response=response))
    await session.flush()
