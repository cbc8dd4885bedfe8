"""Ledger fixtures: a small book of coin, promo and rupee accounts."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers.ledger import Book, make_book


@pytest.fixture
async def book(session: AsyncSession) -> Book:
    return await make_book(session)
