"""Identifiers: time-ordered UUIDs (RFC 9562 version 7) inside, and human codes where people
read them (`ORD-202612-000123`)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import driver_rows
from gullak.kit import clock
from gullak.kit.errors import InvalidInput

_lock = threading.Lock()
_last_ms = 0
_seq = 0
# The system's randomness, read ahead: one system call per 409 ids, not per id; each id takes
# the next ten bytes from `_used` on.
_NOISE_READ = 4090
_noise = b""
_used = _NOISE_READ
_new = object.__new__
_set = object.__setattr__


def _forked() -> None:
    # A forked process (an API worker, a bench client) must not spend its parent's bytes:
    # both would make the same ids.
    global _used
    _used = _NOISE_READ


os.register_at_fork(after_in_child=_forked)


def uuid7() -> uuid.UUID:
    """A version 7 UUID: 48-bit Unix milliseconds, then random bits.

    Within one millisecond a 12-bit counter keeps ids from this process increasing, so
    primary keys insert at the right edge of their index.
    """
    global _last_ms, _seq, _noise, _used
    with _lock:
        if _used == _NOISE_READ:
            _noise, _used = os.urandom(_NOISE_READ), 0
        # Ten bytes of it: the counter's start and the random bits.
        noise = int.from_bytes(_noise[_used:_used + 10], "big")
        _used += 10
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _seq += 1
            if _seq > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _seq = 0
            ms = _last_ms
        else:
            _last_ms, _seq = ms, (noise >> 64) & 0x3FF
        seq = _seq
    rand = noise & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand
    # uuid.UUID(int=value) without its checks, which this value passes by construction.
    made: uuid.UUID = _new(uuid.UUID)
    _set(made, "int", value)
    _set(made, "is_safe", uuid.SafeUUID.unknown)
    return made


async def human_code(session: AsyncSession, prefix: str, sequence: str) -> str:
    """`PREFIX-YYYYMM-000123`: the month, then the next value of a PostgreSQL sequence, so
    numbers never repeat and need no counter row that every writer would queue on."""
    [(serial,)] = await driver_rows(session, "SELECT nextval(CAST(%s AS regclass))",
                                    (sequence,))
    return code_of(prefix, serial)


def code_of(prefix: str, serial: int) -> str:
    """`human_code` of a sequence value already drawn."""
    return f"{prefix}-{clock.now():%Y%m}-{serial:06d}"


def parse_cursor(cursor: str | None) -> uuid.UUID | None:
    """A keyset page's cursor: the last id of the page before (ids are time-ordered)."""
    if cursor is None:
        return None
    try:
        return uuid.UUID(cursor)
    except ValueError:
        raise InvalidInput("Malformed cursor.", code="invalid_cursor", field="cursor") from None


def request_digest(request: Any) -> str:
    """What an idempotency key's first request was, to tell a replay from another request:
    SHA-256 of its JSON with sorted keys."""
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
