"""Demo data: each domain's `seed.py` declares data sets and what they need; they load once
per database, each in its own transaction, in an order derived from those needs."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import select

from gullak import domains, profiles
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit.demo import DataSet
from gullak.system.models import SeedRun


class OrderError(Exception):
    """A data set needs one that does not exist, or needs form a cycle."""


def in_order(items: Iterable[DataSet]) -> list[DataSet]:
    """Each data set after everything it needs; ties broken by name, so the result does not
    depend on the order the sets were listed or imported in."""
    pending = {item.name: item for item in items}
    for item in pending.values():
        unknown = [n for n in item.needs if n not in pending]
        if unknown:
            raise OrderError(f"data set {item.name!r} needs unknown {', '.join(unknown)}")
    done: list[DataSet] = []
    loaded: set[str] = set()
    while pending:
        ready = sorted(n for n, item in pending.items() if set(item.needs) <= loaded)
        if not ready:
            raise OrderError(f"data sets need each other: {', '.join(sorted(pending))}")
        name = ready[0]
        done.append(pending.pop(name))
        loaded.add(name)
    return done


async def load(db: Database, *, progress: Callable[[str], None] | None = None,
               wiring: domains.Domains = domains.DOMAINS,
               profile: str | None = None) -> list[str]:
    """Load every data set not yet loaded, and with `profile` that app profile's sets after
    them; returns the notes of every data set this database holds."""
    domains.install(wiring)
    notes: list[str] = []
    loaded = False
    for item in in_order(_sets(wiring, profile)):
        if item.rebuild:
            if loaded:
                async with unit_of_work(db) as session:
                    await item.load(session)
            continue
        async with unit_of_work(db) as session:
            done = await session.scalar(select(SeedRun).where(SeedRun.name == item.name))
            if done is None:
                if progress:
                    progress(item.name)
                await item.load(session)
                session.add(SeedRun(name=item.name))
                loaded = True
        notes.extend(item.notes)
    return notes


async def notes(db: Database, wiring: domains.Domains = domains.DOMAINS) -> list[str]:
    """The notes of the data sets this database holds, without loading anything."""
    async with unit_of_work(db) as session:
        names = set((await session.scalars(select(SeedRun.name))).all())
    items = domains.data_sets(wiring) + [s for p in profiles.registry().values()
                                         for s in p.data_sets]
    return [note for item in in_order(items) if item.name in names for note in item.notes]


def _sets(wiring: domains.Domains, profile: str | None) -> list[DataSet]:
    items = domains.data_sets(wiring)
    return items + list(profiles.get(profile).data_sets) if profile else items
