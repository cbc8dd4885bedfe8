"""Discovery fixtures: empty caches for every test, a client that checks every answer, and
the small world of tests.helpers.discovery."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import cache as catalog_cache
from gullak.discovery import service
from gullak.offers import service as offers
from tests.helpers.discovery import World, build_world
from tests.helpers.http import guarded_client


@pytest.fixture(autouse=True)
async def _fresh_caches() -> AsyncIterator[None]:
    # Caches outlive each test's rolled-back transaction: start and end empty.
    await service.clear_caches()
    catalog_cache.clear_local()
    offers.CACHE.invalidate_soon(None)
    yield
    await service.clear_caches()
    catalog_cache.clear_local()
    offers.CACHE.invalidate_soon(None)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Never a 5xx; every refusal a problem+json with a code."""
    async with guarded_client(app) as c:
        yield c


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await build_world(session)
