"""Achievements and streaks: a repeated report counts once, an unlock pays its bonus once
(the ledger's balances say so), a streak counts consecutive days in India's time and breaks
on a missed day; over HTTP, my progress and the back office's achievements."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.ledger.verify import verify, verify_database
from gullak.loyalty import errors, service
from gullak.loyalty.schemas import AchievementIn
from gullak.settings import get_settings
from tests.helpers.offers import Actors
from tests.helpers.problems import assert_problem
from tests.loyalty.support import count, holding
from tests.orders.support import ensure_assets, platform_balance

# 18:29 UTC is 23:59 in Kolkata; 18:31 UTC is already the next day there.
T0 = dt.datetime(2026, 3, 1, 18, 29, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
STEPS_1K = AchievementIn(code="steps_1k", name="1K steps", metric="steps", target=1_000,
                         bonus_asset="REZ", bonus_amount=10)
STREAK = AchievementIn(code="streak_3", name="3-day streak", metric="daily_goal",
                       kind="streak", target=3, bonus_asset="REZ", bonus_amount=30)


@pytest.mark.usefixtures("assets")
async def test_unlocked_once_and_paid_once(session: AsyncSession) -> None:
    await service.create_achievement(session, STEPS_1K, None)
    clock.freeze(T0)
    user = uuid.uuid4()
    issued = await platform_balance(session, "REZ", "issuance")
    assert await service.report(session, user, "steps", 600, reference="day:1") == []
    assert await service.report(session, user, "steps", 600, reference="day:1") == []  # again
    assert await holding(session, user, "REZ") == 0
    unlocked = await service.report(session, user, "steps", 500, reference="day:2")
    assert [u.achievement_code for u in unlocked] == ["steps_1k"]
    # Reported again and again, past the target: no second unlock, no second bonus.
    for n in range(3):
        assert await service.report(session, user, "steps", 2_000, reference=f"more:{n}") == []
    assert await service.report(session, user, "steps", 500, reference="day:2") == []
    assert await holding(session, user, "REZ") == 10
    assert await platform_balance(session, "REZ", "issuance") == issued - 10
    assert await count(session, "ledger_transfers", "reference_type = 'achievement'"
                       " AND reference_id = :r", r=str(unlocked[0].user_achievement_id)) == 1
    mine = {a.code: a for a in await service.my_achievements(session, user)}
    assert (mine["steps_1k"].progress, mine["steps_1k"].unlocked_at) == (1_000, T0)
    for metric, reference in (("Bad Metric", None), ("steps", ""), ("steps", "x" * 201)):
        with pytest.raises(errors.InvalidAchievement):
            await service.report(session, user, metric, reference=reference)
    with pytest.raises(errors.InvalidAchievement):
        await service.report(session, user, "steps", -1)
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]


@pytest.mark.usefixtures("assets")
async def test_a_streak_breaks_on_a_missed_day(session: AsyncSession,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "streak_freezes_per_month", 0)
    await service.create_achievement(session, STREAK, None)
    user = uuid.uuid4()

    async def goal(at: dt.datetime) -> list[str]:
        clock.freeze(at)
        done = await service.report(session, user, "daily_goal", reference=at.isoformat())
        return [u.achievement_code for u in done]

    def progress() -> int:
        return next(a.progress for a in mine if a.code == "streak_3")

    assert await goal(T0) == []  # 1 March in Kolkata
    assert await goal(T0 + dt.timedelta(minutes=2)) == []  # 2 March there already
    mine = await service.my_achievements(session, user)
    assert progress() == 2
    # 3 March is missed: on 4 March the streak starts again.
    assert await goal(T0 + 3 * DAY) == []
    mine = await service.my_achievements(session, user)
    assert progress() == 1
    # A late report of the missed day does not mend it.
    assert await goal(T0 + 2 * DAY - dt.timedelta(hours=1)) == []
    clock.freeze(T0 + 3 * DAY)
    mine = await service.my_achievements(session, user)
    assert progress() == 1
    # Nothing reported for two days: the streak shows as broken.
    clock.freeze(T0 + 5 * DAY + dt.timedelta(hours=1))
    mine = await service.my_achievements(session, user)
    assert progress() == 0
    assert await goal(T0 + 6 * DAY) == []
    assert await goal(T0 + 7 * DAY) == []
    assert await goal(T0 + 7 * DAY - dt.timedelta(hours=3)) == []  # the same day twice
    assert await goal(T0 + 8 * DAY) == ["streak_3"]
    assert await holding(session, user, "REZ") == 30
    assert await goal(T0 + 9 * DAY) == []
    assert await holding(session, user, "REZ") == 30


@pytest.mark.usefixtures("assets")
async def test_a_months_freezes_cover_missed_days(session: AsyncSession,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Two freezes a month: one missed day and then another keep the streak; a third missed
    day that month breaks it; a new month gives the allowance back."""
    monkeypatch.setattr(get_settings(), "streak_freezes_per_month", 2)
    await service.create_achievement(session, STREAK.model_copy(update={"target": 30}), None)
    user = uuid.uuid4()

    async def goal(day: int, month: int = 3) -> int:
        at = dt.datetime(2026, month, day, 6, tzinfo=dt.UTC)  # midday in Kolkata
        clock.freeze(at)
        await service.report(session, user, "daily_goal", reference=at.isoformat())
        return next(a.progress for a in await service.my_achievements(session, user)
                    if a.code == "streak_3")

    assert [await goal(d) for d in (1, 2)] == [1, 2]
    assert await goal(4) == 3  # 3 March missed: the first freeze
    clock.freeze(dt.datetime(2026, 3, 6, 6, tzinfo=dt.UTC))  # 5 March missed: one freeze left
    assert next(a.progress for a in await service.my_achievements(session, user)
                if a.code == "streak_3") == 3
    assert await goal(6) == 4  # the second freeze
    assert await goal(9) == 1  # 7 and 8 March missed: more than is left
    assert [await goal(d) for d in (10, 30, 31)] == [2, 1, 2]  # 11 to 29: far too many
    assert await goal(2, 4) == 3  # April: 1 April missed, a new month's freeze covers it
    streak = (await session.execute(text(
        "SELECT freezes_used, freeze_month, longest FROM user_streaks WHERE user_id = :u"),
        {"u": user})).one()
    assert tuple(streak) == (1, dt.date(2026, 4, 1), 4)


@pytest.mark.usefixtures("assets")
async def test_achievements_over_http(client: httpx.AsyncClient, actors: Actors,
                                      session: AsyncSession) -> None:
    admin = actors.admin("loyalty.manage", "loyalty.read")
    body = STEPS_1K.model_dump()
    r = await client.post("/v1/admin/achievements", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert (r.json()["code"], r.json()["status"]) == ("steps_1k", "active")
    assert_problem(await client.post("/v1/admin/achievements", json=body, headers=admin),
                   409, "achievement_exists", "code")
    assert_problem(await client.post("/v1/admin/achievements", headers=admin, json={
        **body, "code": "other", "bonus_asset": "NOPE"}), 422, "invalid_achievement",
        "bonus_asset")
    assert_problem(await client.post("/v1/admin/achievements", headers=admin, json={
        **body, "code": "other", "bonus_amount": 0}), 422, "invalid_achievement",
        "bonus_amount")
    assert_problem(await client.post("/v1/admin/achievements", headers=admin, json={
        **body, "code": "Bad Code\u0000"}), 422, "validation_error", "code")
    assert await count(session, "audit_log", "action = 'achievement.create'") == 1
    listed = (await client.get("/v1/admin/achievements", headers=admin)).json()
    assert [a["code"] for a in listed] == ["steps_1k"]

    reader = actors.admin("loyalty.read")
    assert_problem(await client.post("/v1/admin/achievements", json=body, headers=reader),
                   403, "forbidden")
    assert_problem(await client.get("/v1/admin/achievements",
                                    headers=actors.admin("orders.read")), 403, "forbidden")
    assert_problem(await client.get("/v1/admin/achievements"), 401, "unauthorized")

    user = uuid.uuid4()
    await service.report(session, user, "steps", 400, reference="d1")
    r = await client.get("/v1/me/achievements", headers=actors.user(user))
    assert r.status_code == 200, r.text
    assert [(a["code"], a["progress"], a["target"], a["unlocked_at"]) for a in r.json()] == [
        ("steps_1k", 400, 1_000, None)]
    assert_problem(await client.get("/v1/me/achievements"), 401, "unauthorized")
    assert_problem(await client.get("/v1/me/achievements", headers=admin), 403, "forbidden")


async def test_concurrent_reports_unlock_and_pay_once(fresh_db: Database) -> None:
    async with unit_of_work(fresh_db) as session:
        await ensure_assets(session)
        await service.create_achievement(session, STEPS_1K, None)
    user = uuid.uuid4()

    async def walk(n: int) -> int:
        async with unit_of_work(fresh_db) as session:
            # Every step count is told twice, the copies racing each other.
            return len(await service.report(session, user, "steps", 250,
                                            reference=f"walk:{n // 2}"))

    unlocks = await asyncio.gather(*(walk(n) for n in range(16)))
    assert sum(unlocks) == 1
    async with unit_of_work(fresh_db) as session:
        assert await holding(session, user, "REZ") == 10
        assert await service.figure(session, user, "steps", 1) == 8 * 250
        assert await count(session, "user_achievements", "unlocked_at IS NOT NULL") == 1
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]
