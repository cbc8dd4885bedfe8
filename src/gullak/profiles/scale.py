"""Volume for load tests: `gullak seed --profile NAME --scale N`."""

from __future__ import annotations

from collections.abc import Callable

from gullak.db.engine import Database


async def generate(db: Database, profile: str, n: int,
                   progress: Callable[[int, int], None] | None = None) -> list[str]:
    """N users of the profile's app with history; returns lines to print."""
    raise NotImplementedError
