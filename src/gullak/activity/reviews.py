"""The review queue (days the anti-cheat held back) and a user's activity summary."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import conversion, errors, steps
from gullak.activity.models import DaySummary, Validation
from gullak.activity.schemas import DecisionIn, ReviewOut, ReviewPage, SummaryOut
from gullak.kit import audit, clock
from gullak.kit.ids import parse_cursor
from gullak.kit.security import Subject
from gullak.settings import get_settings


def review_out(v: Validation) -> ReviewOut:
    return ReviewOut(id=v.id, user_id=v.user_id, day=v.day, steps=v.steps, score=v.score,
                     reasons=list(v.reasons), outcome=v.outcome, decision=v.decision,
                     decided_at=v.decided_at, created_at=v.created_at)


async def reviews(session: AsyncSession, *, limit: int = 50,
                  cursor: str | None = None) -> ReviewPage:
    """Days waiting for a decision, oldest first."""
    query = select(Validation).join(DaySummary, DaySummary.id == Validation.summary_id).where(
        Validation.outcome == "review", Validation.decided_at.is_(None),
        DaySummary.status == "review")
    if cursor is not None:
        query = query.where(Validation.id > parse_cursor(cursor))
    rows = list(await session.scalars(query.order_by(Validation.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return ReviewPage(items=[review_out(v) for v in rows],
                      next_cursor=str(rows[-1].id) if more else None)


async def decide(session: AsyncSession, validation_id: uuid.UUID, data: DecisionIn,
                 actor: Subject) -> ReviewOut:
    """Approve (the day's steps verified in full) or reject (nothing, coins taken back);
    only the day's latest validation, once."""
    v = await session.get(Validation, validation_id)
    if v is None:
        raise errors.ReviewNotFound()
    await steps.lock(session, v.user_id, v.day)
    s = await steps.summary_for_update(session, v.user_id, v.day)
    v = await session.get(Validation, validation_id, populate_existing=True, with_for_update=True)
    assert v is not None
    latest = await session.scalar(select(Validation.id).where(
        Validation.summary_id == s.id).order_by(Validation.id.desc()).limit(1))
    if v.outcome != "review" or v.decided_at is not None or latest != v.id \
            or s.status != "review":
        raise errors.ReviewDecided()
    before = review_out(v).model_dump(mode="json")
    approve = data.decision == "approve"
    await conversion.record_decision(session, v, "approved" if approve else "rejected",
                                     actor.id, data.reason)
    await conversion.apply(session, s, "verified" if approve else "rejected",
                           v.steps if approve else 0, v.id)
    await session.flush()
    after = review_out(v)
    await audit.record(session, actor, f"activity.review.{data.decision}", "step_validation",
                       str(v.id), before=before, after=after.model_dump(mode="json"))
    return after


async def summary(session: AsyncSession, user_id: uuid.UUID) -> SummaryOut:
    """Today (the user's last known UTC offset, else India's), the goal, the streak of goal
    days ending today or yesterday (or before, by the freezes left), and coins from steps."""
    cfg = get_settings()
    offset = await session.scalar(select(DaySummary.utc_offset_minutes).where(
        DaySummary.user_id == user_id, DaySummary.utc_offset_minutes.is_not(None))
        .order_by(DaySummary.day.desc()).limit(1))
    minutes = 330 if offset is None else offset
    today = (clock.now() + dt.timedelta(minutes=minutes)).date()
    rows = {s.day: s for s in await session.scalars(select(DaySummary).where(
        DaySummary.user_id == user_id, DaySummary.day >= today - dt.timedelta(days=400)))}
    now = rows.get(today)
    goal = cfg.activity_goal_steps

    def met(day: dt.date) -> bool:
        s = rows.get(day)
        return s is not None and (s.verified_steps if s.status != "open" else s.steps) >= goal

    # Goal days back from today (today itself need not be met yet); missed days between them
    # are forgiven while the month's freezes last, as loyalty counts its streaks.
    allowance, spent = cfg.streak_freezes_per_month, dict[dt.date, int]()

    def forgiven(after: dt.date, before: dt.date) -> bool:
        missed, month = (after - before).days - 1, after.replace(day=1)
        if missed > allowance - spent.get(month, 0):
            return False
        spent[month] = spent.get(month, 0) + missed
        return True

    streak, after = 0, today + dt.timedelta(days=1) if met(today) else today
    for day in sorted((d for d in rows if d <= today and met(d)), reverse=True):
        if not forgiven(after, day):
            break
        streak, after = streak + 1, day
    total = int(await session.scalar(select(func.coalesce(func.sum(DaySummary.credited), 0))
                                     .where(DaySummary.user_id == user_id)) or 0)
    steps_today = now.steps if now else 0
    return SummaryOut(today=today, steps=steps_today, goal=goal,
                      goal_progress_bp=min(steps_today * 10_000 // goal, 10_000),
                      streak=streak, coins_today=now.credited if now else 0,
                      coins_from_steps=total, asset=cfg.activity_asset)
