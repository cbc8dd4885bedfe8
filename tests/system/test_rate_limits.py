"""Rate limits: fixed windows counted in PostgreSQL, or in Redis when it is configured."""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.settings import get_settings
from gullak.system import service

WINDOW = dt.timedelta(minutes=1)


def redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture
def start_of_window() -> dt.datetime:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    clock.freeze(now)
    return now


async def test_postgres_counts_refuses_and_resets(session: AsyncSession,
                                                  start_of_window: dt.datetime) -> None:
    key = f"test:{uuid.uuid4()}"
    assert [await service.hit(session, key, limit=3, window=WINDOW) for _ in range(3)] == [1, 2, 3]
    with pytest.raises(service.RateLimited) as refused:
        await service.hit(session, key, limit=3, window=WINDOW)
    assert refused.value.keep_changes  # the refused hit counts too
    assert 0 < refused.value.extra["retry_after"] <= 60
    stored = await session.scalar(text("SELECT hits FROM rate_limits WHERE key = :k"), {"k": key})
    assert stored == 4
    clock.advance(WINDOW)
    assert await service.hit(session, key, limit=3, window=WINDOW) == 1


@pytest.fixture
def with_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if not redis_reachable():
        pytest.skip("no Redis on 127.0.0.1:6379")
    monkeypatch.setenv("GULLAK_REDIS_URL", "redis://127.0.0.1:6379/15")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_redis_counts_instead_of_postgres(session: AsyncSession, with_redis: None,
                                                start_of_window: dt.datetime) -> None:
    key = f"test:{uuid.uuid4()}"
    assert [await service.hit(session, key, limit=2, window=WINDOW) for _ in range(2)] == [1, 2]
    with pytest.raises(service.RateLimited):
        await service.hit(session, key, limit=2, window=WINDOW)
    assert await session.scalar(text("SELECT count(*) FROM rate_limits WHERE key = :k"),
                                {"k": key}) == 0
    client = service.redis_client()
    assert client is not None
    names = [n async for n in client.scan_iter(f"gullak:rl:{key}:*")]
    assert len(names) == 1 and int(await client.get(names[0])) == 3
    assert 0 < await client.ttl(names[0]) <= 120
