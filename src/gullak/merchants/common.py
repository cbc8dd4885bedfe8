"""What the merchants' service modules share: finding a merchant and its outward shape."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import driver_rows
from gullak.merchants import errors
from gullak.merchants.models import Merchant
from gullak.merchants.schemas import MerchantOut


def as_json(value: Any) -> Any:
    return value.model_dump(mode="json") if value is not None else None


async def merchant_row(session: AsyncSession, merchant_id: uuid.UUID, *,
                       lock: bool = False) -> Merchant:
    merchant = await session.get(Merchant, merchant_id, with_for_update=lock or None,
                                 populate_existing=lock)
    if merchant is None:
        raise errors.MerchantNotFound()
    return merchant


def merchant_out(merchant: Merchant) -> MerchantOut:
    return MerchantOut.model_validate(merchant)


_VIEW_COLUMNS = tuple(MerchantOut.model_fields)
_VIEW = (f"SELECT {', '.join('rating_avg::float8' if c == 'rating_avg' else c for c in _VIEW_COLUMNS)}"
         " FROM merchants WHERE id = %s")


async def merchant_view(session: AsyncSession, merchant_id: uuid.UUID) -> MerchantOut:
    """A merchant as the API shows it, in one read on the driver (an order's placement reads
    one): for a unit that has not changed the merchant through the session, whose changes
    this read would not see before they are flushed."""
    found = await driver_rows(session, _VIEW, (merchant_id,))
    if not found:
        raise errors.MerchantNotFound()
    return MerchantOut.model_validate(dict(zip(_VIEW_COLUMNS, found[0])))

