"""The daily conversion's batch settles days as settling each one alone would: for days that
trip every anti-cheat check (or none), the summaries, validations, coins, loyalty reports and
leaderboard entries come out the same both ways; a refused post leaves the credits waiting
for the poster; a day settled before takes the one-day path."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import batch, service, steps
from gullak.kit import clock
from gullak.kit.errors import Unprocessable
from gullak.ledger import service as ledger
from gullak.loyalty import service as loyalty
from gullak.loyalty.schemas import AchievementIn
from tests.activity.support import NOW, YESTERDAY, coins, day_sample, interval, sync, walk
from tests.engagement.support import make_user

pytestmark = pytest.mark.usefixtures("assets")
RUNNING = steps.closes_at(YESTERDAY) - dt.timedelta(hours=1)  # yesterday, running somewhere
TWO_AGO = YESTERDAY - dt.timedelta(days=1)
UTC_MINUS_5 = dt.timezone(dt.timedelta(hours=-5))


def shaped(day: dt.date) -> list[dict[str, Any]]:
    """The same intervals and counts whatever the day: an identical pattern."""
    return [interval(1_000 + i, 9 + i, day=day, distance_m=700) for i in range(4)]


# Each scenario: the samples of yesterday (and of the day before, synced once it was over).
SCENARIOS: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    "plain": (walk(8_000), []),
    "goal_and_early": (walk(12_000) + [interval(1_500, 5, distance_m=1_100)], []),
    "cadence": (walk(6_000) + [interval(2_000, 20, minutes=5, distance_m=1_500)], []),
    "manual": ([day_sample(9_000, source="manual")], []),
    "no_distance": ([interval(2_000, 8 + i) for i in range(4)], []),
    "speed": (walk(4_000) + [interval(600, 21, minutes=10, distance_m=9_000)], []),
    "over_the_cap": ([day_sample(70_000, distance_m=50_000)], []),
    "time_zone_jump": (walk(5_000) + [interval(900, 22, tz=UTC_MINUS_5, distance_m=600)], []),
    "yesterday_elsewhere": (walk(5_000), walk(5_200, day=TWO_AGO, tz=UTC_MINUS_5)),
    "identical_days": (shaped(YESTERDAY), shaped(TWO_AGO)),
    "nothing": ([day_sample(0)], []),
}


async def _state(session: AsyncSession, users: dict[str, uuid.UUID]) -> dict[str, Any]:
    """What a settled day left behind, without the ids that differ between two runs."""
    out: dict[str, Any] = {}
    for name, user in users.items():
        summary = (await session.execute(text(
            "SELECT steps, distance_m, by_source, utc_offset_minutes, early_bird, pattern,"
            " status, score, verified_steps, multiplier_bp, credited, unrecovered,"
            " version = posted_version AS posted FROM daily_step_summary"
            " WHERE user_id = :u AND day = :d"), {"u": user, "d": YESTERDAY})).one()
        validation = (await session.execute(text(
            "SELECT steps, score, reasons, outcome FROM step_validations"
            " WHERE user_id = :u AND day = :d ORDER BY id"), {"u": user, "d": YESTERDAY})).all()
        activity = (await session.execute(text(
            "SELECT metric, amount, at FROM loyalty_activity WHERE user_id = :u"
            " ORDER BY metric, at"), {"u": user})).all()
        boards = (await session.execute(text(
            "SELECT board, score FROM leaderboard_entries WHERE user_id = :u ORDER BY board"),
            {"u": user})).all()
        unlocked = (await session.execute(text(
            "SELECT a.code, ua.progress, ua.unlocked_at IS NOT NULL FROM user_achievements ua"
            " JOIN achievements a ON a.id = ua.achievement_id WHERE ua.user_id = :u"
            " ORDER BY a.code"), {"u": user})).all()
        out[name] = {"summary": tuple(summary), "validations": [tuple(v) for v in validation],
                     "loyalty": [tuple(a) for a in activity], "boards": [tuple(b) for b in boards],
                     "achievements": [tuple(u) for u in unlocked],
                     "coins": await coins(session, user)}
    return out


async def _scenario(session: AsyncSession) -> dict[str, uuid.UUID]:
    for code, metric, target in (("b_steps_5k", "steps", 5_000),
                                 ("b_goal", "daily_steps_goal", 1),
                                 ("b_early", "early_bird_walk", 1)):
        await loyalty.create_achievement(session, AchievementIn(
            code=code, name=code, metric=metric, target=target, bonus_asset="REZ",
            bonus_amount=5), None)
    users = {name: await make_user(session, name, city="Pune") for name in SCENARIOS}
    for name, (_, before) in SCENARIOS.items():
        if before:
            clock.freeze(NOW)  # the day before is over: synced and settled at once
            await sync(session, users[name], [{**s, "device_id": name} for s in before])
    clock.freeze(RUNNING)
    for name, (samples, _) in SCENARIOS.items():
        await sync(session, users[name], [{**s, "device_id": name} for s in samples])
    shared = [await make_user(session, f"shared {i}") for i in range(4)]
    for user in shared:  # one phone, four accounts: over the limit of three
        await sync(session, user, walk(5_000, device="one-phone"))
    users |= {f"shared_{i}": u for i, u in enumerate(shared)}
    clock.freeze(NOW)
    return users


async def _one_at_a_time(session: AsyncSession, users: dict[str, uuid.UUID]) -> None:
    for user in sorted(users.values()):
        await steps.lock(session, user, YESTERDAY)
        await steps.refresh(session, user, YESTERDAY, now=clock.now())


async def test_the_batch_settles_as_one_at_a_time_would(session: AsyncSession) -> None:
    users = await _scenario(session)
    alone: dict[str, Any] = {}
    async with session.begin_nested() as savepoint:
        await _one_at_a_time(session, users)
        alone = await _state(session, users)
        await savepoint.rollback()
    session.expunge_all()
    assert (await service.settle_many(session, YESTERDAY, limit=1_000))[0] == len(users)
    together = await _state(session, users)
    assert together == alone
    # The scenarios do what they say: every check tripped somewhere, some days clean.
    tripped = {r["check"] for s in together.values() for v in s["validations"]
               for r in v[2]}
    assert tripped == {"cadence", "daily_cap", "no_distance", "speed", "identical_pattern",
                       "manual_limit", "shared_device", "tz_jump"}
    assert together["plain"]["summary"][6:9] == ("verified", 0, 8_000)
    assert together["plain"]["coins"] == 80
    assert {s["summary"][6] for s in together.values()} == {"verified", "partial", "review"}
    assert ("b_early", 1, True) in together["goal_and_early"]["achievements"]
    assert len(together["plain"]["boards"]) == 12  # steps and coins: 3 periods x (all, city)
    # Settled: a second run finds nothing, pays nothing.
    assert (await service.settle_many(session, YESTERDAY, limit=1_000))[0] == 0
    assert await coins(session, users["plain"]) == 80


async def test_a_refused_post_leaves_the_credits_to_the_poster(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    clock.freeze(RUNNING)
    users = [await make_user(session, f"w{i}") for i in range(3)]
    for i, user in enumerate(users):
        await sync(session, user, walk(3_000 + 1_000 * i, device=f"p{i}"))
    clock.freeze(NOW)
    post: Callable[..., Awaitable[Any]] = ledger.post

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise Unprocessable("refused")

    monkeypatch.setattr(ledger, "post", refuse)
    assert (await batch.settle_many(session, YESTERDAY, limit=10))[0] == 3
    monkeypatch.setattr(ledger, "post", post)
    waiting = (await session.execute(text(
        "SELECT credited, version, posted_version FROM daily_step_summary"
        " WHERE day = :d ORDER BY credited"), {"d": YESTERDAY})).all()
    assert [tuple(w) for w in waiting] == [(30, 1, 0), (40, 1, 0), (50, 1, 0)]
    assert [await coins(session, u) for u in users] == [0, 0, 0]
    # The next thing done to a day posts what waits, with the key a sync would use.
    await sync(session, users[0], walk(3_000, device="p0"))
    assert await coins(session, users[0]) == 30


async def test_a_day_settled_before_takes_the_one_day_path(session: AsyncSession) -> None:
    clock.freeze(RUNNING)
    user = await make_user(session, "again")
    await sync(session, user, walk(4_000))
    await session.execute(text(
        "UPDATE daily_step_summary SET credited = 40, version = 1, posted_version = 1,"
        " verified_steps = 4000 WHERE user_id = :u"), {"u": user})
    clock.freeze(NOW)
    assert (await batch.settle_many(session, YESTERDAY, limit=10))[0] == 1
    row = (await session.execute(text(
        "SELECT status, credited, version FROM daily_step_summary WHERE user_id = :u"),
        {"u": user})).one()
    assert tuple(row) == ("verified", 40, 1)  # nothing new to credit: no second 40
