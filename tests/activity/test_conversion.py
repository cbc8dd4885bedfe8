"""Coins for verified steps: the daily job through the group-committing poster, exactly once
under 32 concurrent syncs, corrections both ways posting only the difference (never below
zero), the tier multiplier, what loyalty and listeners are told, and the streak across a month
boundary in a time zone behind UTC."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak import worker
from gullak.activity import jobs as activity_jobs
from gullak.activity import service
from gullak.activity.schemas import SampleIn
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock, events
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.loyalty import service as loyalty
from gullak.loyalty.schemas import AchievementIn
from gullak.settings import get_settings
from tests.activity.support import (
    NOW,
    YESTERDAY,
    coins,
    interval,
    new_user,
    sync,
    walk,
)
from tests.orders.support import ensure_assets

pytestmark = pytest.mark.usefixtures("assets")


async def transfers(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[str, int]]:
    rows = await session.execute(text(
        "SELECT t.kind, t.amount FROM ledger_transfers t JOIN daily_step_summary s"
        " ON t.reference_type = 'step_day' AND t.reference_id = s.id::text"
        " WHERE s.user_id = :u ORDER BY t.seq"), {"u": user_id})
    return [(r[0], r[1]) for r in rows]


async def spend(session: AsyncSession, user_id: uuid.UUID, amount: int) -> None:
    main = await ledger.user_account(session, user_id, "FITCOIN")
    shop = await ledger.platform_account(session, "FITCOIN", "test_shop")
    await ledger.transfer(session, TransferIn(
        debit_account_id=main.id, credit_account_id=shop.id, asset_code="FITCOIN",
        amount=amount, kind="purchase"))


async def test_corrections_post_only_the_difference_both_ways(session: AsyncSession) -> None:
    user = new_user()
    await sync(session, user, walk(8_000))
    await sync(session, user, walk(12_000))  # up: capped at 100
    await sync(session, user, walk(5_000))  # down: 50 taken back
    assert await coins(session, user) == 50
    assert await transfers(session, user) == [
        ("step_coins", 80), ("step_coins", 20), ("step_correction", 50)]
    # Spent all but 10, then corrected down to 20 coins: only what is there is taken.
    await spend(session, user, 40)
    await sync(session, user, walk(2_000))
    assert await coins(session, user) == 0
    row = (await session.execute(text(
        "SELECT credited, unrecovered, verified_steps FROM daily_step_summary"
        " WHERE user_id = :u"), {"u": user})).one()
    assert tuple(row) == (40, 20, 2_000)
    # Up again to 60 coins: the shortfall is paid off first, 20 more arrive.
    await sync(session, user, walk(6_000))
    assert await coins(session, user) == 20
    assert (await transfers(session, user))[-2:] == [("step_correction", 10), ("step_coins", 20)]


async def test_the_tier_multiplier_and_what_others_are_told(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    user = new_user()
    told: list[dict[str, Any]] = []
    publish = events.publish_many

    async def capture(s: AsyncSession, name: str, datas: list[Any]) -> int:
        if name == "activity.steps_verified":
            told.extend(dict(d) for d in datas)
        return await publish(s, name, datas)

    monkeypatch.setattr(events, "publish_many", capture)
    for code, target in (("t_steps_5k", 5_000), ("t_early", 1)):
        await loyalty.create_achievement(session, AchievementIn(
            code=code, name=code, metric="steps" if target > 1 else "early_bird_walk",
            target=target, bonus_asset="REZ", bonus_amount=7), None)
    multiplier = (await loyalty.tier_of(session, user)).multiplier_bp
    early = [interval(2_000, 5, distance_m=1_500)]
    await sync(session, user, early + walk(4_000))
    assert await coins(session, user) == 60 * multiplier // 10_000
    await sync(session, user, early + walk(3_000))  # down: nothing more for achievements
    await sync(session, user, early + walk(3_000))  # the same again: nothing at all
    assert [(t["steps"], t["delta"]) for t in told] == [(6_000, 6_000), (5_000, -1_000)]
    assert told[0]["day"] == YESTERDAY.isoformat() and told[0]["user_id"] == str(user)
    mine = {a.code: a for a in await loyalty.my_achievements(session, user)}
    assert mine["t_steps_5k"].unlocked_at is not None and mine["t_early"].unlocked_at
    rez = await ledger.user_account(session, user, "REZ")
    assert (await ledger.balance(session, rez.id)).posted == 14  # each bonus once
    assert await service.verified_total(session, user) == 5_000
    assert (user, YESTERDAY, 5_000) in await service.verified_days(
        session, since=YESTERDAY, after_user=uuid.UUID(int=user.int - 1), limit=10)


async def test_a_goal_streak_across_a_month_in_a_zone_behind_utc(session: AsyncSession) -> None:
    """Walks at 21:00 in UTC-5 are 02:00 UTC the day after: each counts to its local day."""
    first = (NOW.date().replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    clock.freeze(dt.datetime.combine(first + dt.timedelta(days=3), dt.time(15), dt.UTC))
    await loyalty.create_achievement(session, AchievementIn(
        code="t_streak", name="streak", metric="daily_steps_goal", kind="streak", target=6,
        bonus_asset="REZ", bonus_amount=100), None)
    user = new_user()
    zone = dt.timezone(dt.timedelta(hours=-5))
    days = [first - dt.timedelta(days=3) + dt.timedelta(days=i) for i in range(6)]
    for n, day in enumerate(days):  # counts differ: identical days would be suspect
        samples = [interval(2_500 + n, 18 + i, day=day, tz=zone, distance_m=1_900)
                   for i in range(4)]
        await sync(session, user, samples)
    summary = await service.summary(session, user)
    assert summary.streak == 6 and summary.today == first + dt.timedelta(days=3)
    mine = {a.code: a for a in await loyalty.my_achievements(session, user)}
    assert mine["t_streak"].progress == 6 and mine["t_streak"].unlocked_at is not None


@pytest.mark.parametrize(("chunk", "workers"), [(1_000, 1), (3, 4)],
                         ids=["one unit", "four units of three"])
async def test_the_daily_job_converts_once_through_the_poster(fresh_db: Database, chunk: int,
                                                              workers: int) -> None:
    async with unit_of_work(fresh_db) as session:
        await ensure_assets(session)
    users = [new_user() for _ in range(20)]
    clock.freeze(NOW - dt.timedelta(hours=20))  # yesterday, still running
    for i, user in enumerate(users):
        async with unit_of_work(fresh_db) as session:
            await service.ingest(session, user, [SampleIn.model_validate(s)
                                                 for s in walk(1_000 * (i + 1), device=str(i))])
    clock.freeze(NOW)
    async with ledger.Poster(fresh_db.url, connections=2,
                             pgbouncer=fresh_db.pgbouncer) as poster:
        assert await service.convert_day(fresh_db, YESTERDAY, poster, chunk=chunk,
                                         workers=workers) == 20
        assert await service.convert_closed(fresh_db, poster) == 0  # nothing left
    async with unit_of_work(fresh_db) as session:
        for i, user in enumerate(users):
            assert await coins(session, user) == min(10 * (i + 1), 100)
        waiting = await session.scalar(text(
            "SELECT count(*) FROM daily_step_summary WHERE posted_version < version"))
        assert waiting == 0
        # A resync later corrects through the same day, only by the difference.
        await service.ingest(session, users[0], [SampleIn.model_validate(s)
                                                 for s in walk(3_000, device="0")])
    async with unit_of_work(fresh_db) as session:
        assert await coins(session, users[0]) == 30
        assert await transfers(session, users[0]) == [("step_coins", 10), ("step_coins", 20)]


async def test_the_hourly_job_converts_on_connections_of_its_own(fresh_db: Database) -> None:
    """`activity.convert` as the worker runs it (one job at a time, the worker's pool of one
    connection; the conversion's four units on a pool of their own): every day settled and
    credited, once."""
    async with unit_of_work(fresh_db) as session:
        await ensure_assets(session)
    users = [new_user() for _ in range(5)]
    clock.freeze(NOW - dt.timedelta(hours=20))
    for i, user in enumerate(users):
        async with unit_of_work(fresh_db) as session:
            await service.ingest(session, user, [SampleIn.model_validate(s)
                                                 for s in walk(2_000 * (i + 1), device=str(i))])
    clock.freeze(NOW)
    async with unit_of_work(fresh_db) as session:
        await worker.enqueue(session, activity_jobs.convert, timestamp=0)
    await worker.run(fresh_db.url, concurrency=1, stop_after_idle=True)
    async with unit_of_work(fresh_db) as session:
        assert await session.scalar(text(
            "SELECT status::text FROM procrastinate_jobs WHERE task_name = 'activity.convert'"
        )) == "succeeded"
        assert [await coins(session, u) for u in users] == [20, 40, 60, 80, 100]
        assert await session.scalar(text(
            "SELECT count(*) FROM daily_step_summary WHERE status = 'open'"
            " OR posted_version < version")) == 0


async def test_32_concurrent_syncs_of_one_day_credit_once(fresh_db: Database) -> None:
    async with unit_of_work(fresh_db) as session:
        await ensure_assets(session)
    user = new_user()
    samples = [SampleIn.model_validate(s) for s in walk(9_000)]

    async def one() -> None:
        async with unit_of_work(fresh_db) as session:
            await service.ingest(session, user, samples)

    await asyncio.gather(*(one() for _ in range(32)))
    async with unit_of_work(fresh_db) as session:
        assert await coins(session, user) == 90
        assert await transfers(session, user) == [("step_coins", 90)]
        assert await session.scalar(text(
            "SELECT count(*) FROM step_validations WHERE user_id = :u"), {"u": user}) == 1


async def test_a_missed_day_within_the_freezes_keeps_the_summarys_streak(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    user = new_user()
    today = NOW.date()
    for back in (6, 5, 3, 2):  # 4 days back missed
        await sync(session, user, walk(12_000 + back, day=today - dt.timedelta(days=back)))
    clock.freeze(NOW)  # today and yesterday missed so far: yesterday is a second gap
    monkeypatch.setattr(get_settings(), "streak_freezes_per_month", 0)
    assert (await service.summary(session, user)).streak == 0
    # One a month: yesterday is forgiven; 4 days back as well only if 3 days back falls in
    # the month before (each month has its own allowance).
    monkeypatch.setattr(get_settings(), "streak_freezes_per_month", 1)
    other_month = (today - dt.timedelta(days=3)).month != today.month
    assert (await service.summary(session, user)).streak == (4 if other_month else 2)
    monkeypatch.setattr(get_settings(), "streak_freezes_per_month", 2)
    assert (await service.summary(session, user)).streak == 4
