"""The hourly job: marked days first, each in its own transaction; yesterday once more after
it ended, then not again; today every time."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from gullak.analytics import jobs, service
from gullak.analytics.schemas import EventIn
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.settings import Settings


async def test_the_job_recomputes_marked_days_and_closes_yesterday(
        fresh_db: Database, settings: Settings) -> None:
    now = clock.now()
    today, yesterday = now.date(), now.date() - dt.timedelta(days=1)
    late = today - dt.timedelta(days=3)
    me = uuid7()
    async with unit_of_work(fresh_db) as session:
        out = await service.ingest(session, settings, me, [
            EventIn(client_event_id="late", name="app.opened",
                    occurred_at=dt.datetime.combine(late, dt.time(8), dt.UTC))])
        assert out.accepted == 1
    first = await jobs.summarise(fresh_db, now)
    assert first == [late, yesterday, today]
    again = await jobs.summarise(fresh_db, now)
    assert again == [today]  # yesterday's last run began after it ended
    async with unit_of_work(fresh_db) as session:
        row = (await session.execute(text(
            "SELECT events, sessions FROM user_daily_summaries WHERE user_id = :u AND day = :d"),
            {"u": me, "d": late})).one()
        marks = (await session.scalars(text("SELECT day FROM analytics_stale_days"))).all()
    assert tuple(row) == (1, 1) and marks == []
