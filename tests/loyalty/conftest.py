"""Loyalty fixtures: one app for every test of this folder (tests.helpers.shared_app), the
assets, and a small tier ladder."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers.shared_app import actors, app, client, shared
from tests.loyalty.support import make_ladder
from tests.orders.support import ensure_assets

__all__ = ["actors", "app", "client", "shared"]


@pytest.fixture
async def assets(session: AsyncSession) -> None:
    await ensure_assets(session)


@pytest.fixture
async def ladder(session: AsyncSession, assets: None) -> None:
    await make_ladder(session)
