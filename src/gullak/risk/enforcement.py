"""Keeping findings, blocking, and refusing a blocked user.

A user is refused where it matters by the handlers of the facts that happen there (a
sign-in, a redemption, a withdrawal requested): a handler's refusal is the publisher's, so the
refused action rolls back whole, and its publisher needs no call into this domain.

That same rollback would take with it the risk event that decided a block. So when a finding
blocks the action it came from, the event and the block are written first on a connection of
their own, in a short transaction that commits before the refusal; they touch only this
domain's tables, which the publisher's transaction has not locked, so the two cannot wait on
each other. Findings below the block threshold are written in the publisher's transaction,
with the fact: they commit or roll back with it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.risk.errors import AccountRestricted
from gullak.risk.models import RiskBlock, RiskEvent
from gullak.risk.rules import Finding
from gullak.settings import Settings

# A rule that keeps firing (every redemption of a burst) raises the score of its pending event
# of the day instead of adding rows: one thing to review per user, rule and day.
REPEAT_WINDOW = dt.timedelta(days=1)


async def blocked(session: AsyncSession, user_id: uuid.UUID) -> RiskBlock | None:
    return await session.scalar(select(RiskBlock).where(RiskBlock.user_id == user_id,
                                                        RiskBlock.lifted_at.is_(None)))


async def guard(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Refuse a blocked user, in words that name no rule and no score."""
    if await blocked(session, user_id) is not None:
        raise AccountRestricted()


async def act(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
              findings: Sequence[Finding]) -> None:
    """Keep the findings; when one scores at or above the block threshold, block the user
    and refuse the action the findings came from."""
    if not findings:
        return
    worst = max(findings, key=lambda f: f.score)
    if worst.score < settings.risk_block_score or not await _may_block(session, settings,
                                                                         user_id):
        await write(session, user_id, findings, None)
        return
    conn = await session.connection()
    async with conn.engine.begin() as apart:
        # Never wait long on a lock here while the publisher's transaction waits on us.
        await apart.execute(text("SET LOCAL lock_timeout = '5s'"))
        async with AsyncSession(bind=apart, expire_on_commit=False) as own:
            await write(own, user_id, findings, worst)
    raise AccountRestricted()


async def _may_block(session: AsyncSession, settings: Settings, user_id: uuid.UUID) -> bool:
    """Not when blocked already, nor for a while after an admin lifted a block: the admin
    decided about this user, and the same signals would block them again at once."""
    row = await session.scalar(select(RiskBlock).where(RiskBlock.user_id == user_id))
    if row is None:
        return True
    if row.lifted_at is None:
        return False
    return row.lifted_at <= clock.now() - dt.timedelta(days=settings.risk_lift_grace_days)


async def write(session: AsyncSession, user_id: uuid.UUID, findings: Sequence[Finding],
                blocking: Finding | None) -> list[RiskEvent]:
    """Record the findings (raising a pending event of the day rather than repeating it), and
    the block caused by `blocking` if given."""
    now = clock.now()
    kept: list[RiskEvent] = []
    for finding in findings:
        row = await session.scalar(
            select(RiskEvent).where(RiskEvent.user_id == user_id, RiskEvent.rule == finding.rule,
                                    RiskEvent.status == "pending",
                                    RiskEvent.created_at >= now - REPEAT_WINDOW)
            .order_by(RiskEvent.id.desc()).limit(1).with_for_update())
        if row is None:
            row = RiskEvent(user_id=user_id, subject_type=finding.subject_type,
                            subject_id=finding.subject_id, rule=finding.rule,
                            score=finding.score, signals=finding.signals, blocked=False,
                            status="pending", created_at=now, updated_at=now)
            session.add(row)
        elif finding.score > row.score:
            row.score, row.signals, row.updated_at = finding.score, finding.signals, now
            row.subject_type, row.subject_id = finding.subject_type, finding.subject_id
        if finding is blocking:
            row.blocked = True
        kept.append(row)
    await session.flush()
    if blocking is not None:
        event = kept[list(findings).index(blocking)]
        # Upsert: two requests blocking the same user at once both succeed.
        await session.execute(insert(RiskBlock).values(
            id=uuid7(), user_id=user_id, event_id=event.id, rule=blocking.rule, blocked_at=now)
            .on_conflict_do_update(index_elements=["user_id"], set_={
                "event_id": event.id, "rule": blocking.rule, "blocked_at": now,
                "lifted_at": None, "lifted_by": None, "lift_note": None}))
    return kept
