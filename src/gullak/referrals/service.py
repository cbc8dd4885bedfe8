"""Referrals commands and queries."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.events import Event


async def user_signed_up(session: AsyncSession, event: Event) -> None:
    return None


async def order_status_changed(session: AsyncSession, event: Event) -> None:
    return None


async def payment_succeeded(session: AsyncSession, event: Event) -> None:
    return None
