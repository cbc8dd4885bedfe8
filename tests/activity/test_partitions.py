"""Step records by month of their day: the months ahead made by the job, those past the
retention dropped (the days' summaries stay)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import service
from gullak.kit import clock
from gullak.settings import get_settings
from tests.activity.support import NOW, new_user, sync, walk

pytestmark = pytest.mark.usefixtures("assets")


async def months(session: AsyncSession) -> list[str]:
    return list((await session.scalars(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'step_records'::regclass ORDER BY 1"))).all())


def name(at: dt.date) -> str:
    return f"step_records_p{at:%Y_%m}"


async def test_months_ahead_and_retention(session: AsyncSession,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    user = new_user()
    await sync(session, user, walk(3_000))
    this = NOW.date().replace(day=1)
    assert name(this) in await months(session)
    assert await service.ensure_partitions(session) == []  # the migration made them
    later = (this + dt.timedelta(days=31 * 6)).replace(day=1)
    clock.freeze(dt.datetime.combine(later, dt.time(), dt.UTC))
    made = await service.ensure_partitions(session)
    assert name(later) in made and made == sorted(made)
    assert await service.ensure_partitions(session) == []  # once

    monkeypatch.setattr(get_settings(), "activity_retention_months", 2)
    dropped = await service.drop_old_partitions(session)
    assert name(this) in dropped and name(later) not in dropped
    assert name(this) not in await months(session)
    assert await session.scalar(text(
        "SELECT count(*) FROM step_records WHERE user_id = :u"), {"u": user}) == 0
    assert await session.scalar(text(
        "SELECT steps FROM daily_step_summary WHERE user_id = :u"), {"u": user}) == 3_000
