"""What the merchants' service modules share: finding a merchant and its outward shape."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

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

