"""Achievements and streaks that other domains report into.

`report` records one amount of a metric for a user (once per reference), moves tiers when the
metric is one they count, and advances every active achievement on that metric: a total, or
a streak of consecutive days in the user's time zone. An achievement unlocks once per user
(the row is unique per user and achievement, and only one unit flips `unlocked_at`); its bonus
is a ledger transfer from the asset's issuance account with reference ('achievement', the
user's achievement id), posted in the transaction that flips `unlocked_at`, so it is paid once
whatever is retried. `report_many` does the same for a batch of users in a few statements.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit, clock, events
from gullak.kit.errors import NotFound
from gullak.kit.ids import uuid7
from gullak.kit.sql import Array
from gullak.kit.schemas import BIGINT
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.loyalty import errors, tiers
from gullak.loyalty.models import Achievement, UserAchievement, UserStreak
from gullak.loyalty.schemas import AchievementIn, AchievementOut, MyAchievementOut, UnlockOut
from gullak.settings import get_settings

DEFAULT_ZONE = ZoneInfo("Asia/Kolkata")
TIER_METRICS = ("spent", "earned")
REFERENCE = "achievement"
METRIC = re.compile(r"[a-z][a-z0-9_]{0,39}")


def day_of(at: dt.datetime, zone: ZoneInfo = DEFAULT_ZONE) -> dt.date:
    return at.astimezone(zone).date()


@dataclass(frozen=True)
class Report:
    """One amount of a metric for a user, at a time, counted once per reference."""

    user_id: uuid.UUID
    amount: int
    at: dt.datetime
    reference: str | None = None


async def report(session: AsyncSession, user_id: uuid.UUID, metric: str, amount: int = 1, *,
                 at: dt.datetime | None = None, reference: str | None = None) -> list[UnlockOut]:
    """Count `amount` of `metric` for the user at `at` (now by default). The same reference
    counts once: a second report of it changes nothing. Returns what it unlocked."""
    return await report_many(session, metric, [Report(user_id, amount, at or clock.now(),
                                                      reference)])


async def report_many(session: AsyncSession, metric: str,
                      reports: Sequence[Report]) -> list[UnlockOut]:
    """`report` for many users at once (a daily job's thousands): the same effect in a few
    statements for the whole batch. Returns what it unlocked."""
    if not METRIC.fullmatch(metric):
        raise errors.InvalidAchievement("A metric is a snake_case name, a reference 1 to 200"
                                        " characters.", field="metric")
    for r in reports:
        if type(r.amount) is not int or not 0 <= r.amount <= BIGINT:
            raise errors.InvalidAchievement("An amount is a whole number, 0 or more.",
                                            field="amount")
        if r.reference is not None and not 0 < len(r.reference) <= 200:
            raise errors.InvalidAchievement("A metric is a snake_case name, a reference 1 to"
                                            " 200 characters.", field="metric")
    unlocked: list[UnlockOut] = []
    for batch in _one_per_user(reports):  # a statement may change a user's row only once
        unlocked += await _report_batch(session, metric, batch)
    return unlocked


def _one_per_user(reports: Sequence[Report]) -> list[list[Report]]:
    batches: list[list[Report]] = []
    seen: list[set[uuid.UUID]] = []
    for r in reports:
        i = next((k for k, users in enumerate(seen) if r.user_id not in users), len(seen))
        if i == len(seen):
            batches.append([])
            seen.append(set())
        batches[i].append(r)
        seen[i].add(r.user_id)
    return batches


async def _report_batch(session: AsyncSession, metric: str,
                        reports: list[Report]) -> list[UnlockOut]:
    counted = await tiers.record_activities(session, metric, [
        (r.user_id, r.amount, r.at, r.reference) for r in reports])
    fresh = [r for r in reports if r.user_id in counted]
    if metric in TIER_METRICS:
        for r in fresh:
            await tiers.evaluate(session, r.user_id)
    found = list(await session.scalars(select(Achievement).where(
        Achievement.metric == metric, Achievement.status == "active")
        .order_by(Achievement.position, Achievement.code)))
    if not fresh or not found:
        return []
    streaks = await _streaks(session, metric, fresh) if any(
        a.kind == "streak" for a in found) else {}
    rows: dict[tuple[uuid.UUID, uuid.UUID], tuple[uuid.UUID, int]] = {}
    for kind in ("total", "streak"):
        mine = [a for a in found if (a.kind == "streak") == (kind == "streak")]
        if mine:
            rows |= await _progress(session, mine, [
                (r.user_id, streaks[r.user_id] if kind == "streak" else r.amount)
                for r in fresh], replace=kind == "streak")
    return await _unlock(session, [
        (r.user_id, achievement, row[0]) for r in fresh for achievement in found
        if (row := rows.get((r.user_id, achievement.id))) is not None
        and row[1] >= achievement.target])


# The streak after a report on `day` (the user's date), one row per user in one statement:
# one more for the day after the last, or after missed days that the month's freezes still
# cover (counted in the month of `day`); back to one otherwise; the same for a day already
# counted or a late report of an old day.
_STREAKS = text("""
INSERT INTO user_streaks AS s (user_id, metric, current, longest, last_day, freezes_used,
                               freeze_month)
SELECT u, :metric, 1, 1, d, 0, date_trunc('month', d)::date
FROM unnest(CAST(:users AS uuid[]), CAST(:days AS date[])) AS t(u, d)
ON CONFLICT (user_id, metric) DO UPDATE SET
  current = CASE WHEN excluded.last_day <= s.last_day THEN s.current
                 WHEN excluded.last_day - s.last_day - 1 <= :allowance - CASE
                   WHEN s.freeze_month = excluded.freeze_month THEN s.freezes_used ELSE 0 END
                 THEN s.current + 1 ELSE 1 END,
  longest = greatest(s.longest, CASE WHEN excluded.last_day <= s.last_day THEN s.current
                 WHEN excluded.last_day - s.last_day - 1 <= :allowance - CASE
                   WHEN s.freeze_month = excluded.freeze_month THEN s.freezes_used ELSE 0 END
                 THEN s.current + 1 ELSE 1 END),
  freezes_used = CASE WHEN excluded.last_day <= s.last_day THEN s.freezes_used
                 ELSE CASE WHEN s.freeze_month = excluded.freeze_month
                           THEN s.freezes_used ELSE 0 END
                      + CASE WHEN excluded.last_day - s.last_day - 1 <= :allowance - CASE
                               WHEN s.freeze_month = excluded.freeze_month
                               THEN s.freezes_used ELSE 0 END
                             THEN excluded.last_day - s.last_day - 1 ELSE 0 END END,
  freeze_month = CASE WHEN excluded.last_day <= s.last_day THEN s.freeze_month
                      ELSE excluded.freeze_month END,
  last_day = greatest(s.last_day, excluded.last_day)
RETURNING user_id, current
""")


async def _streaks(session: AsyncSession, metric: str,
                   reports: list[Report]) -> dict[uuid.UUID, int]:
    rows = await session.execute(_STREAKS, {
        "metric": metric, "allowance": get_settings().streak_freezes_per_month,
        "users": Array([r.user_id for r in reports]),
        "days": Array([day_of(r.at) for r in reports])})
    return {u: int(c) for u, c in rows}


# Progress of each (user, achievement) not yet unlocked: added to, or replaced (a streak's
# length); an unlocked row stays as it was and is not returned.
_PROGRESS = """
INSERT INTO user_achievements AS ua (id, user_id, achievement_id, progress, updated_at)
SELECT id, u, a, p, :now FROM unnest(CAST(:ids AS uuid[]), CAST(:users AS uuid[]),
                                     CAST(:achievements AS uuid[]), CAST(:amounts AS bigint[]))
  AS t(id, u, a, p)
ORDER BY u, a
ON CONFLICT (user_id, achievement_id) DO UPDATE SET progress = {progress},
  updated_at = excluded.updated_at
WHERE ua.unlocked_at IS NULL
RETURNING ua.id, ua.user_id, ua.achievement_id, ua.progress
"""
_ADD_PROGRESS = text(_PROGRESS.format(progress="ua.progress + excluded.progress"))
_SET_PROGRESS = text(_PROGRESS.format(progress="excluded.progress"))


async def _progress(session: AsyncSession, achievements: list[Achievement],
                    amounts: list[tuple[uuid.UUID, int]], *, replace: bool
                    ) -> dict[tuple[uuid.UUID, uuid.UUID], tuple[uuid.UUID, int]]:
    pairs = [(u, a.id, n) for u, n in amounts for a in achievements]
    rows = await session.execute(_SET_PROGRESS if replace else _ADD_PROGRESS, {
        "now": clock.now(), "ids": Array([uuid7() for _ in pairs]),
        "users": Array([p[0] for p in pairs]), "achievements": Array([p[1] for p in pairs]),
        "amounts": Array([p[2] for p in pairs])})
    return {(u, a): (id_, int(progress)) for id_, u, a, progress in rows}


_UNLOCK = text("""
UPDATE user_achievements SET unlocked_at = :now
WHERE id = ANY(CAST(:ids AS uuid[])) AND unlocked_at IS NULL RETURNING id
""")
_PAID = text("""
UPDATE user_achievements AS ua SET transfer_id = t.transfer_id
FROM unnest(CAST(:ids AS uuid[]), CAST(:transfers AS uuid[])) AS t(id, transfer_id)
WHERE ua.id = t.id
""")


async def _unlock(session: AsyncSession, due: list[tuple[uuid.UUID, Achievement, uuid.UUID]]
                  ) -> list[UnlockOut]:
    """Unlock each (user, achievement, user's achievement id) that no other unit unlocked
    first, pay the bonuses (one ledger transaction per bonus asset, each transfer referring to
    its user's achievement: the flip of `unlocked_at` in the same transaction pays it once)
    and tell whoever listens."""
    if not due:
        return []
    won = set(await session.scalars(_UNLOCK, {"now": clock.now(),
                                              "ids": Array([row for _, _, row in due])}))
    due = [d for d in due if d[2] in won]
    paid = [d for d in due if d[1].bonus_asset and d[1].bonus_amount > 0]
    for asset in sorted({str(a.bonus_asset) for _, a, _ in paid}):
        mine = [d for d in paid if d[1].bonus_asset == asset]
        issuance = (await ledger.platform_account(session, asset, "issuance")).id
        wallets = await ledger.user_accounts(session, [user for user, _, _ in mine], asset)
        moved = await ledger.post(session, [TransferIn(
            debit_account_id=issuance, credit_account_id=wallets[user], asset_code=asset,
            amount=a.bonus_amount, kind="achievement_bonus", reference_type=REFERENCE,
            reference_id=str(row), metadata={"user_id": str(user), "achievement": a.code})
            for user, a, row in mine])
        await session.execute(_PAID, {"ids": Array([row for _, _, row in mine]),
                                      "transfers": Array([t.id for t in moved.transfers])})
    await events.publish_many(session, "achievement.unlocked", [{
        "user_id": str(user), "achievement_code": a.code, "achievement_id": str(a.id),
        "user_achievement_id": str(row)} for user, a, row in due])
    return [UnlockOut(achievement_code=a.code, user_achievement_id=row) for _, a, row in due]


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


def _broken(streak: UserStreak, today: dt.date) -> bool:
    """More days missed since the streak's last than this month's freezes still cover (today,
    not reported yet, is not missed)."""
    used = streak.freezes_used if streak.freeze_month == today.replace(day=1) else 0
    missed = (today - streak.last_day).days - 1
    return missed > max(get_settings().streak_freezes_per_month - used, 0)


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
                and (streak is None or _broken(streak, today))):
            progress = 0
        out.append(MyAchievementOut(
            code=achievement.code, name=achievement.name, description=achievement.description,
            metric=achievement.metric, kind=achievement.kind, target=achievement.target,
            progress=min(progress, achievement.target) if not (mine and mine.unlocked_at)
            else achievement.target, bonus_asset=achievement.bonus_asset,
            bonus_amount=achievement.bonus_amount,
            unlocked_at=mine.unlocked_at if mine else None))
    return out
