"""An injectable clock, so tests can move time (expiry, confirmation windows)."""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar

_offset: ContextVar[dt.timedelta] = ContextVar("clock_offset", default=dt.timedelta(0))
_frozen: ContextVar[dt.datetime | None] = ContextVar("clock_frozen", default=None)


def now() -> dt.datetime:
    """The current time in UTC, as this context sees it."""
    frozen = _frozen.get()
    if frozen is not None:
        return frozen
    return dt.datetime.now(dt.UTC) + _offset.get()


def freeze(at: dt.datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("clock.freeze needs an aware datetime")
    _frozen.set(at.astimezone(dt.UTC))


def advance(by: dt.timedelta) -> None:
    frozen = _frozen.get()
    if frozen is not None:
        _frozen.set(frozen + by)
    else:
        _offset.set(_offset.get() + by)


def reset() -> None:
    _frozen.set(None)
    _offset.set(dt.timedelta(0))
