"""Activity fixtures: one app for every test of this folder (tests.helpers.shared_app), the
coin assets, and a clock frozen at 15:00 UTC today (yesterday is over everywhere)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.activity.support import freeze
from tests.helpers.shared_app import actors, app, client, shared
from tests.orders.support import ensure_assets

__all__ = ["actors", "app", "client", "shared"]


@pytest.fixture(autouse=True)
def frozen() -> None:
    freeze()


@pytest.fixture
async def assets(session: AsyncSession) -> None:
    await ensure_assets(session)
