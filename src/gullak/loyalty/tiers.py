"""Tiers: configuration, each user's tier, and the activity it rests on.

A user's figure for a tier is what they spent or earned (its metric) in the tier's rolling
window, summed from `loyalty_activity`, never their balance. Crossing a higher tier's
threshold upgrades at once, in the unit of work that recorded the activity; the tier then
holds for a period (the tier's window). At the period's end the daily review renews it if
the user still qualifies; if not, a grace period starts, and only at its end, still short,
does the user go down, to the best tier they qualify for then.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit, clock, events
from gullak.kit.ids import uuid7
from gullak.kit.sql import Array
from gullak.kit.security import Subject
from gullak.kit.sql import xact_lock
from gullak.loyalty import errors
from gullak.loyalty.models import LoyaltyActivity, LoyaltyTier, LoyaltyTierChange, UserLoyalty
from gullak.loyalty.schemas import (
    MyTierOut,
    NextTierOut,
    TierChangeOut,
    TierIn,
    TierOut,
    TierPatch,
    UserLoyaltyOut,
    UserTierOut,
)

LOWEST = UserTierOut(code="basic", name="Basic", rank=0)  # when no tier is configured
# The user's tier, or the lowest active one for a user never ranked: one round trip.
_TIER_OF = text("""
SELECT code, name, rank, multiplier_bp FROM loyalty_tiers
WHERE code = coalesce((SELECT tier_code FROM user_loyalty WHERE user_id = :u),
                      (SELECT code FROM loyalty_tiers WHERE active ORDER BY rank LIMIT 1))
""")


def tier_out(tier: LoyaltyTier) -> TierOut:
    return TierOut.model_validate(tier)


async def tiers(session: AsyncSession, *, active_only: bool = True) -> list[LoyaltyTier]:
    query = select(LoyaltyTier).order_by(LoyaltyTier.rank)
    if active_only:
        query = query.where(LoyaltyTier.active)
    return list(await session.scalars(query))


async def _tier(session: AsyncSession, code: str) -> LoyaltyTier:
    found = await session.scalar(select(LoyaltyTier).where(LoyaltyTier.code == code))
    if found is None:
        raise errors.TierNotFound(field="code")
    return found


async def list_tiers(session: AsyncSession, *, active_only: bool = True) -> list[TierOut]:
    return [tier_out(t) for t in await tiers(session, active_only=active_only)]


async def create_tier(session: AsyncSession, data: TierIn, actor: Subject | None) -> TierOut:
    if await session.scalar(select(LoyaltyTier.id).where(
            (LoyaltyTier.code == data.code) | (LoyaltyTier.rank == data.rank))) is not None:
        raise errors.TierExists(field="code")
    now = clock.now()
    tier = LoyaltyTier(**data.model_dump(), active=True, created_at=now, updated_at=now)
    session.add(tier)
    await session.flush()
    await audit.record(session, actor, "loyalty_tier.create", "loyalty_tier", data.code,
                       after=data.model_dump(mode="json"))
    return tier_out(tier)


async def update_tier(session: AsyncSession, code: str, data: TierPatch,
                      actor: Subject | None) -> TierOut:
    """Changes apply from the next activity or review: nobody moves because of the edit."""
    tier = await _tier(session, code)
    before = tier_out(tier).model_dump(mode="json")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if changes.get("active") is False and tier.rank == min(t.rank for t in await tiers(session)):
        raise errors.InvalidTier("The lowest tier stays active.", field="active")
    for name, value in changes.items():
        setattr(tier, name, value)
    tier.updated_at = clock.now()
    await session.flush()
    after = tier_out(tier)
    await audit.record(session, actor, "loyalty_tier.update", "loyalty_tier", code,
                       before=before, after=after.model_dump(mode="json"))
    return after


async def tier_of(session: AsyncSession, user_id: uuid.UUID) -> UserTierOut:
    """The user's tier now (the lowest tier for a user never ranked)."""
    row = (await session.execute(_TIER_OF, {"u": user_id})).first()
    if row is None:
        return LOWEST
    return UserTierOut(code=row.code, name=row.name, rank=row.rank,
                       multiplier_bp=row.multiplier_bp)


async def multipliers(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Each user's tier multiplier now, as `tier_of` gives it, for many users in one read."""
    ranked: dict[uuid.UUID, int] = dict((await session.execute(text(
        "SELECT l.user_id, t.multiplier_bp FROM user_loyalty l JOIN loyalty_tiers t"
        " ON t.code = l.tier_code WHERE l.user_id = ANY(:users)"),
        {"users": Array(user_ids)})).all())
    lowest = (await tier_of(session, uuid.UUID(int=0))).multiplier_bp if len(ranked) < len(
        set(user_ids)) else 0
    return {u: int(ranked.get(u, lowest)) for u in user_ids}


# -- activity and the figures it gives ---------------------------------------------------------

_RECORD = text("""
INSERT INTO loyalty_activity (id, user_id, metric, amount, at, reference)
SELECT id, u, :metric, a, t, r
FROM unnest(CAST(:ids AS uuid[]), CAST(:users AS uuid[]), CAST(:amounts AS bigint[]),
            CAST(:ats AS timestamptz[]), CAST(:refs AS text[])) AS x(id, u, a, t, r)
ON CONFLICT (user_id, metric, reference) WHERE reference IS NOT NULL DO NOTHING
RETURNING user_id
""")


async def record_activities(
        session: AsyncSession, metric: str,
        items: Sequence[tuple[uuid.UUID, int, dt.datetime, str | None]]) -> set[uuid.UUID]:
    """Record each (user, amount, at, reference) of the metric, one per user; returns the
    users whose item counted (not a reference counted already)."""
    if not items:
        return set()
    rows = await session.scalars(_RECORD, {
        "metric": metric, "ids": Array([uuid7() for _ in items]),
        "users": Array([i[0] for i in items]), "amounts": Array([i[1] for i in items]),
        "ats": Array([i[2] for i in items]), "refs": Array([i[3] for i in items])})
    return set(rows)


async def figure(session: AsyncSession, user_id: uuid.UUID, metric: str, window_days: int) -> int:
    """What the user spent or earned in the last `window_days`."""
    since = clock.now() - dt.timedelta(days=window_days)
    return int(await session.scalar(select(func.coalesce(func.sum(LoyaltyActivity.amount), 0))
                                    .where(LoyaltyActivity.user_id == user_id,
                                           LoyaltyActivity.metric == metric,
                                           LoyaltyActivity.at > since)) or 0)


async def _qualified(session: AsyncSession, user_id: uuid.UUID,
                     ladder: Sequence[LoyaltyTier]) -> LoyaltyTier:
    """The highest tier whose threshold the user's figure reaches (the lowest always)."""
    best = ladder[0]
    seen: dict[tuple[str, int], int] = {}
    for tier in ladder[1:]:
        key = (tier.metric, tier.window_days)
        if key not in seen:
            seen[key] = await figure(session, user_id, *key)
        if seen[key] >= tier.threshold:
            best = tier
    return best


def _period(tier: LoyaltyTier, ladder: Sequence[LoyaltyTier], now: dt.datetime,
            row: UserLoyalty) -> None:
    """A fresh period in `tier` (the lowest tier has none: nothing to lose)."""
    if tier.rank == ladder[0].rank:
        row.period_end = row.review_at = None
    else:
        row.period_end = row.review_at = now + dt.timedelta(days=tier.window_days)
    row.grace_until = None


async def _move(session: AsyncSession, row: UserLoyalty, tier: LoyaltyTier,
                ladder: Sequence[LoyaltyTier], reason: str,
                actor: Subject | None = None) -> None:
    now = clock.now()
    before = row.tier_code
    row.tier_code, row.since, row.updated_at = tier.code, now, now
    _period(tier, ladder, now, row)
    session.add(LoyaltyTierChange(user_id=row.user_id, from_tier=before, to_tier=tier.code,
                                  reason=reason, actor_id=actor.id if actor else None, at=now))
    await session.flush()
    await events.publish(session, "loyalty.tier_changed", {
        "user_id": str(row.user_id), "from_tier": before, "to_tier": tier.code,
        "reason": reason})


async def _row(session: AsyncSession, user_id: uuid.UUID,
               ladder: Sequence[LoyaltyTier]) -> UserLoyalty:
    """The user's row, locked; a user never ranked gets one in the lowest tier."""
    await session.execute(insert(UserLoyalty).values(
        user_id=user_id, tier_code=ladder[0].code, since=clock.now())
        .on_conflict_do_nothing(index_elements=["user_id"]))
    found = await session.scalar(select(UserLoyalty).where(UserLoyalty.user_id == user_id)
                                 .with_for_update().execution_options(populate_existing=True))
    assert found is not None
    return found


def _rank(ladder: Sequence[LoyaltyTier], code: str) -> int:
    return next((t.rank for t in ladder if t.code == code), -1)


async def evaluate(session: AsyncSession, user_id: uuid.UUID) -> None:
    """After new activity: up at once if a higher tier is reached; a user in grace who
    qualifies again keeps the tier for a fresh period. Never down (that waits for review)."""
    ladder = await tiers(session)
    if len(ladder) < 2:
        return
    best = await _qualified(session, user_id, ladder)
    existing = await session.scalar(select(UserLoyalty.tier_code).where(
        UserLoyalty.user_id == user_id))
    if best.rank == ladder[0].rank and existing is None:
        return  # a user in the lowest tier needs no row
    row = await _row(session, user_id, ladder)
    current = _rank(ladder, row.tier_code)
    if best.rank > current:
        await _move(session, row, best, ladder, "upgrade")
    elif best.rank == current and row.grace_until is not None:
        _period(best, ladder, clock.now(), row)
        row.updated_at = clock.now()


async def review(session: AsyncSession, *, limit: int = 100) -> int:
    """The daily review of users whose period (or grace) has ended; returns how many."""
    now = clock.now()
    ids = list(await session.scalars(select(UserLoyalty.user_id).where(
        UserLoyalty.review_at <= now).order_by(UserLoyalty.review_at).limit(limit)
        .with_for_update(skip_locked=True)))
    ladder = await tiers(session) if ids else []
    for user_id in ids:
        row = await _row(session, user_id, ladder)
        best = await _qualified(session, user_id, ladder)
        current = _rank(ladder, row.tier_code)
        if best.rank > current:
            await _move(session, row, best, ladder, "upgrade")
        elif best.rank == current:
            _period(best, ladder, now, row)  # qualified again: a new period
        elif row.grace_until is None:
            tier = next(t for t in ladder if t.code == row.tier_code) if current >= 0 else best
            row.grace_until = row.review_at = now + dt.timedelta(days=tier.grace_days)
            if tier.grace_days == 0:
                await _move(session, row, best, ladder, "period_end")
        else:
            await _move(session, row, best, ladder, "period_end")
        row.updated_at = now
    await session.flush()
    return len(ids)


async def set_tier(session: AsyncSession, user_id: uuid.UUID, code: str, reason: str,
                   actor: Subject) -> UserLoyaltyOut:
    """The back office's own decision: the tier holds for its full period, then the daily
    review judges it like any other."""
    ladder = await tiers(session)
    tier = next((t for t in ladder if t.code == code), None)
    if tier is None:
        raise errors.TierNotFound(field="tier_code")
    await xact_lock(session, f"loyalty:{user_id}")
    row = await _row(session, user_id, ladder)
    before = {"tier": row.tier_code}
    await _move(session, row, tier, ladder, f"manual: {reason}", actor)
    await audit.record(session, actor, "user_loyalty.set_tier", "user", str(user_id),
                       before=before, after={"tier": code, "reason": reason})
    return await user_loyalty(session, user_id)


# -- reading ----------------------------------------------------------------------------------

async def my_tier(session: AsyncSession, user_id: uuid.UUID) -> MyTierOut:
    ladder = await tiers(session)
    if not ladder:  # nothing configured: everyone is in the lowest tier, with nothing to reach
        return MyTierOut(code=LOWEST.code, name=LOWEST.name, rank=0,
                         multiplier_bp=LOWEST.multiplier_bp, benefits=[], metric="spent",
                         window_days=365, value=0, since=None, period_end=None,
                         grace_until=None, next=None)
    row = await session.scalar(select(UserLoyalty).where(UserLoyalty.user_id == user_id))
    current = next((t for t in ladder if row is not None and t.code == row.tier_code), ladder[0])
    above = [t for t in ladder if t.rank > current.rank]
    upcoming = None
    if above:
        nxt = above[0]
        value = await figure(session, user_id, nxt.metric, nxt.window_days)
        upcoming = NextTierOut(code=nxt.code, name=nxt.name, metric=nxt.metric,
                               threshold=nxt.threshold, value=value,
                               left=max(nxt.threshold - value, 0))
    return MyTierOut(
        code=current.code, name=current.name, rank=current.rank,
        multiplier_bp=current.multiplier_bp, benefits=list(current.benefits),
        metric=current.metric, window_days=current.window_days,
        value=await figure(session, user_id, current.metric, current.window_days),
        since=row.since if row else None, period_end=row.period_end if row else None,
        grace_until=row.grace_until if row else None, next=upcoming)


async def user_loyalty(session: AsyncSession, user_id: uuid.UUID,
                       limit: int = 50) -> UserLoyaltyOut:
    history = await session.scalars(select(LoyaltyTierChange).where(
        LoyaltyTierChange.user_id == user_id).order_by(LoyaltyTierChange.id.desc()).limit(limit))
    return UserLoyaltyOut(user_id=user_id, tier=await my_tier(session, user_id),
                          history=[TierChangeOut.model_validate(c) for c in history])
