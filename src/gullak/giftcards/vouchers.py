"""Vouchers (UserState's): a code that grants a fixed amount of an asset, once per user, up to
a number of uses in all, within its dates. The grant is a ledger transfer from the platform's
issuance account of the asset, with reference ('voucher', voucher id).

Once per user holds under any concurrency: the redemption row is unique per (voucher, user),
and the transfer's idempotency key is too, so a second request, however close, either finds
the first redemption or fails on the constraint and rolls back whole.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.giftcards import errors
from gullak.giftcards.models import Voucher, VoucherRedemption
from gullak.giftcards.schemas import VoucherIn, VoucherOut, VoucherRedemptionOut
from gullak.kit import audit, clock
from gullak.kit.errors import InvalidInput
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.system import service as system

REFERENCE = "voucher"
# Tries per user and hour. Codes are words people type (WELCOME100), so a script trying
# them one after another would find every voucher, the ones meant for a few people too.
TRIES_PER_HOUR = 10
_TAKE = text("""
UPDATE vouchers SET uses = uses + 1, updated_at = :now
WHERE id = :id AND status = 'active' AND valid_from <= :now AND valid_until > :now
  AND (max_uses IS NULL OR uses < max_uses)
RETURNING id
""")


async def create_voucher(session: AsyncSession, data: VoucherIn, actor: Subject) -> VoucherOut:
    if data.valid_until <= data.valid_from:
        raise InvalidInput("A voucher ends after it starts.", field="valid_until")
    await ledger.get_asset(session, data.asset_code)
    if await session.scalar(select(Voucher.id).where(
            func.lower(Voucher.code) == data.code.lower())) is not None:
        raise errors.VoucherExists(field="code")
    now = clock.now()
    voucher = Voucher(**data.model_dump(), uses=0, status="active", created_at=now,
                      updated_at=now)
    session.add(voucher)
    await session.flush()
    await audit.record(session, actor, "voucher.create", "voucher", str(voucher.id),
                       after=data.model_dump(mode="json"))
    return VoucherOut.model_validate(voucher)


async def list_vouchers(session: AsyncSession, limit: int = 100) -> list[VoucherOut]:
    rows = await session.scalars(select(Voucher).order_by(Voucher.id.desc()).limit(limit))
    return [VoucherOut.model_validate(v) for v in rows]


async def redeem_voucher(session: AsyncSession, user_id: uuid.UUID,
                         code: str) -> VoucherRedemptionOut:
    await system.hit(session, f"voucher-redeem:{user_id}", limit=TRIES_PER_HOUR,
                     window=dt.timedelta(hours=1))
    voucher = await session.scalar(select(Voucher).where(
        func.lower(Voucher.code) == code.lower()))
    if voucher is None:
        raise errors.VoucherNotFound(field="code")
    if await session.scalar(select(VoucherRedemption.id).where(
            VoucherRedemption.voucher_id == voucher.id,
            VoucherRedemption.user_id == user_id)) is not None:
        raise errors.VoucherAlreadyRedeemed(field="code")
    now = clock.now()
    # One use taken, if one is left: the row stays locked until the unit ends.
    if (await session.execute(_TAKE, {"id": voucher.id, "now": now})).first() is None:
        raise errors.VoucherUnavailable(field="code")
    issuance = await ledger.platform_account(session, voucher.asset_code, "issuance")
    wallet = await ledger.user_account(session, user_id, voucher.asset_code)
    moved = await ledger.transfer(session, TransferIn(
        debit_account_id=issuance.id, credit_account_id=wallet.id,
        asset_code=voucher.asset_code, amount=voucher.amount, kind="voucher_grant",
        reference_type=REFERENCE, reference_id=str(voucher.id),
        metadata={"user_id": str(user_id)}),
        idempotency_key=f"voucher:{voucher.id}:{user_id}")
    row = (await session.execute(insert(VoucherRedemption).values(
        voucher_id=voucher.id, user_id=user_id, asset_code=voucher.asset_code,
        amount=voucher.amount, transfer_id=moved.id, created_at=now)
        .on_conflict_do_nothing(constraint="uq_voucher_redemptions_voucher_id_user_id")
        .returning(VoucherRedemption))).scalar_one_or_none()
    if row is None:  # a concurrent request of the same user got there first
        raise errors.VoucherAlreadyRedeemed(field="code")
    return VoucherRedemptionOut.model_validate(row)
