"""Short-lived caches of hot discovery reads: in this process, and in Redis when
GULLAK_REDIS_URL is set (so that every API process shares what one of them computed).

Values are JSON-able (lists and dicts of plain values). A Redis that fails is logged and
skipped: the database answers instead, a cache is never a reason for an error.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from typing import Any

import structlog
from redis.exceptions import RedisError

from gullak.system.service import redis_client

log = structlog.get_logger("gullak.discovery.cache")
PREFIX = "gullak:discovery"


class TtlCache:
    def __init__(self, name: str, ttl_seconds: float, max_entries: int = 2048) -> None:
        self.name = name
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self.enabled = True
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    @staticmethod
    def key(*parts: Any) -> str:
        raw = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    async def get(self, key: str) -> Any | None:
        if not self.enabled:
            return None
        entry = self._entries.get(key)
        if entry is not None:
            if entry[0] > time.monotonic():
                self._entries.move_to_end(key)
                return entry[1]
            del self._entries[key]
        client = redis_client()
        if client is None:
            return None
        try:
            raw = await client.get(f"{PREFIX}:{self.name}:{key}")
        except RedisError as exc:
            log.warning("discovery_cache_unavailable", cache=self.name, error=str(exc))
            return None
        if raw is None:
            return None
        value = json.loads(raw)
        self._remember(key, value)
        return value

    async def put(self, key: str, value: Any) -> None:
        if not self.enabled:
            return
        self._remember(key, value)
        client = redis_client()
        if client is None:
            return
        try:
            await client.set(f"{PREFIX}:{self.name}:{key}", json.dumps(value, default=str),
                             px=int(self.ttl * 1000))
        except RedisError as exc:
            log.warning("discovery_cache_unavailable", cache=self.name, error=str(exc))

    async def clear(self) -> None:
        """Forget everything, here and in Redis (other processes' own copies expire on their
        TTL, which is why every TTL here is short)."""
        self._entries.clear()
        client = redis_client()
        if client is None:
            return
        try:
            batch: list[Any] = []
            async for name in client.scan_iter(match=f"{PREFIX}:{self.name}:*", count=500):
                batch.append(name)
                if len(batch) >= 500:
                    await client.unlink(*batch)
                    batch.clear()
            if batch:
                await client.unlink(*batch)
        except RedisError as exc:
            log.warning("discovery_cache_unavailable", cache=self.name, error=str(exc))

    def _remember(self, key: str, value: Any) -> None:
        self._entries[key] = (time.monotonic() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
