"""Merchant bank accounts: sealed numbers, one primary account, and their verification by
a provider, asked outside any transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.identity import service as identity
from gullak.kit import audit, clock
from gullak.kit.crypto import mask
from gullak.kit.security import Subject
from gullak.merchants import banking, errors, rules
from gullak.merchants.common import as_json, merchant_row
from gullak.merchants.models import BankAccount
from gullak.merchants.schemas import BankAccountIn, BankAccountOut
from gullak.settings import Settings

_SEAL_CONTEXT = "merchant_bank_accounts.account_number"


def bank_out(account: BankAccount) -> BankAccountOut:
    """The account number masked; only its last four digits are kept in clear."""
    return BankAccountOut(
        id=account.id, merchant_id=account.merchant_id, account_holder=account.account_holder,
        account_number=mask("X" * 8 + account.account_last4), ifsc=account.ifsc,
        bank_name=account.bank_name, primary=account.is_primary, status=account.status,
        verified_name=account.verified_name, failure_reason=account.failure_reason,
        provider=account.provider, verified_at=account.verified_at,
        created_at=account.created_at)


async def add_bank_account(session: AsyncSession, settings: Settings, merchant_id: uuid.UUID,
                           data: BankAccountIn, actor: Subject | None) -> BankAccountOut:
    """A pending account; the caller enqueues its verification (see jobs.verify_bank_account).
    A primary account replaces the previous primary one."""
    number = rules.normalize_account_number(data.account_number)
    ifsc = rules.normalize_ifsc(data.ifsc)
    await merchant_row(session, merchant_id, lock=True)
    if data.primary:
        await session.execute(update(BankAccount).where(
            BankAccount.merchant_id == merchant_id, BankAccount.is_primary)
            .values(is_primary=False))
    account = BankAccount(
        merchant_id=merchant_id, account_holder=data.account_holder.strip(),
        account_number=identity.keyring(settings).seal(number, context=_SEAL_CONTEXT),
        account_last4=number[-4:], ifsc=ifsc,
        bank_name=data.bank_name.strip() if data.bank_name else None,
        is_primary=data.primary)
    session.add(account)
    await session.flush()
    await session.refresh(account)
    out = bank_out(account)
    await audit.record(session, actor, "merchant_bank_account.create", "merchant_bank_account",
                       str(account.id), after=as_json(out))
    return out


async def _bank_account(session: AsyncSession, account_id: uuid.UUID,
                        merchant_id: uuid.UUID | None = None, *,
                        lock: bool = False) -> BankAccount:
    account = await session.get(BankAccount, account_id, with_for_update=lock or None,
                                populate_existing=lock)
    if account is None or (merchant_id is not None and account.merchant_id != merchant_id):
        raise errors.BankAccountNotFound()
    return account


async def get_bank_account(session: AsyncSession, account_id: uuid.UUID,
                           merchant_id: uuid.UUID | None = None) -> BankAccountOut:
    return bank_out(await _bank_account(session, account_id, merchant_id))


async def list_bank_accounts(session: AsyncSession,
                             merchant_id: uuid.UUID) -> list[BankAccountOut]:
    await merchant_row(session, merchant_id)
    rows = await session.scalars(select(BankAccount).where(
        BankAccount.merchant_id == merchant_id).order_by(BankAccount.id.desc()))
    return [bank_out(a) for a in rows]


async def payout_account(session: AsyncSession, merchant_id: uuid.UUID) -> BankAccountOut | None:
    """The account settlements go to: the primary one, once verified."""
    account = await session.scalar(select(BankAccount).where(
        BankAccount.merchant_id == merchant_id, BankAccount.is_primary,
        BankAccount.status == "verified"))
    return bank_out(account) if account else None


@dataclass(frozen=True)
class PayoutDestination:
    """The primary verified account with its number opened: only for a payouts provider."""

    account_id: uuid.UUID
    holder: str
    account_number: str
    ifsc: str
    verified_name: str | None
    verified_at: dt.datetime


async def payout_destination(session: AsyncSession, settings: Settings,
                             merchant_id: uuid.UUID) -> PayoutDestination | None:
    account = await session.scalar(select(BankAccount).where(
        BankAccount.merchant_id == merchant_id, BankAccount.is_primary,
        BankAccount.status == "verified"))
    if account is None or account.verified_at is None:
        return None
    number = identity.keyring(settings).open(account.account_number, context=_SEAL_CONTEXT)
    return PayoutDestination(account.id, account.account_holder, number, account.ifsc,
                             account.verified_name, account.verified_at)


async def bank_check(session: AsyncSession, settings: Settings,
                     account_id: uuid.UUID) -> banking.Check | None:
    """What the verifier needs, for a pending account (None once it is decided)."""
    account = await _bank_account(session, account_id)
    if account.status != "pending":
        return None
    number = identity.keyring(settings).open(account.account_number, context=_SEAL_CONTEXT)
    merchant = await merchant_row(session, account.merchant_id)
    return banking.Check(account_number=number, ifsc=account.ifsc,
                         holder=account.account_holder, phone=merchant.phone)


async def record_verification(session: AsyncSession, account_id: uuid.UUID,
                              result: banking.Result) -> BankAccountOut:
    """Store the verifier's answer on a still-pending account (a later answer is ignored)."""
    account = await _bank_account(session, account_id, lock=True)
    if account.status != "pending":
        return bank_out(account)
    before = bank_out(account)
    account.provider, account.provider_ref = result.provider, result.reference
    account.verified_name = result.name_at_bank
    if result.outcome == "verified":
        account.status, account.verified_at, account.failure_reason = "verified", clock.now(), None
    elif result.outcome == "failed":
        account.status, account.failure_reason = "failed", result.reason
    else:
        account.failure_reason = result.reason
    await session.flush()
    await session.refresh(account)
    after = bank_out(account)
    if after.status != before.status:
        await audit.record(session, None, f"merchant_bank_account.{after.status}",
                           "merchant_bank_account", str(account_id), before=as_json(before),
                           after=as_json(after))
    return after


async def verify_bank_account(db: Database, settings: Settings, account_id: uuid.UUID,
                              verifier: banking.Verifier) -> BankAccountOut | None:
    """Ask the provider with no transaction open (it may take seconds), then record."""
    async with unit_of_work(db) as session:
        check = await bank_check(session, settings, account_id)
    if check is None:
        return None
    result = await verifier.verify(check)
    async with unit_of_work(db) as session:
        return await record_verification(session, account_id, result)


async def retry_bank_account(session: AsyncSession, merchant_id: uuid.UUID,
                             account_id: uuid.UUID, actor: Subject | None) -> BankAccountOut:
    """A failed account back to pending, for another verification attempt."""
    account = await _bank_account(session, account_id, merchant_id, lock=True)
    before = bank_out(account)
    if account.status == "failed":
        account.status, account.failure_reason = "pending", None
        await session.flush()
        await session.refresh(account)
    after = bank_out(account)
    await audit.record(session, actor, "merchant_bank_account.reverify",
                       "merchant_bank_account", str(account_id), before=as_json(before),
                       after=as_json(after))
    return after


async def pending_bank_accounts(session: AsyncSession, *, older_than: dt.timedelta,
                                limit: int = 100) -> list[uuid.UUID]:
    rows = await session.scalars(select(BankAccount.id).where(
        BankAccount.status == "pending",
        BankAccount.updated_at < clock.now() - older_than).order_by(BankAccount.id).limit(limit))
    return list(rows)
