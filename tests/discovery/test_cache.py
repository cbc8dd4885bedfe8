"""The hot-read cache: shared through Redis when there is one, never a reason for an error."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from gullak.discovery import cache
from gullak.discovery.cache import TtlCache


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    monkeypatch.setattr(cache, "redis_client", lambda: client)
    yield client
    await client.flushdb()
    await client.aclose()


async def test_a_value_put_by_one_process_is_read_by_another(redis: Redis) -> None:
    here, there = TtlCache("t", 30), TtlCache("t", 30)  # two processes' caches
    key = here.key("biryani", ["merchant"], None)
    await here.put(key, [{"id": "1", "title": "Biryani Blues"}])
    assert await there.get(key) == [{"id": "1", "title": "Biryani Blues"}]
    ttl = await redis.pttl(f"{cache.PREFIX}:t:{key}")
    assert 0 < ttl <= 30_000
    await here.clear()
    assert await redis.exists(f"{cache.PREFIX}:t:{key}") == 0
    assert await here.get(key) is None
    other = TtlCache("other", 30)
    await other.put("k", 1)
    await here.clear()  # a cache clears only its own keys
    assert await redis.exists(f"{cache.PREFIX}:other:k") == 1


async def test_a_redis_that_fails_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    monkeypatch.setattr(cache, "redis_client", lambda: dead)
    here = TtlCache("t", 30)
    await here.put("k", {"a": 1})  # no error
    assert await here.get("k") == {"a": 1}  # this process still remembers it
    assert await TtlCache("t", 30).get("k") is None
    await here.clear()
    await dead.aclose()


async def test_entries_expire_and_the_least_recently_used_go_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "redis_client", lambda: None)
    now = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: now[0])
    small = TtlCache("t", 10, max_entries=2)
    for key in ("a", "b"):
        await small.put(key, key)
    assert await small.get("a") == "a"  # now the most recently used
    await small.put("c", "c")
    assert [await small.get(k) for k in ("a", "b", "c")] == ["a", None, "c"]
    now[0] += 10.5
    assert await small.get("a") is None
    small.enabled = False
    await small.put("d", "d")
    assert await small.get("d") is None
