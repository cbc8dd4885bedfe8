"""A short in-process cache of authentication answers: verified API keys, open sessions,
admins' permissions.

Entries live `ttl` seconds at most and carry tags (`key:<id>`, `session:<family>`,
`subject:<kind>:<id>`); a change drops the tags it touches, here at once and in every other
process through PostgreSQL NOTIFY (`kit/notify.py`). The cache answers only while this process
listens for those notifications: a process that could not hear of a revocation must not
remember anything, so without a listener (tests, one-off commands) every lookup reads the
database as before.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable
from typing import Any

MAX_ENTRIES = 100_000


class Cache:
    def __init__(self) -> None:
        self.ttl = 0.0
        self.listeners = 0
        # Bumped by every drop: a fill that read the database before a drop may have read what
        # the drop was about, so it is not kept (see `put`).
        self.generation = 0
        self._entries: dict[Hashable, tuple[float, Any, tuple[str, ...]]] = {}
        self._tagged: dict[str, set[Hashable]] = {}

    @property
    def on(self) -> bool:
        return self.listeners > 0 and self.ttl > 0

    def get(self, key: Hashable) -> Any:
        """The value kept under `key`, or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if not self.on or entry[0] < time.monotonic():
            self._remove(key)
            return None
        return entry[1]

    def put(self, key: Hashable, value: Any, tags: Iterable[str], since: int) -> None:
        """Keep `value`, read from the database after `generation` was `since`."""
        if not self.on or since != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._prune()
        self._remove(key)
        tags = tuple(tags)
        self._entries[key] = (time.monotonic() + self.ttl, value, tags)
        for tag in tags:
            self._tagged.setdefault(tag, set()).add(key)

    def drop(self, *tags: str) -> None:
        self.generation += 1
        for tag in tags:
            for key in self._tagged.pop(tag, set()):
                self._remove(key)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._tagged.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _remove(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for tag in entry[2]:
            keys = self._tagged.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tagged[tag]

    def _prune(self) -> None:
        now = time.monotonic()
        for key in [k for k, (expires, _, _) in self._entries.items() if expires < now]:
            self._remove(key)
        if len(self._entries) >= MAX_ENTRIES:
            self.clear()


# One per process: every API process keeps its own and listens for drops on its own connection.
auth = Cache()
