"""The anti-cheat: every check with a day that trips it and one that does not, the verdicts
(verified, partial credit, review), and the review queue over HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.activity.support import (
    YESTERDAY,
    checks,
    coins,
    day_sample,
    interval,
    new_user,
    sync,
    validations,
    walk,
)
from tests.helpers.offers import Actors
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.usefixtures("assets")
BEFORE = YESTERDAY - dt.timedelta(days=1)
UTC_MINUS_5 = dt.timezone(dt.timedelta(hours=-5))

# check: (samples that trip it, samples that do not)
CASES: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    "cadence": ([interval(5_000, 9, minutes=10, distance_m=3_700)],
                [interval(1_500, 9, minutes=10, distance_m=1_100)]),
    "daily_cap": (walk(70_000, hours=10), walk(50_000, hours=10)),
    "no_distance": ([day_sample(8_000)], [day_sample(8_000, distance_m=6_000)]),
    "speed": ([interval(1_000, 9, distance_m=50_000)], [interval(1_000, 9, distance_m=800)]),
    "manual_limit": ([day_sample(7_000, source="manual")], [day_sample(3_000, source="manual")]),
    "tz_jump": ([interval(1_000, 8, distance_m=700),
                 interval(1_000, 20, tz=UTC_MINUS_5, distance_m=700)],
                [interval(1_000, 8, distance_m=700), interval(1_000, 20, distance_m=700)]),
}


@pytest.mark.parametrize("check", sorted(CASES))
async def test_each_check_trips_on_its_case_only(session: AsyncSession, check: str) -> None:
    tripping, fine = CASES[check]
    bad, good = new_user(), new_user()
    await sync(session, bad, tripping)
    await sync(session, good, fine)
    assert check in checks((await validations(session, bad))[-1])
    ok = (await validations(session, good))[-1]
    assert ok["reasons"] == [] and ok["outcome"] == "verified"


async def test_identical_days_trip_the_pattern_check(session: AsyncSession) -> None:
    copier, walker = new_user(), new_user()
    for user, second in ((copier, 6_000), (walker, 6_001)):
        await sync(session, user, walk(6_000, day=BEFORE))
        await sync(session, user, walk(second))
    assert checks((await validations(session, copier))[-1]) == {"identical_pattern"}
    assert checks((await validations(session, walker))[-1]) == set()


async def test_many_accounts_on_one_device(session: AsyncSession) -> None:
    users = [new_user() for _ in range(4)]
    for user in users:
        await sync(session, user, walk(3_000, device="shared-phone"))
    assert [checks(v) for u in users[:3] for v in await validations(session, u)] == [set()] * 3
    assert checks((await validations(session, users[3]))[-1]) == {"shared_device"}


async def test_a_time_zone_jump_from_the_day_before(session: AsyncSession) -> None:
    user = new_user()
    await sync(session, user, [interval(1_000, 9, day=BEFORE, distance_m=700)])
    await sync(session, user, [interval(1_000, 9, tz=UTC_MINUS_5, distance_m=700)])
    assert checks((await validations(session, user))[-1]) == {"tz_jump"}


async def test_verdicts_by_score(session: AsyncSession) -> None:
    partial, held = new_user(), new_user()
    day = (await sync(session, partial, [day_sample(8_000)]))["days"][0]  # 30 points
    assert (day["status"], day["verified_steps"], day["coins"]) == ("partial", 4_000, 40)
    assert await coins(session, partial) == 40
    day = (await sync(session, held, walk(70_000, hours=10)))["days"][0]  # 80 points
    assert (day["status"], day["verified_steps"], day["coins"]) == ("review", 0, 0)
    assert await coins(session, held) == 0


async def test_the_review_queue(client: httpx.AsyncClient, actors: Actors,
                                session: AsyncSession) -> None:
    approved, rejected = new_user(), new_user()
    await sync(session, approved, walk(70_000, hours=10))
    # Rejected after a first verified sync: the coins credited then are taken back.
    await sync(session, rejected, walk(9_000))
    assert await coins(session, rejected) == 90
    await sync(session, rejected, walk(80_000, hours=10))
    assert await coins(session, rejected) == 90  # held as it was while under review

    r = await client.get("/v1/admin/activity/reviews", headers=actors.admin("activity.review"))
    assert_problem(r, 403, "forbidden")
    r = await client.get("/v1/admin/activity/reviews", headers=actors.admin("activity.read"))
    assert r.status_code == 200, r.text
    queue = {i["user_id"]: i for i in r.json()["items"]}
    assert {str(approved), str(rejected)} <= set(queue)
    assert {c["check"] for c in queue[str(approved)]["reasons"]} == {"daily_cap"}

    reviewer = actors.admin("activity.review")
    body = {"decision": "approve", "reason": "marathon day, checked the race results"}
    r = await client.post(f"/v1/admin/activity/reviews/{queue[str(approved)]['id']}",
                          json=body, headers=actors.admin("activity.read"))
    assert_problem(r, 403, "forbidden")
    r = await client.post(f"/v1/admin/activity/reviews/{queue[str(approved)]['id']}",
                          json=body, headers=reviewer)
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "approved"
    assert await coins(session, approved) == 100  # capped
    again = await client.post(f"/v1/admin/activity/reviews/{queue[str(approved)]['id']}",
                              json=body, headers=reviewer)
    assert_problem(again, 409, "review_decided")

    r = await client.post(f"/v1/admin/activity/reviews/{queue[str(rejected)]['id']}",
                          json={"decision": "reject", "reason": "emulator"}, headers=reviewer)
    assert r.status_code == 200, r.text
    assert await coins(session, rejected) == 0
    status = await session.scalar(text(
        "SELECT status FROM daily_step_summary WHERE user_id = :u"), {"u": rejected})
    assert status == "rejected"
    audited = await session.scalar(text(
        "SELECT count(*) FROM audit_log WHERE action LIKE 'activity.review.%'"
        " AND entity_id IN (:a, :b)"), {"a": queue[str(approved)]["id"],
                                        "b": queue[str(rejected)]["id"]})
    assert audited == 2
    r = await client.get("/v1/admin/activity/reviews", headers=actors.admin("activity.read"))
    assert not {str(approved), str(rejected)} & {i["user_id"] for i in r.json()["items"]}
    r = await client.post(f"/v1/admin/activity/reviews/{new_user()}", json=body,
                          headers=reviewer)
    assert_problem(r, 404, "review_not_found")
