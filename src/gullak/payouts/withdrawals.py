"""Withdrawals: quoted, requested (the amount held in the ledger at once, so it cannot be
spent twice), reviewed under maker-checker rules, cancelled by their owner while in review.

Limits count what is held or paid (review, approved, processing, paid) per UTC day and month;
the owner's requests are serialised by a transaction-scoped advisory lock, so two racing
requests cannot both pass a limit. Review: trusted users' small withdrawals are approved
without a person; the rest wait. The admin who approves cannot be the one who created or last
edited the request, nor approve twice; above a threshold two approvals are needed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import service as identity
from gullak.kit import clock, events
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import HoldIn
from gullak.payouts import errors
from gullak.payouts.common import Charges, charges, masked
from gullak.payouts.methods import owned, usable
from gullak.payouts.models import (
    Disbursement,
    PayoutMethod,
    Withdrawal,
    WithdrawalDecision,
)
from gullak.payouts.schemas import (
    DecisionOut,
    DisbursementOut,
    QuoteIn,
    QuoteOut,
    WithdrawalIn,
    WithdrawalKind,
    WithdrawalOut,
    WithdrawalPage,
    WithdrawalPatch,
)
from gullak.settings import Settings

COUNTED = ("review", "approved", "processing", "paid")
HOLD_DAYS = 90  # a withdrawal is decided long before; the deadline only bounds a forgotten one


async def withdrawal_out(session: AsyncSession, w: Withdrawal, *,
                         detail: bool = True) -> WithdrawalOut:
    if inspect(w).expired_attributes:  # updated_at, set by the database on each write
        await session.refresh(w)
    method = None if w.method_id is None else await session.get(PayoutMethod, w.method_id)
    decisions = [] if not detail else list(await session.scalars(
        select(WithdrawalDecision).where(WithdrawalDecision.withdrawal_id == w.id)
        .order_by(WithdrawalDecision.created_at)))
    attempts = [] if not detail else list(await session.scalars(
        select(Disbursement).where(Disbursement.withdrawal_id == w.id)
        .order_by(Disbursement.attempt)))
    approvals = sum(1 for d in decisions if d.round == w.round and d.decision == "approve")
    return WithdrawalOut(
        id=w.id, code=w.code, owner_type=w.owner_type, owner_id=w.owner_id, purpose=w.purpose,
        kind=WithdrawalKind(w.kind), asset_code=w.asset_code, amount=w.amount, fee=w.fee, tax=w.tax, net=w.net,
        method_id=w.method_id, status=w.status,
        destination=None if method is None else masked(method.kind, method.last4),
        approvals_needed=w.approvals_needed, approvals=approvals, round=w.round,
        auto_approved=w.auto_approved, reason=w.reason, reference_type=w.reference_type,
        reference_id=w.reference_id, created_at=w.created_at, updated_at=w.updated_at,
        paid_at=w.paid_at,
        disbursements=[DisbursementOut.model_validate(d) for d in attempts],
        decisions=[DecisionOut.model_validate(d) for d in decisions])


async def source_account(session: AsyncSession, settings: Settings, owner_type: str,
                         owner_id: uuid.UUID, asset: str, source: str) -> uuid.UUID:
    """The account that pays: withdrawable assets only, and an account that exists."""
    if asset not in settings.payout_assets:
        raise errors.NotWithdrawable(f"{asset} cannot be withdrawn.", field="asset_code")
    found = await ledger.find_account(session, owner_type, owner_id, asset, source)
    if found is None:
        raise errors.InsufficientFunds(f"There is no {asset} balance to withdraw.",
                                       field="amount")
    return found.id


async def _counted(session: AsyncSession, owner_type: str, owner_id: uuid.UUID,
                   since: dt.datetime) -> int:
    total = await session.scalar(select(func.coalesce(func.sum(Withdrawal.amount), 0)).where(
        Withdrawal.owner_type == owner_type, Withdrawal.owner_id == owner_id,
        Withdrawal.purpose == "withdrawal", Withdrawal.status.in_(COUNTED),
        Withdrawal.created_at >= since))
    return int(total or 0)


async def _trusted(session: AsyncSession, settings: Settings, owner_id: uuid.UUID) -> bool:
    """Verified KYC, enough withdrawals paid before, and never a bounce."""
    if not (await identity.kyc_state(session, owner_id)).verified:
        return False
    paid = await session.scalar(select(func.count()).where(
        Withdrawal.owner_type == "user", Withdrawal.owner_id == owner_id,
        Withdrawal.status == "paid"))
    bounced = await session.scalar(select(func.count()).select_from(Disbursement).join(
        Withdrawal, Withdrawal.id == Disbursement.withdrawal_id).where(
        Withdrawal.owner_type == "user", Withdrawal.owner_id == owner_id,
        Disbursement.status == "reversed"))
    return int(paid or 0) >= settings.payout_trusted_after and not bounced


def _cost(settings: Settings, kind: str, amount: int, owner_type: str) -> Charges:
    # A gift voucher keeps the value on the platform, and a merchant's settlement already
    # paid its commission: no fee, no tax withheld (the settings are users' withdrawals').
    if kind == WithdrawalKind.gift_voucher.value or owner_type == "merchant":
        return Charges(0, 0)
    return charges(amount, fee_flat=settings.payout_fee_flat, fee_bps=settings.payout_fee_bps,
                   tax_bps=settings.payout_tax_bps, tax_above=settings.payout_tax_above)


async def quote(session: AsyncSession, settings: Settings, owner_type: str,
                owner_id: uuid.UUID, data: QuoteIn) -> QuoteOut:
    """What a withdrawal would cost and need, checked as a request would be but holding
    nothing; refused the same way."""
    return (await _quote(session, settings, owner_type, owner_id, data))[0]


async def _quote(session: AsyncSession, settings: Settings, owner_type: str,
                 owner_id: uuid.UUID, data: QuoteIn) -> tuple[QuoteOut, uuid.UUID]:
    """The quote, and the account that pays."""
    account = await source_account(session, settings, owner_type, owner_id, data.asset_code,
                                   data.source.value)
    cost = _cost(settings, data.kind.value, data.amount, owner_type)
    if data.amount < settings.payout_min_amount or cost.net(data.amount) <= 0:
        raise errors.AmountOutOfRange(
            f"The least that can be withdrawn is {settings.payout_min_amount}, and something"
            " must be left after the fee and tax.", field="amount")
    now = clock.now()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = await _counted(session, owner_type, owner_id, day)
    month = await _counted(session, owner_type, owner_id, day.replace(day=1))
    available = (await ledger.balance(session, account)).available
    kyc_required = owner_type == "user" and data.amount > settings.payout_kyc_above
    auto = (owner_type == "user" and data.amount <= settings.payout_auto_approve_max
            and await _trusted(session, settings, owner_id))
    return QuoteOut(
        amount=data.amount, asset_code=data.asset_code, fee=cost.fee, tax=cost.tax,
        net=cost.net(data.amount), available=available, kyc_required=kyc_required,
        approvals_needed=2 if data.amount > settings.payout_two_approvals_above else 1,
        auto_approve=auto, remaining_today=max(settings.payout_daily_max - today, 0),
        remaining_this_month=max(settings.payout_monthly_max - month, 0)), account


def _hash(owner_type: str, owner_id: uuid.UUID, data: WithdrawalIn) -> str:
    return ledger.request_hash("withdrawal", {"owner": f"{owner_type}:{owner_id}",
                                              **data.model_dump(mode="json")})


async def request(session: AsyncSession, settings: Settings, owner_type: str,
                  owner_id: uuid.UUID, data: WithdrawalIn, key: str, actor: Subject, *,
                  purpose: str = "withdrawal", reference: tuple[str, str] | None = None,
                  ) -> tuple[WithdrawalOut, bool]:
    """Check, hold and record a withdrawal; (it, whether it is approved and due to be paid).
    The same key gives the same withdrawal."""
    digest = _hash(owner_type, owner_id, data)
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 7))"),
                          {"k": f"payouts:{owner_type}:{owner_id}"})
    found = await session.scalar(select(Withdrawal).where(
        Withdrawal.owner_type == owner_type, Withdrawal.owner_id == owner_id,
        Withdrawal.idempotency_key == key))
    if found is not None:
        if found.request_hash != digest:
            raise errors.IdempotencyKeyReused(field="Idempotency-Key")
        return await withdrawal_out(session, found), False
    method = None
    if data.method_id is not None:
        method = await owned(session, owner_type, owner_id, data.method_id)
    quoted, account = await _quote(session, settings, owner_type, owner_id, data)  # asset first
    if method is not None:
        _check_method(method, data.asset_code)
    if purpose == "withdrawal":
        if data.amount > min(quoted.remaining_today, quoted.remaining_this_month):
            raise errors.LimitExceeded(
                f"At most {quoted.remaining_today} more today and"
                f" {quoted.remaining_this_month} more this month.", field="amount")
    if quoted.kyc_required and not (await identity.kyc_state(session, owner_id)).has_pan:
        raise errors.KycRequired(field="amount")
    if data.amount > quoted.available:
        raise errors.InsufficientFunds(field="amount")
    number = await session.scalar(text("SELECT nextval('withdrawal_code_seq')"))
    w = Withdrawal(
        code=f"WD-{clock.now():%Y%m}-{number:06d}", owner_type=owner_type, owner_id=owner_id,
        purpose=purpose, kind=data.kind.value, source_account_id=account,
        asset_code=data.asset_code,
        amount=data.amount, fee=quoted.fee, tax=quoted.tax, net=quoted.net,
        method_id=None if method is None else method.id,
        status="approved" if quoted.auto_approve else "review",
        approvals_needed=quoted.approvals_needed, auto_approved=quoted.auto_approve,
        created_by=actor.id, created_by_kind=actor.kind, idempotency_key=key,
        request_hash=digest, reference_type=reference[0] if reference else None,
        reference_id=reference[1] if reference else None,
        created_at=clock.now())  # the limits count days by the same clock
    session.add(w)
    await session.flush()
    w.hold_id = (await _hold(session, w)).id
    await session.flush()
    await session.refresh(w)
    # Risk may refuse it here (a blocked user, an unusual amount): all of it rolls back.
    await events.publish(session, "withdrawal.requested", {
        "withdrawal_id": str(w.id), "owner_type": owner_type, "owner_id": str(owner_id),
        "purpose": purpose, "asset_code": w.asset_code, "amount": w.amount})
    return await withdrawal_out(session, w), quoted.auto_approve


def _check_method(method: PayoutMethod, asset: str) -> None:
    if method.status != "verified":
        raise errors.MethodNotUsable("This payout method is not verified.", field="method_id")
    if not usable(method, clock.now()):
        raise errors.CoolingOff(
            f"This payout method can receive money from {method.usable_from:%Y-%m-%d %H:%M}"
            " UTC.", field="method_id")
    if method.currency != asset:
        raise errors.MethodNotUsable(f"This payout method receives {method.currency}.",
                                     field="method_id")


async def _hold(session: AsyncSession, w: Withdrawal) -> Any:
    return await ledger.place_hold(session, HoldIn(
        account_id=w.source_account_id, asset_code=w.asset_code, amount=w.amount,
        expires_at=clock.now() + dt.timedelta(days=HOLD_DAYS), reference_type="withdrawal",
        reference_id=str(w.id)), idempotency_key=f"withdrawal:{w.id}:hold:{w.round}")


async def locked(session: AsyncSession, withdrawal_id: uuid.UUID) -> Withdrawal:
    w = await session.scalar(select(Withdrawal).where(Withdrawal.id == withdrawal_id)
                             .with_for_update().execution_options(populate_existing=True))
    if w is None:
        raise errors.WithdrawalNotFound(field="withdrawal_id")
    return w


async def release(session: AsyncSession, w: Withdrawal, status: str, reason: str | None) -> None:
    """Give the held amount back and close the withdrawal as `status`."""
    if w.hold_id is not None:
        await ledger.release(session, w.hold_id,
                             idempotency_key=f"withdrawal:{w.id}:release:{w.round}")
    w.status, w.reason, w.resolved_at = status, reason, clock.now()
    await session.flush()


async def cancel(session: AsyncSession, owner_type: str, owner_id: uuid.UUID,
                 withdrawal_id: uuid.UUID) -> WithdrawalOut:
    w = await locked(session, withdrawal_id)
    if (w.owner_type, w.owner_id) != (owner_type, owner_id):
        raise errors.WithdrawalNotFound(field="withdrawal_id")
    if w.status != "review":
        raise errors.InvalidTransition(f"A withdrawal that is {w.status} cannot be cancelled.")
    await release(session, w, "cancelled", "Cancelled by you.")
    return await withdrawal_out(session, w)


async def decide(session: AsyncSession, withdrawal_id: uuid.UUID, admin: Subject,
                 approve: bool, reason: str) -> tuple[WithdrawalOut, WithdrawalOut, bool]:
    """One reviewer's decision: (before, after, whether it is now due to be paid). A
    second approver racing the first waits on the row, then finds it approved."""
    w = await locked(session, withdrawal_id)
    before = await withdrawal_out(session, w)
    if w.status != "review":
        raise errors.InvalidTransition(f"This withdrawal is {w.status}, not in review.")
    if approve and admin.id in (w.created_by, w.edited_by):
        raise errors.MakerChecker("You made or last edited this request: another admin"
                                  " must approve it.")
    earlier = await session.scalar(select(WithdrawalDecision.id).where(
        WithdrawalDecision.withdrawal_id == w.id, WithdrawalDecision.round == w.round,
        WithdrawalDecision.admin_id == admin.id))
    if earlier is not None:
        raise errors.MakerChecker("You have already decided on this request.")
    session.add(WithdrawalDecision(withdrawal_id=w.id, round=w.round, admin_id=admin.id,
                                   decision="approve" if approve else "reject", reason=reason))
    await session.flush()
    due = False
    if not approve:
        await release(session, w, "rejected", reason)
    else:
        approvals = await session.scalar(select(func.count()).where(
            WithdrawalDecision.withdrawal_id == w.id, WithdrawalDecision.round == w.round,
            WithdrawalDecision.decision == "approve"))
        if int(approvals or 0) >= w.approvals_needed:
            w.status, due = "approved", True
            await session.flush()
    return before, await withdrawal_out(session, w), due


async def edit(session: AsyncSession, settings: Settings, withdrawal_id: uuid.UUID,
               admin: Subject, patch: WithdrawalPatch) -> tuple[WithdrawalOut, WithdrawalOut]:
    """A back-office correction while in review: a smaller amount (the hold is replaced) or
    another usable method of the owner. Approvals given before the edit no longer count."""
    w = await locked(session, withdrawal_id)
    before = await withdrawal_out(session, w)
    if w.status != "review":
        raise errors.InvalidTransition(f"This withdrawal is {w.status}, not in review.")
    if patch.method_id is not None:
        if w.kind != WithdrawalKind.payout.value:
            raise errors.MethodNotUsable("A gift voucher goes to no payout method.",
                                         field="method_id")
        method = await owned(session, w.owner_type, w.owner_id, patch.method_id)
        _check_method(method, w.asset_code)
        w.method_id = method.id
    lowered = patch.amount is not None and patch.amount != w.amount
    if patch.amount is not None and lowered:
        if patch.amount > w.amount:
            raise errors.AmountOutOfRange("An edit can only lower the amount.", field="amount")
        cost = _cost(settings, w.kind, patch.amount, w.owner_type)
        if patch.amount < settings.payout_min_amount or cost.net(patch.amount) <= 0:
            raise errors.AmountOutOfRange(field="amount")
        if w.hold_id is not None:
            await ledger.release(session, w.hold_id,
                                 idempotency_key=f"withdrawal:{w.id}:release:{w.round}")
        w.amount, w.fee, w.tax, w.net = patch.amount, cost.fee, cost.tax, cost.net(patch.amount)
        w.approvals_needed = 2 if patch.amount > settings.payout_two_approvals_above else 1
    w.round += 1
    w.edited_by, w.reason = admin.id, patch.reason
    if lowered and w.hold_id is not None:
        await session.flush()
        w.hold_id = (await _hold(session, w)).id
    await session.flush()
    return before, await withdrawal_out(session, w)


async def get_withdrawal(session: AsyncSession, withdrawal_id: uuid.UUID, *,
                         owner: tuple[str, uuid.UUID] | None = None) -> WithdrawalOut:
    w = await session.get(Withdrawal, withdrawal_id, populate_existing=True)
    if w is None or (owner is not None and (w.owner_type, w.owner_id) != owner):
        raise errors.WithdrawalNotFound(field="withdrawal_id")
    return await withdrawal_out(session, w)


async def list_withdrawals(session: AsyncSession, *, owner: tuple[str, uuid.UUID] | None = None,
                           status: str | None = None, cursor: uuid.UUID | None = None,
                           limit: int = 50) -> WithdrawalPage:
    """Newest first; the queue (status review) oldest first, as it is worked."""
    query = select(Withdrawal)
    if owner is not None:
        query = query.where(Withdrawal.owner_type == owner[0], Withdrawal.owner_id == owner[1])
    if status is not None:
        query = query.where(Withdrawal.status == status)
    oldest_first = status == "review"
    if cursor is not None:
        query = query.where(Withdrawal.id > cursor if oldest_first else Withdrawal.id < cursor)
    order = Withdrawal.id.asc() if oldest_first else Withdrawal.id.desc()
    rows = list(await session.scalars(query.order_by(order).limit(limit + 1)))
    items = [await withdrawal_out(session, w, detail=False) for w in rows[:limit]]
    more = len(rows) > limit
    return WithdrawalPage(items=items, next_cursor=str(rows[limit - 1].id) if more else None)
