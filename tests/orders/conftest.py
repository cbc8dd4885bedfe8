"""Orders fixtures: one app for every test of this folder (tests.helpers.shared_app), and a
shop."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers.shared_app import actors, app, client, shared
from tests.orders.support import Shop, make_shop

__all__ = ["actors", "app", "client", "shared"]


@pytest.fixture
async def shop(session: AsyncSession) -> Shop:
    return await make_shop(session)
