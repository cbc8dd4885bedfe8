"""Catalog fixtures: an empty tree cache for every test, and a live merchant."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import cache
from tests.helpers.catalog import ensure_assets, new_merchant


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    # Every test's data is rolled back: a tree cached by one test means nothing to the next.
    cache.clear_local()
    yield
    cache.clear_local()


@pytest.fixture
async def merchant_id(session: AsyncSession) -> uuid.UUID:
    await ensure_assets(session)
    return await new_merchant(session)
