"""Days are merged in PostgreSQL: the figures stored and the facts the anti-cheat reads are
those `rules.merge` makes of the same samples in Python (trust per hour, ties, day totals,
offsets, early steps, manual steps, the intervals' shape, cadence and speed)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import facts, rules, steps
from tests.activity.support import TODAY, day_sample, interval, new_user, sync

UTC_MINUS_5 = dt.timezone(dt.timedelta(hours=-5))
UTC = dt.UTC

CASES: dict[str, list[dict[str, Any]]] = {
    "one source": [interval(500, h, day=TODAY, distance_m=400) for h in (5, 6, 8)],
    "trust per hour": [interval(900, 8, day=TODAY, source="google_fit", distance_m=700),
                       interval(300, 8, day=TODAY, source="device", distance_m=200),
                       interval(800, 9, day=TODAY, source="manual"),
                       interval(100, 9, day=TODAY, source="apple_health", minute=30)],
    "equal trust, larger count": [interval(400, 7, day=TODAY, source="google_fit"),
                                  interval(401, 7, day=TODAY, source="apple_health",
                                           distance_m=9)],
    "equal trust and count": [interval(400, 7, day=TODAY, source="google_fit", distance_m=1),
                              interval(400, 7, day=TODAY, source="apple_health", distance_m=2)],
    "day total wins": [day_sample(9_000, TODAY, distance_m=6_000),
                       day_sample(9_500, TODAY, source="manual"),
                       interval(1_000, 10, day=TODAY, distance_m=700)],
    "intervals win": [day_sample(900, TODAY, source="device"),
                      interval(1_000, 10, day=TODAY, minutes=30, distance_m=700),
                      interval(1_000, 10, day=TODAY, minute=30, minutes=30)],
    "offsets and early": [interval(700, 1, day=TODAY, tz=UTC, distance_m=500),
                          interval(700, 4, day=TODAY, tz=UTC_MINUS_5, distance_m=500),
                          interval(1_200, 2, day=TODAY, tz=UTC, source="device")],
    "a shape of four": [interval(1_000 + i, 8 + i, day=TODAY, minutes=40 + i, distance_m=700)
                        for i in range(4)],
    "manual hours, fast and far": [interval(900, 6, day=TODAY, source="manual"),
                                   interval(1_500, 7, day=TODAY, minutes=5, distance_m=3_000),
                                   interval(800, 8, day=TODAY, minutes=7, minute=13,
                                            distance_m=5_000)],
    "a manual day wins": [day_sample(20_000, TODAY, source="manual"),
                          interval(300, 9, day=TODAY, distance_m=200)],
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_the_sql_merge_is_the_rule(session: AsyncSession, case: str) -> None:
    user = new_user()
    synced = await sync(session, user, CASES[case])
    day = await session.scalar(text("SELECT DISTINCT day FROM step_records WHERE user_id = :u"),
                               {"u": user})
    want = rules.facts_of(rules.merge(await steps.records(session, user, day)))
    got, _ = (await facts.day_facts(session, day, [user]))[user]
    assert got == want
    assert [d["steps"] for d in synced["days"]] == [want.steps]  # as stored
