"""Disbursements: one per attempt to pay an approved withdrawal at its provider, and what
becomes of the withdrawal's hold, exactly once, whatever order answers arrive in:

- succeeded: the hold is captured into payout clearing; the fee moves on to commission
  revenue and the tax to tax withheld, so clearing keeps what the provider paid out;
- failed: the hold is released and the withdrawal fails with the provider's reason;
- reversed (a bounce after success): what was paid, the fee and the tax come back to the
  source account, and the withdrawal opens again for review with a new hold (or fails,
  the money back on the balance, when it cannot be held again).

Answers come from the call itself, from callbacks (verified, stored raw once per provider
event id, processed once by a job) and from polls (stored the same way). The withdrawal row
is locked before its disbursement, always in that order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import structlog
from sqlalchemy import BigInteger, Text, func, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.giftcards import service as giftcards
from gullak.kit import clock, events
from gullak.kit.errors import GullakError
from gullak.kit.ids import uuid7
from gullak.kit.schemas import read_json
from gullak.ledger import service as ledger
from gullak.ledger.schemas import CaptureIn, PlatformPurpose, TransferIn
from gullak.payouts import errors, providers
from gullak.payouts.methods import destination, get_method
from gullak.payouts.models import Disbursement, PayoutEvent, Withdrawal
from gullak.payouts.providers.base import (
    Contact,
    InvalidPayload,
    PayoutProvider,
    PayoutRequest,
    PayoutResult,
)
from gullak.payouts.providers.base import PayoutEvent as ProviderEvent
from gullak.payouts.withdrawals import _hold, locked, release
from gullak.settings import Settings

log = structlog.get_logger("gullak.payouts")
TAX_WITHHELD = "tax_withheld"
VOUCHER_DAYS = 365  # how long a gift voucher issued by a withdrawal can be spent


async def issue_voucher(session: AsyncSession, withdrawal_id: uuid.UUID) -> bool:
    """An approved gift-voucher withdrawal is paid at once: the hold is captured into the
    platform's gift card funding account, and a card of that value is issued from it to the
    owner (its code and PIN shown in clear in GET /v1/me/gift-cards). False for any other."""
    w = await locked(session, withdrawal_id)
    if w.kind != "gift_voucher" or w.status != "approved":
        return False
    assert w.hold_id is not None
    funding = await giftcards.funding_account(session)
    await ledger.capture(session, w.hold_id, CaptureIn(
        credit_account_id=funding, kind="gift_voucher", reference_type="withdrawal",
        reference_id=str(w.id)), idempotency_key=f"withdrawal:{w.id}:capture:{w.round}")
    card, _, _ = await giftcards.issue(
        session, amount=w.net, expires_at=clock.now() + dt.timedelta(days=VOUCHER_DAYS),
        funding_account_id=funding, source="withdrawal", owner_id=w.owner_id)
    now = clock.now()
    w.status, w.paid_at, w.resolved_at, w.reason = "paid", now, now, None
    w.reference_type, w.reference_id = "gift_card", str(card.id)
    await session.flush()
    await events.publish(session, "withdrawal.paid", _event(w))
    return True


async def open_attempt(session: AsyncSession, settings: Settings,
                       withdrawal_id: uuid.UUID) -> tuple[str, PayoutRequest] | None:
    """A new attempt for an approved withdrawal: (provider name, what to ask it), or None
    when there is nothing to pay (already processing, paid, or closed)."""
    w = await locked(session, withdrawal_id)
    if w.status != "approved" or w.method_id is None:
        return None
    method = await get_method(session, w.method_id)
    attempt = int(await session.scalar(select(func.count()).where(
        Disbursement.withdrawal_id == w.id)) or 0) + 1
    d = Disbursement(withdrawal_id=w.id, attempt=attempt,
                     provider=providers.for_kind(method.kind, settings),
                     key=f"payout_{w.id.hex}_{attempt}", amount=w.net, currency=w.asset_code)
    try:
        async with session.begin_nested():
            session.add(d)
            await session.flush()
    except IntegrityError:  # another attempt is live: it pays, not this one
        return None
    w.status = "processing"
    await session.flush()
    return d.provider, _payout_request(settings, d, w, method)


def _payout_request(settings: Settings, d: Disbursement, w: Withdrawal,
                    method: Any) -> PayoutRequest:
    return PayoutRequest(
        id=d.id, key=d.key, amount=d.amount, currency=d.currency,
        destination=destination(settings, method),
        contact=Contact(reference=str(w.owner_id), name=method.holder_name),
        narration=f"Gullak {w.code}")


async def retrying(session: AsyncSession, settings: Settings,
                   disbursement_id: uuid.UUID) -> tuple[str, PayoutRequest] | None:
    """An attempt the provider never answered (no reference yet): asked again with the same
    key, which the provider answers with the payout it already made, if it made one."""
    d = await session.get(Disbursement, disbursement_id, populate_existing=True)
    if d is None or d.status != "created":
        return None
    w = await session.get(Withdrawal, d.withdrawal_id)
    assert w is not None and w.method_id is not None
    return d.provider, _payout_request(settings, d, w, await get_method(session, w.method_id))


async def record_result(session: AsyncSession, disbursement_id: uuid.UUID,
                        result: PayoutResult) -> str:
    """What the provider answered the call: its reference, and the outcome if final."""
    d = await session.get(Disbursement, disbursement_id)
    assert d is not None
    w = await locked(session, d.withdrawal_id)
    d = await _locked_attempt(session, disbursement_id)
    if d.provider_ref is None:
        d.provider_ref = result.ref
    if d.status == "created":
        d.status = "processing"
    await session.flush()
    return await _apply(session, w, d, result.status, result.failure)


async def record_refusal(session: AsyncSession, disbursement_id: uuid.UUID, detail: str) -> str:
    """The provider refused the call for good: the attempt and the withdrawal fail."""
    d = await session.get(Disbursement, disbursement_id)
    assert d is not None
    w = await locked(session, d.withdrawal_id)
    d = await _locked_attempt(session, disbursement_id)
    return await _apply(session, w, d, "failed", detail)


async def _locked_attempt(session: AsyncSession, disbursement_id: uuid.UUID) -> Disbursement:
    d = await session.scalar(select(Disbursement).where(Disbursement.id == disbursement_id)
                             .with_for_update().execution_options(populate_existing=True))
    assert d is not None
    return d


async def _apply(session: AsyncSession, w: Withdrawal, d: Disbursement, status: str | None,
                 failure: str | None) -> str:
    if status == "succeeded":
        if d.status in ("created", "processing"):
            await _succeed(session, w, d)
            return "succeeded"
        if d.status == "failed":
            # Money left after we let it go: reconciliation reports it, a person decides.
            log.warning("payout_success_after_failure", disbursement_id=str(d.id))
            return "success_after_failure"
        return f"ignored_{d.status}"
    if status == "failed":
        if d.status in ("created", "processing"):
            await _fail(session, w, d, failure or "The payout failed at the provider.")
            return "failed"
        return f"ignored_{d.status}"
    if status == "reversed":
        if d.status == "succeeded":
            await _reverse(session, w, d, failure or "The payout came back from the bank.")
            return "reversed"
        if d.status in ("created", "processing"):  # never seen succeeding: it failed
            await _fail(session, w, d, failure or "The payout came back from the bank.")
            return "failed"
        return f"ignored_{d.status}"
    return "processing" if status == "processing" else "ignored"


async def _succeed(session: AsyncSession, w: Withdrawal, d: Disbursement) -> None:
    clearing = await ledger.platform_account(session, w.asset_code,
                                             PlatformPurpose.payout_clearing.value)
    assert w.hold_id is not None
    ref = str(w.id)
    await ledger.capture(session, w.hold_id, CaptureIn(
        credit_account_id=clearing.id, kind="payout", reference_type="withdrawal",
        reference_id=ref),
        idempotency_key=f"withdrawal:{w.id}:capture:{w.round}")
    moves = [(w.fee, PlatformPurpose.commission_revenue.value, "payout_fee"),
             (w.tax, TAX_WITHHELD, "tax_withheld")]
    transfers = [TransferIn(debit_account_id=clearing.id, credit_account_id=(
        await ledger.platform_account(session, w.asset_code, purpose)).id,
        asset_code=w.asset_code, amount=amount, kind=kind, reference_type="withdrawal",
        reference_id=ref)
        for amount, purpose, kind in moves if amount]
    if transfers:
        await ledger.post(session, transfers, idempotency_key=f"withdrawal:{w.id}:fees:{w.round}")
    now = clock.now()
    d.status, d.settled_at, d.failure = "succeeded", now, None
    w.status, w.paid_at, w.resolved_at, w.reason = "paid", now, now, None
    await session.flush()
    await events.publish(session, "withdrawal.paid", _event(w))


async def _fail(session: AsyncSession, w: Withdrawal, d: Disbursement, reason: str) -> None:
    d.status, d.failure, d.settled_at = "failed", reason, clock.now()
    await release(session, w, "failed", reason)
    await events.publish(session, "withdrawal.failed", _event(w, reason=reason))


async def _reverse(session: AsyncSession, w: Withdrawal, d: Disbursement, reason: str) -> None:
    """All that left the source comes back; the withdrawal is reviewed again."""
    clearing = await ledger.platform_account(session, w.asset_code,
                                             PlatformPurpose.payout_clearing.value)
    ref = str(w.id)
    backs = [(w.net, clearing.id)]
    for amount, purpose in ((w.fee, PlatformPurpose.commission_revenue.value),
                            (w.tax, TAX_WITHHELD)):
        if amount:
            backs.append((amount, (await ledger.platform_account(session, w.asset_code,
                                                                 purpose)).id))
    await ledger.post(session, [TransferIn(
        debit_account_id=source, credit_account_id=w.source_account_id,
        asset_code=w.asset_code, amount=amount, kind="payout_reversal",
        reference_type="withdrawal", reference_id=ref)
        for amount, source in backs], idempotency_key=f"withdrawal:{w.id}:back:{w.round}")
    d.status, d.failure, d.reversed_at = "reversed", reason, clock.now()
    w.round += 1
    w.paid_at, w.reason = None, reason
    await session.flush()
    try:
        async with session.begin_nested():
            w.hold_id = (await _hold(session, w)).id
            w.status, w.resolved_at = "review", None
            await session.flush()
    except GullakError as exc:  # a ledger refusal (a frozen account): the money stays there
        log.warning("payout_reopen_refused", withdrawal_id=str(w.id), error=type(exc).__name__)
        await session.refresh(w)
        w.status, w.resolved_at, w.hold_id = "failed", clock.now(), None
        await session.flush()
    await events.publish(session, "withdrawal.reversed", _event(w, reason=reason))


def _event(w: Withdrawal, **extra: Any) -> dict[str, Any]:
    return {"withdrawal_id": str(w.id), "code": w.code, "owner_type": w.owner_type,
            "owner_id": str(w.owner_id), "asset_code": w.asset_code, "amount": w.amount,
            "net": w.net, "status": w.status, **extra}


async def receive_callback(session: AsyncSession, provider: PayoutProvider,
                           headers: Mapping[str, str], raw_body: bytes) -> uuid.UUID | None:
    """Store a verified callback; its row id if new (the caller enqueues its processing in
    this transaction), None for a copy of one already stored."""
    if not provider.verify_webhook(headers, raw_body):
        log.warning("payout_callback_invalid_signature", provider=provider.name,
                    size=len(raw_body))
        raise errors.InvalidSignature()
    try:
        event = provider.parse_webhook(headers, raw_body)
        payload = read_json(raw_body)
    except (InvalidPayload, ValueError) as exc:
        raise errors.InvalidCallback(str(exc)) from None
    return await store(session, provider.name, event,
                       redact(payload) if isinstance(payload, dict) else {"body": "not an object"})


# Fields of providers' payloads that hold a destination: kept masked, like our own copies
# (Razorpay X's fund_account.bank_account.account_number and vpa.address, Xendit's
# channel_properties.account_number).
SECRET_FIELDS = frozenset({"account_number", "address", "upi_id", "vpa"})


def redact(value: Any, key: str = "") -> Any:
    """The payload with every destination number masked to its last four characters."""
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if key in SECRET_FIELDS and isinstance(value, str):
        return "X" * max(len(value) - 4, 0) + value[-4:]
    return value


async def store(session: AsyncSession, provider: str, event: ProviderEvent,
                payload: dict[str, Any]) -> uuid.UUID | None:
    row_id: uuid.UUID | None = await session.scalar(
        insert(PayoutEvent).values(
            id=uuid7(), provider=provider, event_id=event.event_id[:200],
            ref=literal(event.ref, Text), reference=literal(event.reference, Text),
            status=event.status, failure=event.failure,
            amount=literal(event.amount, BigInteger), payload=literal(payload, JSONB))
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(PayoutEvent.id))
    log.info("payout_callback_received", provider=provider, event_id=event.event_id,
             status=event.status, duplicate=row_id is None)
    return row_id


def _as_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


async def process_event(session: AsyncSession, event_row_id: uuid.UUID) -> str:
    """Apply one stored event, once: a second run finds it processed."""
    row = await session.scalar(select(PayoutEvent).where(PayoutEvent.id == event_row_id)
                               .with_for_update().execution_options(populate_existing=True))
    if row is None:
        return "missing"
    if row.processed_at is not None:
        return row.outcome or "processed"
    conditions = []
    if row.ref is not None:
        conditions.append(Disbursement.provider_ref == row.ref)
    if (reference := _as_uuid(row.reference)) is not None:
        conditions.append(Disbursement.id == reference)
    found = None if not conditions else await session.scalar(select(Disbursement).where(
        Disbursement.provider == row.provider, or_(*conditions)))
    if found is None:
        outcome = "unknown_payout"
    else:
        w = await locked(session, found.withdrawal_id)
        d = await _locked_attempt(session, found.id)
        if d.provider_ref is None and row.ref is not None:
            d.provider_ref = row.ref
        outcome = await _apply(session, w, d, row.status, row.failure)
    row.processed_at, row.outcome = clock.now(), outcome
    await session.flush()
    log.info("payout_callback_processed", provider=row.provider, event_id=row.event_id,
             outcome=outcome)
    return outcome


async def poll_result(session: AsyncSession, disbursement_id: uuid.UUID,
                      result: PayoutResult) -> str:
    """What the provider answered when asked, handled as if it had called back: stored once
    per payout and status, then processed like any other event."""
    d = await session.get(Disbursement, disbursement_id)
    if d is None or result.status == "processing":
        return "processing"
    event = ProviderEvent(f"poll:{result.ref}:{result.status}", result.ref, str(d.id),
                          result.status, result.failure, None)
    row_id = await store(session, d.provider, event, {"poll": True, "status": result.status})
    if row_id is None:
        return "already_polled"
    return await process_event(session, row_id)


async def waiting(session: AsyncSession, *, older_than: Any,
                  limit: int = 100) -> list[tuple[uuid.UUID, str, str | None]]:
    """Attempts still waiting on their provider past the deadline: (id, provider, ref)."""
    rows = await session.execute(
        select(Disbursement.id, Disbursement.provider, Disbursement.provider_ref)
        .where(Disbursement.status.in_(("created", "processing")),
               Disbursement.updated_at < clock.now() - older_than)
        .order_by(Disbursement.updated_at).limit(limit))
    return [(r.id, r.provider, r.provider_ref) for r in rows]


async def approved_unpaid(session: AsyncSession, limit: int = 100) -> list[uuid.UUID]:
    """Approved withdrawals no attempt was opened for (a job lost): paid by the poll."""
    found = await session.scalars(select(Withdrawal.id).where(Withdrawal.status == "approved")
                                  .order_by(Withdrawal.id).limit(limit))
    return list(found)
