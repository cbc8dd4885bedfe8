"""Payouts workflows that call a provider: each opens its own units of work, so the call
happens outside any database transaction (DESIGN §3). The intent is committed first (a
pending method, an attempt with its idempotency key), the provider is called, and the answer
is recorded in a unit of its own; a provider that cannot be reached leaves the intent for the
poll to try again with the same key.

`settings` are the caller's (the app's, the job's): they hold the providers' credentials.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.identity import service as identity
from gullak.identity.schemas import OtpPurpose
from gullak.kit.errors import GullakError
from gullak.ledger import service as ledger
from gullak.ledger.schemas import PlatformPurpose
from gullak.payouts import disbursements, errors, methods, providers
from gullak.payouts.models import Disbursement
from gullak.payouts.providers.base import (
    PayoutRequest,
    ProviderError,
    StatementLine,
    Verification,
    VerificationUnavailable,
)
from gullak.payouts.schemas import MethodIn, MethodOut, ReconcileLine, ReconcileOut
from gullak.settings import Settings

log = structlog.get_logger("gullak.payouts")


async def add_user_method(db: Database, settings: Settings, user_id: uuid.UUID,
                          data: MethodIn) -> MethodOut:
    """A user's method needs a step-up confirmation, spent in a unit of its own before the
    method is recorded: the provider is called outside any transaction, and a confirmation
    is good for one attempt at it."""
    if data.verification_token is None:
        raise errors.StepUpRequired(field="verification_token")
    try:
        async with unit_of_work(db) as session:
            await identity.use_step_up(session, settings, user_id, OtpPurpose.transaction,
                                       data.verification_token)
    except GullakError:
        raise errors.StepUpRequired("This confirmation is not valid for you, has expired or"
                                    " was used already.", field="verification_token") from None
    return await add_method(db, settings, "user", user_id, data)


async def add_method(db: Database, settings: Settings, owner_type: str, owner_id: uuid.UUID,
                     data: MethodIn) -> MethodOut:
    """Record the method, ask its provider to verify it (a penny drop), record the answer. A
    provider that cannot answer leaves the method pending; `verify_method` asks again.
    (Merchants' settlements go to their bank accounts: methods.merchant_method.)"""
    async with unit_of_work(db) as session:
        added = await methods.add_method(session, settings, owner_type, owner_id, data)
    return await verify_method(db, settings, added.id)


async def verify_method(db: Database, settings: Settings, method_id: uuid.UUID) -> MethodOut:
    async with unit_of_work(db) as session:
        method = await methods.get_method(session, method_id)
        out = methods.method_out(method)
        if method.status != "pending":
            return out
        name = providers.for_kind(method.kind, settings)
        target, contact, key = await methods.verifying(session, settings, method_id)
    try:
        answer = await providers.get(name, db, settings).verify(target, contact, key)
    except VerificationUnavailable:
        # Nothing to ask: the name the owner gave stands for the bank's, against the KYC's.
        answer = Verification(True, target.holder_name, f"unverified:{name}")
    except ProviderError as exc:
        log.warning("payout_verification_failed", method_id=str(method_id), error=exc.detail)
        return out.model_copy(update={"detail": "Verification is waiting on the bank."})
    except errors.ProviderNotConfigured:
        log.warning("payout_provider_not_configured", provider=name)
        return out
    async with unit_of_work(db) as session:
        return await methods.record_verification(session, settings, method_id, name, answer)


async def disburse(db: Database, settings: Settings, withdrawal_id: uuid.UUID) -> str:
    """Pay an approved withdrawal: open an attempt, call the provider, record its answer."""
    async with unit_of_work(db) as session:
        if await disbursements.issue_voucher(session, withdrawal_id):
            return "voucher_issued"
        opened = await disbursements.open_attempt(session, settings, withdrawal_id)
    if opened is None:
        return "nothing_to_pay"
    return await _call(db, settings, *opened)


async def _call(db: Database, settings: Settings, name: str, request: PayoutRequest) -> str:
    try:
        result = await providers.get(name, db, settings).create(request)
    except ProviderError as exc:
        log.warning("payout_call_failed", disbursement_id=str(request.id), error=exc.detail,
                    final=exc.final)
        if not exc.final:
            return "provider_unreachable"  # the poll asks again with the same key
        async with unit_of_work(db) as session:
            return await disbursements.record_refusal(session, request.id, exc.detail)
    except errors.ProviderNotConfigured:
        log.warning("payout_provider_not_configured", provider=name)
        return "provider_not_configured"
    async with unit_of_work(db) as session:
        return await disbursements.record_result(session, request.id, result)


async def check_waiting(db: Database, settings: Settings, older_than: dt.timedelta, *,
                        limit: int = 100) -> int:
    """Every attempt left waiting on its provider is asked about (or, never answered, asked
    again with its key), and approved withdrawals with no attempt are paid."""
    async with unit_of_work(db) as session:
        due = await disbursements.waiting(session, older_than=older_than, limit=limit)
        lost = await disbursements.approved_unpaid(session, limit=limit)
    for disbursement_id, name, ref in due:
        await check(db, settings, disbursement_id, name, ref)
    for withdrawal_id in lost:
        await disburse(db, settings, withdrawal_id)
    return len(due) + len(lost)


async def check(db: Database, settings: Settings, disbursement_id: uuid.UUID, name: str,
                ref: str | None) -> str:
    if ref is None:
        async with unit_of_work(db) as session:
            again = await disbursements.retrying(session, settings, disbursement_id)
        return "settled" if again is None else await _call(db, settings, *again)
    try:
        result = await providers.get(name, db, settings).fetch(ref)
    except (ProviderError, errors.ProviderNotConfigured) as exc:
        log.warning("payout_check_failed", disbursement_id=str(disbursement_id),
                    error=str(exc))
        return "provider_error"
    async with unit_of_work(db) as session:
        return await disbursements.poll_result(session, disbursement_id, result)


async def reconcile_day(db: Database, settings: Settings, day: dt.date) -> ReconcileOut:
    """One UTC day: each provider's statement against our disbursements settled that day,
    and the payout clearing account's movement against what they paid and got back."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    async with unit_of_work(db) as session:
        # Asked that day: on that day's statement, whatever became of them since.
        ours = list(await session.scalars(select(Disbursement).where(
            Disbursement.created_at >= start, Disbursement.created_at < end,
            Disbursement.provider_ref.is_not(None))))
        paid = await _sums(session, Disbursement.settled_at, start, end, "succeeded",
                           "reversed")
        back = await _sums(session, Disbursement.reversed_at, start, end, "reversed")
        clearing: dict[str, int] = {}
        for currency in sorted(set(settings.payout_assets) | set(paid) | set(back)):
            account = await ledger.platform_account(session, currency,
                                                    PlatformPurpose.payout_clearing.value)
            clearing[currency] = (await ledger.balance_at(session, account.id, end)
                                  - await ledger.balance_at(session, account.id, start))
    differences = [ReconcileLine(what="clearing_account", disbursement_id=None,
                                 provider_ref=currency,
                                 ours=paid.get(currency, 0) - back.get(currency, 0),
                                 theirs=moved)
                   for currency, moved in clearing.items()
                   if paid.get(currency, 0) - back.get(currency, 0) != moved]
    names = sorted(set(providers.in_use(settings)) | {d.provider for d in ours})
    provider_paid: dict[str, int] = {}
    checked = 0
    for name in names:
        try:
            lines = await providers.get(name, db, settings).statement(day)
        except (ProviderError, errors.ProviderNotConfigured) as exc:
            differences.append(ReconcileLine(what="statement_unavailable", disbursement_id=None,
                                             provider_ref=name, ours=0, theirs=0))
            log.warning("payout_statement_failed", provider=name, error=str(exc))
            continue
        provider_paid[name] = sum(line.amount for line in lines if line.status == "succeeded")
        mine = [d for d in ours if d.provider == name]
        checked += len(mine)
        differences += _compare(mine, lines)
    return ReconcileOut(day=day, providers=names, paid=paid, reversed=back,
                        clearing_movement=clearing, provider_paid=provider_paid,
                        checked=checked, differences=differences)


async def _sums(session: AsyncSession, when: Any, start: dt.datetime, end: dt.datetime,
                *statuses: str) -> dict[str, int]:
    """Per currency, the amounts of attempts in `statuses` whose `when` falls in the day."""
    rows = await session.execute(
        select(Disbursement.currency, func.sum(Disbursement.amount))
        .where(when >= start, when < end, Disbursement.status.in_(statuses))
        .group_by(Disbursement.currency))
    return {currency: int(total) for currency, total in rows}


def _compare(ours: list[Disbursement], lines: list[StatementLine]) -> list[ReconcileLine]:
    theirs = {line.ref: line for line in lines}
    found: list[ReconcileLine] = []
    for d in ours:
        line = theirs.pop(d.provider_ref or "", None)
        if line is None:
            found.append(ReconcileLine(what="missing_at_provider", disbursement_id=d.id,
                                       provider_ref=d.provider_ref, ours=d.amount, theirs=0))
            continue
        if line.amount != d.amount:
            found.append(ReconcileLine(what="amount", disbursement_id=d.id,
                                       provider_ref=d.provider_ref, ours=d.amount,
                                       theirs=line.amount))
        if line.status != d.status:
            found.append(ReconcileLine(what=f"status_{line.status}", disbursement_id=d.id,
                                       provider_ref=d.provider_ref, ours=d.amount,
                                       theirs=line.amount))
    for line in theirs.values():
        if line.status in ("succeeded", "reversed"):
            found.append(ReconcileLine(what="unknown_to_us", disbursement_id=None,
                                       provider_ref=line.ref, ours=0, theirs=line.amount))
    return found
