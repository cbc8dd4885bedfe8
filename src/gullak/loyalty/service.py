"""Loyalty commands and queries."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.events import Event
from gullak.loyalty.schemas import PriveBenefitOut, UserTierOut


async def order_status_changed(session: AsyncSession, event: Event) -> None:
    return None


async def payment_succeeded(session: AsyncSession, event: Event) -> None:
    return None


async def payment_failed(session: AsyncSession, event: Event) -> None:
    return None


async def reward_confirmed(session: AsyncSession, event: Event) -> None:
    return None


async def tier_of(session: AsyncSession, user_id: uuid.UUID) -> UserTierOut:
    """The user's tier now (the lowest tier for a user never ranked)."""
    return UserTierOut(code="basic", name="Basic", rank=0)


async def prive_benefit(session: AsyncSession, user_id: uuid.UUID,
                        merchant_id: uuid.UUID) -> PriveBenefitOut | None:
    """The user's active privé benefit at this merchant, or None."""
    return None
