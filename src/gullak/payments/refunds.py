"""Refunds, in two units of work around the provider's refund call (flows.refund):

1. `open_refund`: within what was paid less what is refunded or being refunded, the refund is
   recorded as pending and its money moves back from where the payment put it to the gateway
   clearing account at once; so a wallet that has spent its top-up is refused before the
   provider is asked, and two refunds racing for the last rupee cannot both pass.
2. `close_refund`: the provider accepted (the refund succeeds, `payment.refunded`) or
   refused (the move is reversed in the ledger, the refund fails).

A process that stops between the two leaves the refund pending, its money already back in
clearing: `stale_refunds` finds it for the periodic check, which asks the provider again with
the same key (one refund there, however often asked) and closes it.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock, events
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.payments import errors
from gullak.payments.common import clearing, destination, load, record_attempt
from gullak.payments.models import PaymentRefund
from gullak.payments.schemas import RefundOut
from gullak.payments.webhooks import event_data


async def get_refund(session: AsyncSession, refund_id: uuid.UUID) -> RefundOut:
    refund = await session.get(PaymentRefund, refund_id, populate_existing=True)
    if refund is None:
        raise errors.PaymentNotFound("No such refund.", field="refund_id")
    return RefundOut.model_validate(refund)


async def open_refund(session: AsyncSession, payment_id: uuid.UUID, amount: int,
                      key: str) -> tuple[RefundOut, bool]:
    """The refund, and whether the provider still has to be asked (a pending refund asked
    again with its key is asked again: the provider's idempotency makes that safe)."""
    if type(amount) is not int or amount <= 0:
        raise errors.InvalidAmount(field="amount")
    if not key or len(key) > 200:
        raise errors.InvalidAmount("An idempotency key of 1 to 200 characters is needed.",
                                   code="invalid_key", field="key")
    payment = await load(session, payment_id, lock=True)
    existing = await session.scalar(select(PaymentRefund).where(
        PaymentRefund.payment_id == payment_id, PaymentRefund.idempotency_key == key))
    if existing is not None:
        if existing.amount != amount:
            raise errors.IdempotencyKeyReused(field="key")
        return RefundOut.model_validate(existing), existing.status == "pending"
    if payment.status != "succeeded":
        raise errors.InvalidTransition(f"Only a succeeded payment is refunded; this one is"
                                       f" {payment.status}.")
    taken = await session.scalar(select(func.coalesce(func.sum(PaymentRefund.amount), 0)).where(
        PaymentRefund.payment_id == payment_id, PaymentRefund.status != "failed"))
    if amount > payment.amount - int(taken or 0):
        raise errors.RefundTooLarge(field="amount", refundable=payment.amount - int(taken or 0))
    refund = PaymentRefund(user_id=payment.user_id, payment_id=payment_id, amount=amount,
                           idempotency_key=key)
    session.add(refund)
    await session.flush()
    source = await destination(session, payment)
    target = await clearing(session, payment.currency)
    moved = await ledger.transfer(session, TransferIn(
        debit_account_id=source.id, credit_account_id=target.id, asset_code=payment.currency,
        amount=amount, kind="refund", reference_type="payment_refund",
        reference_id=str(refund.id)), idempotency_key=f"payment_refund:{refund.id}")
    refund.transfer_id = moved.id
    await session.flush()
    await session.refresh(refund)
    return RefundOut.model_validate(refund), True


async def close_refund(session: AsyncSession, refund_id: uuid.UUID, *,
                       gateway_ref: str | None, error: str | None = None) -> RefundOut:
    refund = await session.scalar(select(PaymentRefund).where(PaymentRefund.id == refund_id)
                                  .with_for_update().execution_options(populate_existing=True))
    if refund is None:
        raise errors.PaymentNotFound("No such refund.", field="refund_id")
    payment = await load(session, refund.payment_id, lock=True)
    await record_attempt(session, payment, "refund", {"amount": refund.amount},
                         "error" if error else "ok",
                         {"error": error} if error else {"ref": gateway_ref})
    if refund.status != "pending":
        return RefundOut.model_validate(refund)
    if error is not None:
        refund.status = "failed"
        if refund.transfer_id is not None:
            await ledger.reverse(session, refund.transfer_id, reason="refund refused by gateway",
                                 idempotency_key=f"payment_refund:{refund.id}:reversed")
    else:
        refund.status, refund.gateway_ref, refund.succeeded_at = \
            "succeeded", gateway_ref, clock.now()
        payment.refunded_amount += refund.amount
        payment.updated_at = func.now()  # type: ignore[assignment]
        await session.flush()
        await events.publish(session, "payment.refunded", event_data(
            payment, refund_id=str(refund.id), refunded=refund.amount,
            refunded_total=payment.refunded_amount))
    refund.updated_at = func.now()  # type: ignore[assignment]
    await session.flush()
    await session.refresh(refund)
    return RefundOut.model_validate(refund)


async def stale_refunds(session: AsyncSession, *, older_than: dt.timedelta,
                        limit: int = 100) -> list[tuple[uuid.UUID, int, str]]:
    """Refunds left pending past the deadline: (payment id, amount, key) of each."""
    rows = await session.execute(
        select(PaymentRefund.payment_id, PaymentRefund.amount, PaymentRefund.idempotency_key)
        .where(PaymentRefund.status == "pending",
               PaymentRefund.updated_at < clock.now() - older_than)
        .order_by(PaymentRefund.updated_at).limit(limit))
    return [(row.payment_id, row.amount, row.idempotency_key) for row in rows]
