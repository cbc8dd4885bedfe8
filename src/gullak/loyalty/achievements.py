"""Achievements and streaks that other domains report into.

`report` records one amount of a metric for a user (once per reference), moves tiers when the
metric is one they count, and advances every active achievement on that metric: a total, or
a streak of consecutive days in the user's time zone. An achievement unlocks once per user
(the row is unique per user and achievement, and only one unit flips `unlocked_at`); its bonus
is a ledger transfer from the asset's issuance account with reference ('achievement', the
user's achievement id) and a key of its own, so it is paid once whatever is retried.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit, clock, events
from gullak.kit.errors import NotFound
from gullak.kit.schemas import BIGINT
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.loyalty import errors, tiers
from gullak.loyalty.models import Achievement, UserAchievement, UserStreak
from gullak.loyalty.schemas import AchievementIn, AchievementOut, MyAchievementOut, UnlockOut

DEFAULT_ZONE = ZoneInfo("Asia/Kolkata")
TIER_METRICS = ("spent", "earned")
REFERENCE = "achievement"
METRIC = re.compile(r"[a-z][a-z0-9_]{0,39}")


def day_of(at: dt.datetime, zone: ZoneInfo = DEFAULT_ZONE) -> dt.date:
    return at.astimezone(zone).date()


async def report(session: AsyncSession, user_id: uuid.UUID, metric: str, amount: int = 1, *,
                 at: dt.datetime | None = None, reference: str | None = None) -> list[UnlockOut]:
    """Count `amount` of `metric` for the user at `at` (now by default). The same reference
    counts once: a second report of it changes nothing. Returns what it unlocked."""
    if type(amount) is not int or not 0 <= amount <= BIGINT:
        raise errors.InvalidAchievement("An amount is a whole number, 0 or more.",
                                        field="amount")
    if not METRIC.fullmatch(metric) or (reference is not None and not 0 < len(reference) <= 200):
        raise errors.InvalidAchievement("A metric is a snake_case name, a reference 1 to 200"
                                        " characters.", field="metric")
    at = at or clock.now()
    if not await tiers.record_activity(session, user_id, metric, amount, at, reference):
        return []
    if metric in TIER_METRICS:
        await tiers.evaluate(session, user_id)
    found = list(await session.scalars(select(Achievement).where(
        Achievement.metric == metric, Achievement.status == "active")
        .order_by(Achievement.position, Achievement.code)))
    if not found:
        return []
    streak = await _streak(session, user_id, metric, day_of(at)) if any(
        a.kind == "streak" for a in found) else 0
    unlocked = []
    for achievement in found:
        if achievement.kind == "streak":
            row = await _progress(session, user_id, achievement, streak, replace=True)
        else:
            row = await _progress(session, user_id, achievement, amount, replace=False)
        if row.unlocked_at is None and row.progress >= achievement.target:
            done = await _unlock(session, row, achievement)
            if done is not None:
                unlocked.append(done)
    return unlocked


async def _streak(session: AsyncSession, user_id: uuid.UUID, metric: str, day: dt.date) -> int:
    """The streak after a report on `day`: one more for the day after the last, back to one
    after a missed day, the same for a day already counted or a late report of an old day."""
    await session.execute(insert(UserStreak).values(
        user_id=user_id, metric=metric, current=0, longest=0,
        last_day=day - dt.timedelta(days=1)).on_conflict_do_nothing())
    row = await session.scalar(select(UserStreak).where(
        UserStreak.user_id == user_id, UserStreak.metric == metric).with_for_update()
        .execution_options(populate_existing=True))
    assert row is not None
    if day == row.last_day + dt.timedelta(days=1):
        row.current += 1
    elif day > row.last_day:
        row.current = 1
    else:
        return row.current
    row.last_day, row.longest = day, max(row.longest, row.current)
    await session.flush()
    return row.current


async def _progress(session: AsyncSession, user_id: uuid.UUID, achievement: Achievement,
                    amount: int, *, replace: bool) -> UserAchievement:
    table = UserAchievement.__table__
    query = insert(UserAchievement).values(user_id=user_id, achievement_id=achievement.id,
                                           progress=amount, updated_at=clock.now())
    progress = query.excluded.progress if replace else table.c.progress + query.excluded.progress
    row = await session.scalar(query.on_conflict_do_update(
        index_elements=["user_id", "achievement_id"],
        set_={"progress": progress, "updated_at": query.excluded.updated_at},
        where=table.c.unlocked_at.is_(None)).returning(UserAchievement)
        .execution_options(populate_existing=True))
    if row is None:  # unlocked already: progress stays where it was
        row = await session.scalar(select(UserAchievement).where(
            UserAchievement.user_id == user_id, UserAchievement.achievement_id == achievement.id))
    assert row is not None
    return row


async def _unlock(session: AsyncSession, row: UserAchievement,
                  achievement: Achievement) -> UnlockOut | None:
    now = clock.now()
    won = await session.scalar(update(UserAchievement).where(
        UserAchievement.id == row.id, UserAchievement.unlocked_at.is_(None))
        .values(unlocked_at=now).returning(UserAchievement.id))
    if won is None:
        return None
    transfer_id = None
    if achievement.bonus_asset and achievement.bonus_amount > 0:
        issuance = await ledger.platform_account(session, achievement.bonus_asset, "issuance")
        wallet = await ledger.user_account(session, row.user_id, achievement.bonus_asset)
        moved = await ledger.transfer(session, TransferIn(
            debit_account_id=issuance.id, credit_account_id=wallet.id,
            asset_code=achievement.bonus_asset, amount=achievement.bonus_amount,
            kind="achievement_bonus", reference_type=REFERENCE, reference_id=str(row.id),
            metadata={"user_id": str(row.user_id), "achievement": achievement.code}),
            idempotency_key=f"achievement:{row.id}:bonus")
        transfer_id = moved.id
    await session.execute(update(UserAchievement).where(UserAchievement.id == row.id)
                          .values(transfer_id=transfer_id))
    await events.publish(session, "achievement.unlocked", {
        "user_id": str(row.user_id), "achievement_code": achievement.code,
        "achievement_id": str(achievement.id), "user_achievement_id": str(row.id)})
    return UnlockOut(achievement_code=achievement.code, user_achievement_id=row.id)


# -- back office and reading ------------------------------------------------------------------

async def create_achievement(session: AsyncSession, data: AchievementIn,
                             actor: Subject | None) -> AchievementOut:
    if await session.scalar(select(Achievement.id).where(
            Achievement.code == data.code)) is not None:
        raise errors.AchievementExists(field="code")
    if (data.bonus_asset is None) != (data.bonus_amount == 0):
        raise errors.InvalidAchievement("A bonus needs both an asset and an amount.",
                                        field="bonus_amount")
    if data.bonus_asset is not None:
        try:
            await ledger.get_asset(session, data.bonus_asset)
        except NotFound as exc:
            raise errors.InvalidAchievement("No such asset.", field="bonus_asset") from exc
    now = clock.now()
    achievement = Achievement(**data.model_dump(), status="active", created_at=now,
                              updated_at=now)
    session.add(achievement)
    await session.flush()
    await audit.record(session, actor, "achievement.create", "achievement",
                       str(achievement.id), after=data.model_dump(mode="json"))
    return AchievementOut.model_validate(achievement)


async def list_achievements(session: AsyncSession) -> list[AchievementOut]:
    rows = await session.scalars(select(Achievement).order_by(Achievement.position,
                                                              Achievement.code))
    return [AchievementOut.model_validate(a) for a in rows]


async def my_achievements(session: AsyncSession, user_id: uuid.UUID) -> list[MyAchievementOut]:
    """Every active achievement with my progress; a streak broken by a missed day shows 0."""
    rows = (await session.execute(
        select(Achievement, UserAchievement).outerjoin(UserAchievement, (
            UserAchievement.achievement_id == Achievement.id)
            & (UserAchievement.user_id == user_id))
        .where(Achievement.status == "active")
        .order_by(Achievement.position, Achievement.code))).all()
    streaks = {s.metric: s for s in await session.scalars(select(UserStreak).where(
        UserStreak.user_id == user_id))}
    today = day_of(clock.now())
    out = []
    for achievement, mine in rows:
        progress = mine.progress if mine else 0
        streak = streaks.get(achievement.metric)
        if (achievement.kind == "streak" and (mine is None or mine.unlocked_at is None)
                and (streak is None or streak.last_day < today - dt.timedelta(days=1))):
            progress = 0
        out.append(MyAchievementOut(
            code=achievement.code, name=achievement.name, description=achievement.description,
            metric=achievement.metric, kind=achievement.kind, target=achievement.target,
            progress=min(progress, achievement.target) if not (mine and mine.unlocked_at)
            else achievement.target, bonus_asset=achievement.bonus_asset,
            bonus_amount=achievement.bonus_amount,
            unlocked_at=mine.unlocked_at if mine else None))
    return out
