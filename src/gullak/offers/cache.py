"""The cache of the hot read "active offers by city and category".

Entries live in this process and, when Redis is configured, in Redis too. Every change of an
offer bumps a generation number (in Redis, so that all processes see it); entries of an older
generation are never read again, and every entry expires after `TTL` anyway, which bounds how
long an offer that starts or ends on its own (no change, only time) can be missed.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger("gullak.offers.cache")

TTL = 60  # seconds
MAX_LOCAL = 1024  # entries kept in this process
GENERATION_KEY = "gullak:offers:generation"
_background: set[asyncio.Task[Any]] = set()


class ActiveOffersCache:
    def __init__(self) -> None:
        self.generation = 0  # without Redis, this process's own
        self._entries: dict[tuple[Any, ...], tuple[float, Any]] = {}

    async def _generation(self, redis: Redis | None) -> int:
        if redis is None:
            return self.generation
        return int(await redis.get(GENERATION_KEY) or 0)

    async def get(self, redis: Redis | None, key: str) -> Any | None:
        try:
            generation = await self._generation(redis)
        except (RedisError, OSError) as exc:
            log.warning("offers_cache_unavailable", error=type(exc).__name__)
            return None
        local = self._entries.get((generation, key))
        if local is not None and local[0] > time.monotonic():
            return local[1]
        if redis is None:
            return None
        try:
            raw = await redis.get(f"gullak:offers:active:{generation}:{key}")
        except (RedisError, OSError):
            return None
        if raw is None:
            return None
        value = json.loads(raw)
        self._keep(generation, key, value)
        return value

    async def put(self, redis: Redis | None, key: str, value: Any) -> None:
        try:
            generation = await self._generation(redis)
            if redis is not None:
                await redis.set(f"gullak:offers:active:{generation}:{key}", json.dumps(value),
                                ex=TTL)
        except (RedisError, OSError):
            return
        self._keep(generation, key, value)

    def _keep(self, generation: int, key: str, value: Any) -> None:
        if len(self._entries) >= MAX_LOCAL:
            self._entries.clear()
        self._entries[(generation, key)] = (time.monotonic() + TTL, value)

    async def invalidate(self, redis: Redis | None) -> None:
        self.generation += 1
        self._entries.clear()
        if redis is not None:
            try:
                await redis.incr(GENERATION_KEY)
            except (RedisError, OSError) as exc:
                log.warning("offers_cache_unavailable", error=type(exc).__name__)

    def invalidate_soon(self, redis: Redis | None) -> None:
        """From synchronous code (a commit hook): drop local entries now, tell Redis next."""
        self.generation += 1
        self._entries.clear()
        if redis is not None:
            task = asyncio.get_running_loop().create_task(self.invalidate(redis))
            _background.add(task)
            task.add_done_callback(_background.discard)
