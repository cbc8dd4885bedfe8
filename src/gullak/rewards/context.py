"""What evaluation knows about an occasion, gathered from the other domains' services."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.errors import NotFound
from gullak.loyalty import service as loyalty
from gullak.merchants import service as merchants
from gullak.rewards import engine
from gullak.rewards.models import SegmentMember, UserStats

OWN = ("at", "amount", "merchant_id", "payment_methods", "completed_before", "multiplier_bp",
        "tier_code", "category_id", "city")


async def completed_orders(session: AsyncSession, user_id: uuid.UUID) -> int:
    return int(await session.scalar(select(UserStats.completed_orders).where(
        UserStats.user_id == user_id)) or 0)


def _uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _amount(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


async def build(session: AsyncSession, trigger: str, user_id: uuid.UUID,
                context: Mapping[str, Any]) -> engine.Context:
    merchant_id = _uuid(context.get("merchant_id"))
    city, category_id = context.get("city"), _uuid(context.get("category_id"))
    if merchant_id is not None and (city is None or category_id is None):
        try:
            merchant = await merchants.get_merchant(session, merchant_id)
            city, category_id = city or merchant.city, category_id or merchant.category_id
        except NotFound:
            pass
    tier = await loyalty.tier_of(session, user_id)
    multiplier = tier.multiplier_bp
    if merchant_id is not None:
        prive = await loyalty.prive_benefit(session, user_id, merchant_id)
        if prive is not None:
            multiplier = multiplier * prive.multiplier_bp // engine.BP
    extra_bp = context.get("multiplier_bp")
    if isinstance(extra_bp, int) and not isinstance(extra_bp, bool) and extra_bp >= 0:
        multiplier = multiplier * int(extra_bp) // engine.BP
    before = context.get("completed_before")
    if before is None:
        before = await completed_orders(session, user_id)
    segments = frozenset(await session.scalars(select(SegmentMember.segment).where(
        SegmentMember.user_id == user_id)))
    at = context.get("at")
    return engine.Context(
        trigger=trigger, user_id=user_id,
        at=at if isinstance(at, dt.datetime) else clock.now(),
        amount=_amount(context.get("amount")), merchant_id=merchant_id,
        category_id=category_id, city=city, tier_code=context.get("tier_code") or tier.code,
        segments=segments,
        payment_methods=frozenset(str(m).upper() for m in context.get("payment_methods") or ()),
        completed_before=before if isinstance(before, int) else 0, multiplier_bp=multiplier,
        extra={k: v for k, v in context.items() if k not in OWN})
