"""Stand-ins by name: what tests put in place of an outside service (a gateway, a payouts
provider) that a process would otherwise build from its settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class Overrides(Generic[T]):
    def __init__(self) -> None:
        self._found: dict[str, T] = {}

    def get(self, name: str) -> T | None:
        return self._found.get(name)

    @contextmanager
    def using(self, name: str, item: T) -> Iterator[T]:
        """`item` answers for `name` until the block ends, then whatever did before."""
        previous = self._found.get(name)
        self._found[name] = item
        try:
            yield item
        finally:
            if previous is None:
                self._found.pop(name, None)
            else:
                self._found[name] = previous
