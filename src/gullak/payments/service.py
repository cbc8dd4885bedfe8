"""Payments commands and queries, the domain's public face. Services never commit and never
call a provider: `flows.py` opens the units of work around each provider call.

Other domains use `create_payment` (in their own unit of work, no provider call),
`get_payment`, and the flows `start` and `refund`. What a payment's success means to them
arrives as the event `payment.succeeded` (gullak.kit.events), in the same transaction as the
money's move in the ledger.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import driver_rows
from gullak.kit import clock
from gullak.kit.errors import InvalidInput
from gullak.kit.events import Event
from gullak.kit.ids import human_code, uuid7
from gullak.kit.schemas import BIGINT
from gullak.ledger import service as ledger
from gullak.payments import errors
from gullak.payments.common import (
    COLUMNS,
    CURRENCIES,
    load,
    locked,
    payment_of,
    payment_out,
    record_attempt,
)
from gullak.payments.gateways.base import GatewayOrder, PaymentRequest
from gullak.payments.models import INVOICE_SEQ, OPEN, Payment
from gullak.payments.refunds import close_refund, get_refund, open_refund, stale_refunds
from gullak.payments.schemas import PaymentOut, PaymentPage, Purpose
from gullak.payments.webhooks import overdue, poll_event, process_event, receive_webhook
from gullak.settings import Settings, get_settings

__all__ = [
    "cancel_open", "close_refund", "create_payment", "create_topup", "get_payment",
    "get_refund", "get_user_payment", "list_topups", "open_refund", "order_status_changed",
    "overdue", "poll_event", "process_event", "receive_webhook", "record_attempt",
    "record_started", "stale_refunds", "starting",
]


def _hash(purpose: str, reference_id: str, amount: int, currency: str) -> str:
    return ledger.request_hash("payment", [purpose, reference_id, amount, currency])


def check_amount(amount: object) -> int:
    if type(amount) is not int or not 0 < amount <= BIGINT:
        raise errors.InvalidAmount(field="amount")
    return amount


# Every order paid in part at a gateway makes one: on the driver, the whole row returned.
_CREATE = f"""
INSERT INTO payments (id, user_id, purpose, reference_id, amount, currency, gateway,
                      invoice_number, idempotency_key, request_hash)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (user_id, idempotency_key) DO NOTHING
RETURNING {COLUMNS}
"""


async def create_payment(session: AsyncSession, *, user_id: uuid.UUID, purpose: str,
                         reference_id: str, amount: int, currency: str = "INR",
                         key: str, gateway: str | None = None) -> PaymentOut:
    """Record a payment in 'created', in the caller's unit of work; the provider is asked
    later (`flows.start`). The same key for the same user and request gives the same
    payment; with another request, idempotency_key_reused.

    `gateway` is the caller's `settings.payment_gateway`. A caller without its settings at
    hand leaves it out and the process's settings choose."""
    check_amount(amount)
    if currency not in CURRENCIES:
        raise errors.UnsupportedCurrency(field="currency")
    if purpose not in Purpose.__members__:
        raise InvalidInput(f"Unknown purpose {purpose!r}.", code="invalid_purpose",
                           field="purpose")
    if not key or len(key) > 200 or not reference_id or len(reference_id) > 200:
        raise InvalidInput("A key and a reference of 1 to 200 characters are needed.",
                                  field="key")
    digest = _hash(purpose, reference_id, amount, currency)
    invoice = None
    if purpose == "topup":
        invoice = await human_code(session, "INV", INVOICE_SEQ)
    inserted = await driver_rows(session, _CREATE, (
        uuid7(), user_id, purpose, reference_id, amount, currency,
        gateway or get_settings().payment_gateway, invoice, key, digest))
    if not inserted:
        existing = await session.scalar(select(Payment).where(
            Payment.user_id == user_id, Payment.idempotency_key == key))
        assert existing is not None
        if existing.request_hash != digest:
            raise errors.IdempotencyKeyReused(field="key")
        return payment_out(existing)
    return payment_of(inserted[0])


async def create_topup(session: AsyncSession, settings: Settings, *, user_id: uuid.UUID,
                       amount: int, key: str) -> PaymentOut:
    if type(amount) is not int or not settings.topup_min_amount <= amount \
            <= settings.topup_max_amount:
        raise errors.InvalidAmount(
            f"A top-up is {settings.topup_min_amount} to {settings.topup_max_amount} paise.",
            field="amount", min=settings.topup_min_amount, max=settings.topup_max_amount)
    return await create_payment(session, user_id=user_id, purpose="topup",
                                reference_id=f"topup:{user_id}", amount=amount, key=key,
                                gateway=settings.payment_gateway)


async def get_payment(session: AsyncSession, payment_id: uuid.UUID) -> PaymentOut:
    return payment_out(await load(session, payment_id))


async def get_user_payment(session: AsyncSession, payment_id: uuid.UUID,
                           user_id: uuid.UUID) -> PaymentOut:
    """Another user's payment is as unknown as one that does not exist."""
    payment = await load(session, payment_id)
    if payment.user_id != user_id:
        raise errors.PaymentNotFound(field="payment_id")
    return payment_out(payment)


async def list_topups(session: AsyncSession, user_id: uuid.UUID, *,
                      cursor: uuid.UUID | None = None, limit: int = 50) -> PaymentPage:
    """Newest first, by keyset on the (time-ordered) id."""
    query = select(Payment).where(Payment.user_id == user_id, Payment.purpose == "topup")
    if cursor is not None:
        query = query.where(Payment.id < cursor)
    rows = list(await session.scalars(query.order_by(Payment.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    items = [payment_out(p) for p in rows[:limit]]
    return PaymentPage(items=items, next_cursor=str(items[-1].id) if more else None)


# The provider's answer recorded as an attempt, and the payment given its provider order
# (kept whatever the status: an event about that order must find its payment) if it has none
# yet, in one statement; the payment comes back when it changed.
_STARTED = f"""
WITH attempt AS (
  INSERT INTO payment_attempts (id, user_id, payment_id, operation, request, outcome, response)
  VALUES (%(attempt)s, %(user)s, %(id)s, 'create', %(request)s::jsonb, 'ok', %(response)s::jsonb)
)
UPDATE payments SET gateway_ref = %(ref)s,
  checkout_url = CASE WHEN status IN ({", ".join(f"'{s}'" for s in OPEN)}) THEN %(url)s
                      ELSE checkout_url END,
  status = CASE WHEN status = 'created' THEN 'pending' ELSE status END,
  updated_at = %(now)s
WHERE id = %(id)s AND gateway_ref IS NULL
RETURNING {COLUMNS}
"""


async def starting(session: AsyncSession, payment_id: uuid.UUID,
                   user_id: uuid.UUID | None = None) -> tuple[PaymentOut, PaymentRequest | None]:
    """The payment, and what to ask its gateway, if it still needs asking: a payment already
    started answers with its checkout URL again, without a second provider order."""
    payment = await locked(session, payment_id)
    if user_id is not None and payment.user_id != user_id:
        raise errors.PaymentNotFound(field="payment_id")
    if payment.gateway_ref is not None or payment.status not in OPEN:
        if payment.status not in OPEN:
            raise errors.InvalidTransition(f"The payment is {payment.status}.")
        return payment, None
    description = {"topup": f"Wallet top-up {payment.invoice_number}",
                   "subscription": "Privé subscription"}.get(
        payment.purpose, f"Order {payment.reference_id}")
    return payment, PaymentRequest(
        payment.id, payment.amount, payment.currency, payment.purpose, str(payment.id),
        description)


async def record_started(session: AsyncSession, payment_id: uuid.UUID,
                         order: GatewayOrder) -> PaymentOut:
    payment = await locked(session, payment_id)
    changed = await driver_rows(session, _STARTED, {
        "attempt": uuid7(), "user": payment.user_id, "id": payment.id,
        "request": orjson.dumps({"amount": payment.amount}).decode(),
        "response": orjson.dumps({"ref": order.ref, **_safe(order.raw)}).decode(),
        "ref": order.ref, "url": order.checkout_url, "now": clock.now()})
    if changed:
        payment = payment_of(changed[0])
    if payment.status not in OPEN:
        # Cancelled (or failed) while the provider was asked: nobody is sent to pay it.
        raise errors.InvalidTransition(f"The payment is {payment.status}.", keep_changes=True)
    return payment


def _safe(raw: Any) -> dict[str, Any]:
    """A provider's answer, as stored with the attempt: its fields, nothing of ours."""
    return {str(k): v for k, v in dict(raw).items()
            if isinstance(v, (str, int, float, bool, type(None)))}



# -- an order cancelled ----------------------------------------------------------------------

async def order_status_changed(session: AsyncSession, event: Event) -> None:
    """An order cancelled while its payment is still open: the payment is cancelled, so it is
    never started again (`starting` refuses it). The provider may still have been paid; that
    success is recorded as any other (webhooks.apply) and the order gives it back.

    Runs in the order's unit, which holds the order's row lock, while the webhook job locks a
    payment and then its order: waiting on the payment here could deadlock with it. So a
    payment locked at this moment is skipped and cancelled by a job after this unit commits.
    """
    if event.data.get("to_status") != "cancelled":
        return
    reference = str(event.data.get("order_id"))
    skipped = await cancel_open(session, reference, wait=False)
    if skipped:
        from gullak.payments import jobs  # jobs import this module
        from gullak.worker import enqueue

        await enqueue(session, jobs.cancel_open, reference_id=reference)


async def cancel_open(session: AsyncSession, reference_id: str, *, wait: bool = True) -> int:
    """Cancel the open payments of the order `reference_id`; returns how many open ones were
    left alone because another unit held them (only when not `wait`)."""
    base = select(Payment).where(Payment.purpose == "order",
                                 Payment.reference_id == reference_id,
                                 Payment.status.in_(OPEN))
    open_ids = set(await session.scalars(base.with_only_columns(Payment.id)))
    if not open_ids:
        return 0
    found = list(await session.scalars(
        base.with_for_update(skip_locked=not wait).execution_options(populate_existing=True)))
    for payment in found:
        payment.status = "cancelled"
        payment.checkout_url = None  # nobody is sent to pay it any more
        payment.updated_at = func.now()  # type: ignore[assignment]
    await session.flush()
    return len(open_ids - {p.id for p in found})
