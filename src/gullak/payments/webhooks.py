"""Gateway events: verified, stored raw, then processed exactly once.

Intake (`receive_webhook`) verifies the signature before anything else, then stores the event
once per (provider, event id) (`store`: the key is claimed in `gateway_event_keys`, as
`gateway_events` is partitioned by month and cannot keep it unique): ten deliveries of one
event make one row, and only the first asks for processing. Processing (`process_event`, run
by the job) locks the event, then its payment, and applies the event to the payment's state,
in whatever order events arrive:

- captured: the payment succeeds (from any status but succeeded: money that was taken is
  money we owe, even after a failed or expired attempt, or once cancelled with its order,
  which then gives it back), the money moves from the gateway clearing account to the
  purpose's account, and `payment.succeeded` is published;
- failed / expired: only a payment still open (created, pending) fails or expires, and
  `payment.failed` is published; a late failure never undoes a success;
- anything else, or an event for no payment we know: stored, marked, ignored.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import driver_rows
from gullak.kit import clock, events
from gullak.kit.ids import uuid7
from gullak.kit.schemas import read_json
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.payments import errors
from gullak.payments.common import COLUMNS, OPEN_STATUSES, clearing, destination, payment_of
from gullak.payments.gateways.base import Gateway, GatewayEvent, GatewayStatus, InvalidPayload
from gullak.payments.models import Payment
from gullak.payments.schemas import PaymentOut

log = structlog.get_logger("gullak.payments")


def event_data(payment: Payment | PaymentOut, **extra: Any) -> dict[str, Any]:
    return {"payment_id": str(payment.id), "purpose": str(payment.purpose),
            "reference_id": payment.reference_id, "user_id": str(payment.user_id),
            "amount": payment.amount, "currency": payment.currency, **extra}


async def receive_webhook(session: AsyncSession, gateway: Gateway, headers: Mapping[str, str],
                          raw_body: bytes) -> uuid.UUID | None:
    """Store a verified event; its row id if it is new (the caller enqueues its processing
    in this transaction), None for a copy of one already stored."""
    if not gateway.verify_webhook(headers, raw_body):
        log.warning("webhook_invalid_signature", gateway=gateway.name, size=len(raw_body))
        raise errors.InvalidSignature()
    try:
        event = gateway.parse_webhook(headers, raw_body)
        payload = read_json(raw_body)
    except (InvalidPayload, ValueError) as exc:
        raise errors.InvalidWebhook(str(exc)) from None
    return await store(session, gateway.name, event, payload)


_STORE = """
WITH claim AS (
  INSERT INTO gateway_event_keys (provider, event_id, gateway_event_id)
  VALUES (%(provider)s, %(event_id)s, %(id)s)
  ON CONFLICT (provider, event_id) DO NOTHING RETURNING gateway_event_id
)
INSERT INTO gateway_events (id, provider, event_id, kind, ref, amount, payload)
SELECT gateway_event_id, %(provider)s, %(event_id)s, %(kind)s, %(ref)s, %(amount)s,
       %(payload)s::jsonb
FROM claim RETURNING id
"""


async def store(session: AsyncSession, provider: str, event: GatewayEvent,
                payload: Any) -> uuid.UUID | None:
    """One statement: the event's key is claimed and the event stored, or, for a key already
    claimed, neither. A copy racing the first waits on the first's key until it commits (then
    stores nothing) or rolls back (then stores it). On the driver: SQLAlchemy built and ran
    this statement for several times its round trip's client CPU."""
    found = await driver_rows(session, _STORE, {
        "provider": provider, "event_id": event.event_id[:200], "id": uuid7(),
        "kind": event.kind, "ref": event.ref, "amount": event.amount,
        # json.dumps, as SQLAlchemy's JSONB sent it: any integer, and what PostgreSQL refuses
        # (a NUL, a lone surrogate) refused there as before.
        "payload": json.dumps(payload if isinstance(payload, dict) else {"body": payload})})
    row_id: uuid.UUID | None = found[0][0] if found else None
    log.info("webhook_received", gateway=provider, event_id=event.event_id, kind=event.kind,
             duplicate=row_id is None)
    return row_id


class StoredEvent(NamedTuple):
    provider: str
    event_id: str
    kind: str
    ref: str | None
    amount: int | None
    processed_at: dt.datetime | None
    outcome: str | None


# Processing reads and writes its event and payment on the driver: an event applied is a
# handful of rows, and SQLAlchemy's statements cost a job several times their round trips.
_EVENT = f"SELECT {', '.join(StoredEvent._fields)} FROM gateway_events WHERE id = %s FOR UPDATE"
_PAYMENT = f"""
SELECT {COLUMNS} FROM payments WHERE gateway = %s AND gateway_ref = %s FOR UPDATE
"""
_PROCESSED = "UPDATE gateway_events SET processed_at = %s, outcome = %s WHERE id = %s"
_SUCCEEDED = f"""
UPDATE payments SET status = 'succeeded', succeeded_at = %s, updated_at = now() WHERE id = %s
RETURNING {COLUMNS}
"""
_ENDED = f"""
UPDATE payments SET status = %s, updated_at = now() WHERE id = %s RETURNING {COLUMNS}
"""


async def process_event(session: AsyncSession, event_row_id: uuid.UUID) -> str:
    """Apply one stored event, once: a second run (a retried job) finds it processed."""
    found = await driver_rows(session, _EVENT, (event_row_id,))
    if not found:
        return "missing"
    row = StoredEvent(*found[0])
    if row.processed_at is not None:
        return row.outcome or "processed"
    paid = None if row.ref is None else await driver_rows(session, _PAYMENT,
                                                          (row.provider, row.ref))
    outcome = "unknown_payment" if not paid else await apply(session, payment_of(paid[0]), row)
    await driver_rows(session, _PROCESSED, (clock.now(), outcome, event_row_id))
    log.info("webhook_processed", gateway=row.provider, event_id=row.event_id, outcome=outcome)
    return outcome


async def apply(session: AsyncSession, payment: PaymentOut, row: StoredEvent) -> str:
    if row.kind == "captured":
        if payment.status == "succeeded":
            return "already_succeeded"
        if row.amount is not None and row.amount != payment.amount:
            # Not ours to guess: reconciliation reports it, and a person decides.
            log.warning("payment_amount_mismatch", payment_id=str(payment.id),
                        expected=payment.amount, captured=row.amount)
            return "amount_mismatch"
        await succeed(session, payment)
        return "succeeded"
    if row.kind in ("failed", "expired"):
        if payment.status not in OPEN_STATUSES:
            return f"ignored_{payment.status}"
        [ended] = await driver_rows(session, _ENDED, (row.kind, payment.id))
        await events.publish(session, "payment.failed",
                             event_data(payment_of(ended), status=row.kind))
        return row.kind
    return "ignored"


async def succeed(session: AsyncSession, payment: PaymentOut) -> None:
    source = await clearing(session, payment.currency)
    target = await destination(session, payment)
    await ledger.transfer(session, TransferIn(
        debit_account_id=source.id, credit_account_id=target.id,
        asset_code=payment.currency, amount=payment.amount,
        kind=payment.purpose if payment.purpose != "order" else "payment",
        reference_type="payment", reference_id=str(payment.id),
    ), idempotency_key=f"payment:{payment.id}:captured")
    [done] = await driver_rows(session, _SUCCEEDED, (clock.now(), payment.id))
    await events.publish(session, "payment.succeeded", event_data(payment_of(done)))


async def overdue(session: AsyncSession, *, older_than: dt.timedelta,
                  limit: int = 100) -> list[uuid.UUID]:
    """Payments started at their gateway and still waiting on it past the deadline."""
    found = await session.scalars(
        select(Payment.id).where(Payment.status.in_(OPEN_STATUSES),
                                 Payment.gateway_ref.is_not(None),
                                 Payment.updated_at < clock.now() - older_than)
        .order_by(Payment.updated_at).limit(limit))
    return list(found)


async def poll_event(session: AsyncSession, payment_id: uuid.UUID,
                     status: GatewayStatus) -> str:
    """What the gateway answered when asked about a payment, handled as if it had sent it as
    an event: stored (once per payment and status), then processed like any other."""
    payment = await session.get(Payment, payment_id)
    if payment is None or payment.gateway_ref is None or status.status == "pending":
        return "pending"
    kind = "captured" if status.status == "captured" else status.status
    event = GatewayEvent(f"poll:{payment.gateway_ref}:{kind}", payment.gateway_ref, kind,
                         status.captured if kind == "captured" else None)
    row_id = await store(session, payment.gateway, event,
                         {"poll": True, "status": status.status, "captured": status.captured,
                          "refunded": status.refunded})
    if row_id is None:
        return "already_polled"
    return await process_event(session, row_id)
