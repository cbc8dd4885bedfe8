"""`gullak analytics summarise` rebuilds the days asked (a rerun replaces them) and
`gullak analytics partitions` makes the months ahead, on a database of its own."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import text

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit.ids import uuid7
from tests.test_cli import base_env, gullak


async def test_the_commands_summarise_and_make_months(fresh_db: Database,
                                                      tmp_path: Path) -> None:
    env = base_env(tmp_path, fresh_db.url)
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)
    at = dt.datetime.combine(day, dt.time(9), dt.UTC)
    async with unit_of_work(fresh_db) as session:
        for _ in range(3):
            await session.execute(text(
                "INSERT INTO activity_events (id, occurred_at, received_at, user_id, name,"
                " source) VALUES (:id, :at, :at, :u, 'user.signed_in', 'server')"),
                {"id": uuid7(), "at": at, "u": uuid7()})
    for _ in range(2):
        out = gullak("analytics", "summarise", "--day", day.isoformat(), "--until",
                     (day + dt.timedelta(days=1)).isoformat(), env=env)
        assert out.returncode == 0, out.stderr
        assert "2 day(s) summarised" in out.stdout
    async with unit_of_work(fresh_db) as session:
        found = (await session.execute(text(
            "SELECT day, events, active_users FROM platform_daily_summaries ORDER BY day"))).all()
        users = await session.scalar(text(
            "SELECT count(*) FROM user_daily_summaries WHERE day = :d"), {"d": day})
    assert [tuple(r) for r in found] == [(day, 3, 3), (day + dt.timedelta(days=1), 0, 0)]
    assert users == 3
    bad = gullak("analytics", "summarise", "--day", day.isoformat(), "--until", "2000-01-01",
                 env=env)
    assert bad.returncode == 2
    months = gullak("analytics", "partitions", env=env)
    assert months.returncode == 0, months.stderr
    assert "activity_events_default" in months.stdout
