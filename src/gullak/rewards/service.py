"""Rewards commands and queries."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.events import Event


async def order_status_changed(session: AsyncSession, event: Event) -> None:
    return None


async def order_refunded(session: AsyncSession, event: Event) -> None:
    return None


async def user_signed_up(session: AsyncSession, event: Event) -> None:
    return None


async def achievement_unlocked(session: AsyncSession, event: Event) -> None:
    return None


async def review_written(session: AsyncSession, event: Event) -> None:
    return None


async def profile_completed(session: AsyncSession, event: Event) -> None:
    return None


async def evaluate(session: AsyncSession, trigger: str, user_id: uuid.UUID,
                   context: Mapping[str, Any], *, reference_type: str, reference_id: str,
                   confirm_at: dt.datetime | None = None) -> list[Any]:
    """Every active rule of `trigger` for this user and context; what applies is granted."""
    return []
