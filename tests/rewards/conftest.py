"""Rewards fixtures: one app for every test of this folder (tests.helpers.shared_app), and the
assets the rules pay in."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers.shared_app import actors, app, client, shared
from tests.orders.support import ensure_assets

__all__ = ["actors", "app", "client", "shared"]


@pytest.fixture
async def assets(session: AsyncSession) -> None:
    await ensure_assets(session)
