"""Identifiers: time-ordered UUIDs (RFC 9562 version 7)."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_seq = 0


def uuid7() -> uuid.UUID:
    """A version 7 UUID: 48-bit Unix milliseconds, then random bits.

    Within one millisecond a 12-bit counter keeps ids from this process increasing, so
    primary keys insert at the right edge of their index.
    """
    global _last_ms, _seq
    # One read of the system's randomness for both the counter's start and the random bits:
    # each read is a system call, and every request takes an id.
    noise = int.from_bytes(os.urandom(10), "big")
    with _lock:
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
    return uuid.UUID(int=value)
