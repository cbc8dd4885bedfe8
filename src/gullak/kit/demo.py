"""Demo data sets: what a domain's `seed.py` declares for `gullak run` and `gullak seed`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

Loader = Callable[[AsyncSession], Awaitable[None]]


@dataclass(frozen=True)
class DataSet:
    """One named set of demo data, loaded once per database in its own transaction.

    `needs` names the data sets that must be loaded first: the order is derived from it,
    never from the order modules are imported or listed. A `rebuild` set holds derived data
    (a search dictionary, say): it is not recorded, and runs again after any start that
    loaded something."""

    name: str
    load: Loader
    needs: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # printed on every start once loaded (demo credentials, ids)
    rebuild: bool = False


class FailedRows(Exception):
    """Demo data that did not load whole: a partial demo would mislead a newcomer."""
