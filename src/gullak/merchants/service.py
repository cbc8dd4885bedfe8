"""Merchants commands and queries."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession


async def merchant_user_permissions(session: AsyncSession, merchant_user_id: uuid.UUID) -> set[str] | None:
    """The permissions of an active merchant user (None if it cannot act)."""
    return None
