"""Months are made ahead (a second run makes none), and a month wholly past the retention
is dropped whole, with what the default partition held that old; recent months stay."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.analytics import partitions, service
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.settings import Settings

INSERT = text("""
INSERT INTO activity_events (id, occurred_at, received_at, user_id, name, source)
VALUES (:id, :at, :at, :u, 'user.signed_in', 'server')
""")


async def names(session: AsyncSession) -> set[str]:
    return set((await session.scalars(partitions._LIST)).all())


async def test_months_are_made_ahead_once(session: AsyncSession, settings: Settings) -> None:
    await service.maintain_partitions(session, settings)
    now = clock.now()
    month = partitions.month_start(now)
    have = await names(session)
    for _ in range(partitions.MONTHS_AHEAD + 1):
        assert f"activity_events_p{month:%Y_%m}" in have
        month = partitions.next_month(month)
    assert "activity_events_default" in have
    again = await service.maintain_partitions(session, settings)
    assert again.made == [] and again.dropped == []


async def test_months_past_the_retention_are_dropped(session: AsyncSession,
                                                     settings: Settings) -> None:
    now = clock.now()
    old = now - dt.timedelta(days=settings.analytics_retention_days + 70)
    recent = now - dt.timedelta(days=settings.analytics_retention_days - 20)
    made = await partitions.ensure(session, since=old)
    assert f"activity_events_p{old:%Y_%m}" in made
    me = uuid7()
    for at in (old, recent, now):
        await session.execute(INSERT, {"id": uuid7(), "at": at, "u": me})
    # and one the default partition caught, of a month too old to have been made
    ancient = now - dt.timedelta(days=settings.analytics_retention_days + 400)
    await session.execute(INSERT, {"id": uuid7(), "at": ancient, "u": me})
    out = await service.maintain_partitions(session, settings)
    assert f"activity_events_p{old:%Y_%m}" in out.dropped
    assert f"activity_events_p{recent:%Y_%m}" not in out.dropped
    left = (await session.scalars(text(
        "SELECT occurred_at FROM activity_events WHERE user_id = :u ORDER BY 1"),
        {"u": me})).all()
    assert left == [recent, now]
    cutoff = now - dt.timedelta(days=settings.analytics_retention_days)
    for name in await names(session):
        month = partitions.month_of(name)
        assert month is None or partitions.next_month(month) > cutoff
