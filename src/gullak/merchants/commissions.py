"""Commission rates per merchant and category, over windows of time that never overlap."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit, clock
from gullak.kit.errors import InvalidInput
from gullak.kit.security import Subject
from gullak.merchants import errors
from gullak.merchants.common import as_json, merchant_row
from gullak.merchants.models import Commission
from gullak.merchants.schemas import CommissionIn, CommissionOut


async def add_commission(session: AsyncSession, merchant_id: uuid.UUID, data: CommissionIn,
                         actor: Subject | None) -> CommissionOut:
    """A rate for a window; windows of one merchant and category never overlap."""
    if data.valid_from.tzinfo is None or (data.valid_until and data.valid_until.tzinfo is None):
        raise InvalidInput("Give times with their UTC offset.", field="valid_from")
    if data.valid_until is not None and data.valid_until <= data.valid_from:
        raise InvalidInput("The window must end after it starts.", code="invalid_window",
                           field="valid_until")
    # The merchant row lock serialises commission changes, so the overlap check holds.
    await merchant_row(session, merchant_id, lock=True)
    same_category = (Commission.category_id == data.category_id if data.category_id
                     else Commission.category_id.is_(None))
    overlapping = await session.scalar(select(Commission.id).where(
        Commission.merchant_id == merchant_id, same_category,
        or_(Commission.valid_until.is_(None), Commission.valid_until > data.valid_from),
        Commission.valid_from < data.valid_until if data.valid_until else true()).limit(1))
    if overlapping is not None:
        raise errors.CommissionOverlap(overlapping=str(overlapping))
    commission = Commission(merchant_id=merchant_id, **data.model_dump())
    session.add(commission)
    await session.flush()
    await session.refresh(commission)
    out = CommissionOut.model_validate(commission)
    await audit.record(session, actor, "merchant_commission.create", "merchant_commission",
                       str(commission.id), after=as_json(out))
    return out


async def list_commissions(session: AsyncSession, merchant_id: uuid.UUID) -> list[CommissionOut]:
    await merchant_row(session, merchant_id)
    rows = await session.scalars(select(Commission).where(
        Commission.merchant_id == merchant_id).order_by(Commission.valid_from.desc()))
    return [CommissionOut.model_validate(c) for c in rows]


async def delete_commission(session: AsyncSession, merchant_id: uuid.UUID,
                            commission_id: uuid.UUID, actor: Subject | None) -> None:
    commission = await session.get(Commission, commission_id)
    if commission is None or commission.merchant_id != merchant_id:
        raise errors.CommissionNotFound()
    before = CommissionOut.model_validate(commission)
    await session.delete(commission)
    await session.flush()
    await audit.record(session, actor, "merchant_commission.delete", "merchant_commission",
                       str(commission_id), before=as_json(before))


async def commission_rate(session: AsyncSession, merchant_id: uuid.UUID,
                          category_id: uuid.UUID | None, at: dt.datetime | None = None) -> int:
    """The commission in basis points at `at`: the category's own rate, else the merchant's
    rate for all categories in force then, else the merchant's standing rate."""
    at = at or clock.now()
    in_force = and_(Commission.merchant_id == merchant_id, Commission.valid_from <= at,
                    or_(Commission.valid_until.is_(None), Commission.valid_until > at))
    for category in ([category_id] if category_id else []) + [None]:
        same = (Commission.category_id == category if category
                else Commission.category_id.is_(None))
        rate = await session.scalar(select(Commission.rate_bps).where(in_force, same).limit(1))
        if rate is not None:
            return int(rate)
    return (await merchant_row(session, merchant_id)).commission_bps
