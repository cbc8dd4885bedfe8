"""The category tree cache: in this process, or in Redis when GULLAK_REDIS_URL is set.

The tree is read on nearly every screen and changes rarely. A session that changed categories
never fills the cache (it would cache what may still roll back) and drops it again once its
transaction commits, so no reader keeps a tree older than the last committed change. Without
Redis, other processes of the same deployment notice a change within `LOCAL_TTL`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import structlog
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from gullak.system.service import redis_client

KEY = "gullak:catalog:category_tree"
DIRTY = "catalog_tree_dirty"
HOOKED = "catalog_tree_hooked"
LOCAL_TTL = 60.0
log = structlog.get_logger("gullak.catalog")

_local: dict[str, Any] = {}  # {"tree": ..., "at": monotonic seconds}
stats = {"hits": 0, "misses": 0}


async def get(session: AsyncSession) -> list[dict[str, Any]] | None:
    if session.info.get(DIRTY):
        return None
    client = redis_client()
    if client is not None:
        try:
            raw = await client.get(KEY)
        except (RedisError, OSError):  # Redis is an accelerator: without it, read the database
            log.warning("category_cache_unavailable")
            return None
        if raw is None:
            stats["misses"] += 1
            return None
        stats["hits"] += 1
        tree: list[dict[str, Any]] = json.loads(raw)
        return tree
    entry = _local.get("tree")
    if entry is None or time.monotonic() - _local["at"] > LOCAL_TTL:
        stats["misses"] += 1
        return None
    stats["hits"] += 1
    return entry  # type: ignore[no-any-return]


async def put(session: AsyncSession, tree: list[dict[str, Any]]) -> None:
    if session.info.get(DIRTY):
        return
    client = redis_client()
    if client is not None:
        try:
            await client.set(KEY, json.dumps(tree), ex=3600)
        except (RedisError, OSError):
            log.warning("category_cache_unavailable")
        return
    _local.update(tree=tree, at=time.monotonic())


async def invalidate(session: AsyncSession) -> None:
    """Called by every category change: drop the cache now and again once committed."""
    session.info[DIRTY] = True
    if not session.info.get(HOOKED):
        event.listen(session.sync_session, "after_commit", _after_commit)
        event.listen(session.sync_session, "after_soft_rollback", _after_rollback)
        session.info[HOOKED] = True
    await _drop()


def clear_local() -> None:
    _local.clear()


async def _drop() -> None:
    _local.clear()
    client = redis_client()
    if client is not None:
        try:
            await client.delete(KEY)
        except (RedisError, OSError):
            log.warning("category_cache_unavailable")


def _after_commit(sync_session: Session) -> None:
    if not sync_session.info.pop(DIRTY, None):
        return
    # Readers may have cached the old tree between the change and its commit.
    _local.clear()
    if redis_client() is not None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(_drop())
        _pending.add(task)
        task.add_done_callback(_pending.discard)


def _after_rollback(sync_session: Session, previous: SessionTransaction) -> None:
    if not previous.nested:  # a savepoint's rollback leaves the outer change pending
        sync_session.info.pop(DIRTY, None)


_pending: set[asyncio.Task[None]] = set()
