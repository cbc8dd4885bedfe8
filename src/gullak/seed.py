"""Demo data: each domain registers a named data set; each loads once per database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.system.models import SeedRun

Loader = Callable[[AsyncSession], Awaitable[None]]


@dataclass(frozen=True)
class DataSet:
    name: str
    load: Loader
    notes: tuple[str, ...]  # printed on every start once loaded (demo credentials, ids)


# Filled by the domains' seed modules, in dependency order.
DATA_SETS: list[DataSet] = []
# Derived data rebuilt once after a start that loaded something (search dictionaries and the
# like, which their jobs would otherwise rebuild only on their next schedule).
AFTER_LOAD: list[Loader] = []


def data_set(name: str, *notes: str) -> Callable[[Loader], Loader]:
    def register(load: Loader) -> Loader:
        DATA_SETS.append(DataSet(name, load, notes))
        return load

    return register


def after_load(rebuild: Loader) -> Loader:
    AFTER_LOAD.append(rebuild)
    return rebuild


def load_modules() -> None:
    """Import the modules that register data sets (in dependency order)."""
    import gullak.access.seed
    import gullak.catalog.seed
    import gullak.discovery.seed
    import gullak.identity.seed
    import gullak.ledger.seed
    import gullak.merchants.seed
    import gullak.offers.seed  # noqa: F401


async def load(db: Database, *, progress: Callable[[str], None] | None = None) -> list[str]:
    """Load every data set not yet loaded, each in its own transaction; returns the notes of
    every data set this database holds."""
    load_modules()
    notes: list[str] = []
    loaded = False
    for item in DATA_SETS:
        async with unit_of_work(db) as session:
            done = await session.scalar(select(SeedRun).where(SeedRun.name == item.name))
            if done is None:
                if progress:
                    progress(item.name)
                await item.load(session)
                session.add(SeedRun(name=item.name))
                loaded = True
        notes.extend(item.notes)
    if loaded:
        for rebuild in AFTER_LOAD:
            async with unit_of_work(db) as session:
                await rebuild(session)
    return notes
