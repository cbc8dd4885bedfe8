"""The merchant read on the driver (`merchant_view`, an order's placement reads one) is the
merchant `get_merchant` reads through the session, field for field."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.merchants import errors, service
from tests.helpers.merchants import new_merchant


async def test_the_driver_view_is_the_sessions_merchant(session: AsyncSession) -> None:
    made = await new_merchant(session, tags=["thali", "veg"], website="https://brew.example",
                              commission_bps=450, default_cashback_bps=300)
    # Every kind of column away from its default: a rating, a time, a reason.
    await session.execute(text(
        "UPDATE merchants SET rating_sum = 9, rating_count = 2, rating_avg = 4.5,"
        " live_at = now(), status_reason = 'checked' WHERE id = :m"), {"m": made.id})
    session.expunge_all()
    view = await service.merchant_view(session, made.id)
    assert view == await service.get_merchant(session, made.id)
    assert (view.rating_avg, view.tags, view.commission_bps) == (4.5, ["thali", "veg"], 450)
    assert view.live_at is not None


async def test_no_such_merchant(session: AsyncSession) -> None:
    with pytest.raises(errors.MerchantNotFound):
        await service.merchant_view(session, uuid.uuid4())
