"""Merchants fixtures: cheap password hashing, a client on which any 5xx fails the test, and
an admin holding every merchants permission."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.settings import Settings
from tests.helpers.http import strict_client
from tests.helpers.merchants import Actor, admin_with
from tests.helpers.passwords import hash_cheaply


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    hash_cheaply(monkeypatch)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with strict_client(app) as c:
        yield c


@pytest.fixture
async def admin(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> Actor:
    """An admin holding every merchants, reviews and content permission."""
    return await admin_with(client, session, settings, "merchants.read", "merchants.manage",
                            "merchants.review", "reviews.moderate", "content.manage")
