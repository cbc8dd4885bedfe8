"""Payout methods: added (the number sealed, a keyed fingerprint kept to refuse the same
destination twice), verified at the provider by a penny drop whose name must match the
owner's KYC name, usable only after a cooling-off, removed but never deleted.

The provider's verification is called between two units of work (flows.add_method): the
method is committed as pending first, then `record_verification` writes the answer.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import service as identity
from gullak.kit import clock
from gullak.merchants import service as merchants
from gullak.payouts import errors
from gullak.payouts.common import fingerprint, masked, name_score, upi_visible
from gullak.payouts.models import OPEN_WITHDRAWALS, BankChannel, PayoutMethod, Withdrawal
from gullak.payouts.providers.base import Contact, Destination, Verification
from gullak.payouts.schemas import ChannelIn, ChannelOut, MethodIn, MethodKind, MethodOut
from gullak.settings import Settings

_CONTEXT = "payouts.destination"
# Each addition costs a penny drop at the provider: an owner keeps a handful, not hundreds.
MAX_METHODS = 10


def method_out(method: PayoutMethod, now: dt.datetime | None = None) -> MethodOut:
    now = now or clock.now()
    return MethodOut(
        id=method.id, owner_type=method.owner_type, owner_id=method.owner_id,
        kind=MethodKind(method.kind), currency=method.currency, holder_name=method.holder_name,
        destination=masked(method.kind, method.last4), ifsc=method.ifsc,
        channel_code=method.channel_code, status=method.status,
        registered_name=method.registered_name, name_score=method.name_score,
        operator=method.operator, detail=method.detail, verified_at=method.verified_at, usable_from=method.usable_from,
        usable=usable(method, now), created_at=method.created_at)


def usable(method: PayoutMethod, now: dt.datetime) -> bool:
    return (method.status == "verified" and method.usable_from is not None
            and method.usable_from <= now)


async def add_method(session: AsyncSession, settings: Settings, owner_type: str,
                     owner_id: uuid.UUID, data: MethodIn) -> MethodOut:
    """Record the method as pending verification."""
    kept = await session.scalar(select(func.count()).where(
        PayoutMethod.owner_type == owner_type, PayoutMethod.owner_id == owner_id,
        PayoutMethod.status != "removed"))
    if int(kept or 0) >= MAX_METHODS:
        raise errors.TooManyMethods(f"At most {MAX_METHODS} payout methods are kept.")
    currency = "INR"
    if data.kind is MethodKind.bank_channel:
        channel = await session.get(BankChannel, data.channel_code)
        if channel is None or not channel.enabled:
            raise errors.ChannelNotFound(field="channel_code")
        currency = channel.currency
    ring = identity.keyring(settings)
    secret = settings.secret("secret_key")
    if data.kind is MethodKind.upi:
        assert data.upi_id is not None
        upi = data.upi_id.lower()
        sealed_upi, number, last4 = ring.seal(upi, context=_CONTEXT), None, upi_visible(upi)
        mark = fingerprint(secret, "upi", upi)
    else:
        clear = data.phone_number or data.account_number
        assert clear is not None
        sealed_upi, last4 = None, clear[-4:]
        number = ring.seal(clear, context=_CONTEXT)
        mark = fingerprint(secret, data.kind.value, data.ifsc or data.channel_code or "", clear)
    method = PayoutMethod(
        owner_type=owner_type, owner_id=owner_id, kind=data.kind.value, currency=currency,
        holder_name=data.holder_name, account_number=number, upi_id=sealed_upi, last4=last4,
        ifsc=data.ifsc, channel_code=data.channel_code,
        operator=data.operator.value if data.operator else None, fingerprint=mark,
        status="pending")
    try:
        async with session.begin_nested():
            session.add(method)
            await session.flush()
    except IntegrityError:
        raise errors.MethodExists() from None
    await session.refresh(method)
    return method_out(method)


async def merchant_method(session: AsyncSession, settings: Settings,
                          merchant_id: uuid.UUID) -> PayoutMethod | None:
    """The payout method of a merchant's settlements: its primary bank account, once the
    merchants domain verified it (a penny drop against the holder name), mirrored here so
    that settlements pay like any withdrawal. It is usable after the cooling-off counted
    from that verification; a new primary account starts a new one."""
    found = await merchants.payout_destination(session, settings, merchant_id)
    if found is None:
        return None
    mark = fingerprint(settings.secret("secret_key"), "bank", found.ifsc, found.account_number)
    method = await session.scalar(select(PayoutMethod).where(
        PayoutMethod.owner_type == "merchant", PayoutMethod.owner_id == merchant_id,
        PayoutMethod.fingerprint == mark, PayoutMethod.status != "removed"))
    if method is not None:
        return method
    method = PayoutMethod(
        owner_type="merchant", owner_id=merchant_id, kind="bank", currency="INR",
        holder_name=found.holder, last4=found.account_number[-4:], ifsc=found.ifsc,
        account_number=identity.keyring(settings).seal(found.account_number, context=_CONTEXT),
        fingerprint=mark, status="verified", provider="merchants",
        verification_ref=str(found.account_id), registered_name=found.verified_name,
        verified_at=found.verified_at,
        usable_from=found.verified_at + dt.timedelta(hours=settings.payout_cooling_off_hours))
    session.add(method)
    await session.flush()
    return method


async def owned(session: AsyncSession, owner_type: str, owner_id: uuid.UUID,
                method_id: uuid.UUID, *, lock: bool = False) -> PayoutMethod:
    query = select(PayoutMethod).where(PayoutMethod.id == method_id,
                                       PayoutMethod.owner_type == owner_type,
                                       PayoutMethod.owner_id == owner_id)
    if lock:
        query = query.with_for_update()
    method = await session.scalar(query.execution_options(populate_existing=True))
    if method is None:
        raise errors.MethodNotFound(field="method_id")
    return method


async def get_method(session: AsyncSession, method_id: uuid.UUID) -> PayoutMethod:
    method = await session.get(PayoutMethod, method_id)
    if method is None:
        raise errors.MethodNotFound(field="method_id")
    return method


def destination(settings: Settings, method: PayoutMethod) -> Destination:
    """The method's destination with its number opened: only ever handed to a provider."""
    ring = identity.keyring(settings)
    return Destination(
        kind=method.kind,  # type: ignore[arg-type]
        holder_name=method.holder_name,
        account_number=(ring.open(method.account_number, context=_CONTEXT)
                        if method.account_number else None),
        ifsc=method.ifsc,
        upi_id=ring.open(method.upi_id, context=_CONTEXT) if method.upi_id else None,
        channel_code=method.channel_code, operator=method.operator)


async def expected_name(session: AsyncSession, method: PayoutMethod) -> str:
    """The name the bank's must match: a user's KYC name (else the profile's), or the
    holder name a merchant's admin gave."""
    if method.owner_type == "user":
        state = await identity.kyc_state(session, method.owner_id)
        if state.name:
            return state.name
    return method.holder_name


async def verifying(session: AsyncSession, settings: Settings,
                    method_id: uuid.UUID) -> tuple[Destination, Contact, str]:
    """What the provider is asked about a pending method."""
    method = await get_method(session, method_id)
    contact = Contact(reference=str(method.owner_id), name=await expected_name(session, method))
    return destination(settings, method), contact, f"verify_{method.id.hex}"


async def record_verification(session: AsyncSession, settings: Settings, method_id: uuid.UUID,
                              provider: str, answer: Verification) -> MethodOut:
    """A valid account whose bank name matches is verified and usable after the cooling-off;
    anything else failed, with the reason shown."""
    method = await get_method(session, method_id)
    if method.status != "pending":
        return method_out(method)
    method.provider, method.verification_ref = provider, answer.ref
    method.registered_name = answer.registered_name
    if not answer.valid:
        method.status, method.detail = "failed", answer.detail or "The account was not found."
    elif method.kind == "mobile":  # a number has no holder's name to match
        method.status, method.verified_at = "verified", clock.now()
        method.usable_from = method.verified_at + dt.timedelta(
            hours=settings.payout_cooling_off_hours)
    else:
        expected = await expected_name(session, method)
        score = name_score(expected, answer.registered_name or "")
        method.name_score = score
        if score < settings.payout_name_match:
            method.status = "failed"
            method.detail = "The bank's name for this account does not match your KYC name."
        else:
            now = clock.now()
            method.status, method.verified_at = "verified", now
            method.usable_from = now + dt.timedelta(hours=settings.payout_cooling_off_hours)
    await session.flush()
    return method_out(method)


async def remove_method(session: AsyncSession, owner_type: str, owner_id: uuid.UUID,
                        method_id: uuid.UUID) -> tuple[MethodOut, MethodOut]:
    method = await owned(session, owner_type, owner_id, method_id, lock=True)
    if method.status == "removed":
        raise errors.MethodNotFound(field="method_id")
    busy = await session.scalar(select(exists().where(
        Withdrawal.method_id == method.id, Withdrawal.status.in_(OPEN_WITHDRAWALS))))
    if busy:
        raise errors.MethodNotUsable("A withdrawal to this method is still open.",
                                     code="payout_method_in_use")
    before = method_out(method)
    method.status, method.removed_at = "removed", clock.now()
    await session.flush()
    return before, method_out(method)


async def list_methods(session: AsyncSession, owner_type: str,
                       owner_id: uuid.UUID) -> list[MethodOut]:
    rows = await session.scalars(select(PayoutMethod).where(
        PayoutMethod.owner_type == owner_type, PayoutMethod.owner_id == owner_id,
        PayoutMethod.status != "removed").order_by(PayoutMethod.created_at.desc()))
    now = clock.now()
    return [method_out(m, now) for m in rows]


async def list_channels(session: AsyncSession, *, enabled_only: bool = True) -> list[ChannelOut]:
    query = select(BankChannel).order_by(BankChannel.code)
    if enabled_only:
        query = query.where(BankChannel.enabled)
    return [ChannelOut.model_validate(c) for c in await session.scalars(query)]


async def put_channel(session: AsyncSession, data: ChannelIn) -> tuple[ChannelOut | None,
                                                                      ChannelOut]:
    channel = await session.get(BankChannel, data.code, with_for_update=True)
    before = None if channel is None else ChannelOut.model_validate(channel)
    if channel is None:
        channel = BankChannel(code=data.code)
        session.add(channel)
    channel.name, channel.type, channel.currency = data.name, data.type, data.currency
    channel.aliases, channel.enabled = list(data.aliases), data.enabled
    await session.flush()
    await session.refresh(channel)
    return before, ChannelOut.model_validate(channel)
