"""Domain events recorded as activity events, in the publisher's unit of work: one INSERT
each (a batch published together, one INSERT for the batch). Listed in gullak.domains."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.analytics import service
from gullak.kit.events import Event, many


async def recorded(session: AsyncSession, event: Event) -> None:
    await service.record(session, event.name, event.data)


async def _recorded_many(session: AsyncSession, found: list[Event]) -> None:
    if found:
        await service.record_many(session, found[0].name, [e.data for e in found])


@many(_recorded_many)
async def recorded_batch(session: AsyncSession, event: Event) -> None:
    """For the events a job publishes by the thousand (`publish_many`)."""
    await service.record(session, event.name, event.data)
