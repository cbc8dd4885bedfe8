"""Engagement fixtures: one app for every test of this folder (tests.helpers.shared_app), the
coin assets, and a Redis store isolated by a key prefix (skipped when no Redis answers)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.engagement.boards import RedisBoards
from tests.helpers.shared_app import actors, app, client, shared
from tests.orders.support import ensure_assets

__all__ = ["actors", "app", "client", "shared"]
REDIS_URL = os.environ.get("GULLAK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def assets(session: AsyncSession) -> None:
    await ensure_assets(session)


@pytest.fixture
async def redis_boards() -> AsyncIterator[RedisBoards]:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
    except (RedisError, OSError):
        await client.aclose()
        pytest.skip(f"no Redis at {REDIS_URL}")
    prefix = f"gullak-test:{uuid.uuid4().hex}:"
    try:
        yield RedisBoards(client, prefix)
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
