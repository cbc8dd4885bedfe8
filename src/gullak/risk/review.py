"""The back office's side: risk events listed, read and reviewed (pending to confirmed or
dismissed, by whom, when, with a note), and blocks listed and lifted. Every write is audited.

A review judges the finding; it does not lift a block by itself (a confirmed finding may
still deserve a lift once the user has been talked to, a dismissed one always comes with an
explicit lift), so the two are separate acts in the audit log.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit, clock
from gullak.kit.security import Subject
from gullak.kit.sql import keyset_page
from gullak.risk import errors
from gullak.risk.models import RiskBlock, RiskEvent
from gullak.risk.schemas import (
    ReviewIn,
    RiskBlockOut,
    RiskBlockPage,
    RiskEventOut,
    RiskEventPage,
)


async def list_events(session: AsyncSession, *, status: str | None = None,
                      rule: str | None = None, min_score: int | None = None,
                      user_id: uuid.UUID | None = None, cursor: str | None = None,
                      limit: int = 20) -> RiskEventPage:
    query = select(RiskEvent)
    if status is not None:
        query = query.where(RiskEvent.status == status)
    if rule is not None:
        query = query.where(RiskEvent.rule == rule)
    if min_score is not None:
        query = query.where(RiskEvent.score >= min_score)
    if user_id is not None:
        query = query.where(RiskEvent.user_id == user_id)
    rows, next_cursor = await keyset_page(session, query, RiskEvent.id, cursor, limit)
    return RiskEventPage(items=[RiskEventOut.model_validate(r) for r in rows],
                         next_cursor=next_cursor)


async def get_event(session: AsyncSession, event_id: uuid.UUID) -> RiskEventOut:
    row = await session.get(RiskEvent, event_id)
    if row is None:
        raise errors.RiskEventNotFound()
    return RiskEventOut.model_validate(row)


async def review(session: AsyncSession, event_id: uuid.UUID, data: ReviewIn,
                 actor: Subject) -> RiskEventOut:
    row = await session.get(RiskEvent, event_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise errors.RiskEventNotFound()
    if row.status != "pending":
        raise errors.AlreadyReviewed(reason=row.status)
    now = clock.now()
    row.status, row.review_note = data.outcome, data.note
    row.reviewed_by, row.reviewed_at, row.updated_at = actor.id, now, now
    await session.flush()
    await audit.record(session, actor, "risk.review", "risk_event", str(row.id),
                       before={"status": "pending"},
                       after={"status": row.status, "note": row.review_note})
    return RiskEventOut.model_validate(row)


def _block_out(row: RiskBlock) -> RiskBlockOut:
    return RiskBlockOut(id=row.id, user_id=row.user_id, event_id=row.event_id,
                        rule=row.rule,  # type: ignore[arg-type]
                        blocked_at=row.blocked_at, lifted_at=row.lifted_at,
                        lifted_by=row.lifted_by, lift_note=row.lift_note,
                        active=row.lifted_at is None)


async def list_blocks(session: AsyncSession, *, active: bool | None = True,
                      user_id: uuid.UUID | None = None, cursor: str | None = None,
                      limit: int = 20) -> RiskBlockPage:
    query = select(RiskBlock)
    if active is not None:
        query = query.where(RiskBlock.lifted_at.is_(None) if active
                            else RiskBlock.lifted_at.is_not(None))
    if user_id is not None:
        query = query.where(RiskBlock.user_id == user_id)
    rows, next_cursor = await keyset_page(session, query, RiskBlock.id, cursor, limit)
    return RiskBlockPage(items=[_block_out(r) for r in rows], next_cursor=next_cursor)


async def lift(session: AsyncSession, user_id: uuid.UUID, note: str,
               actor: Subject) -> RiskBlockOut:
    """The user may sign in, redeem and withdraw again; the rules do not block them again
    automatically for the grace period (GULLAK_RISK_LIFT_GRACE_DAYS)."""
    row = await session.scalar(select(RiskBlock).where(RiskBlock.user_id == user_id)
                               .with_for_update().execution_options(populate_existing=True))
    if row is None or row.lifted_at is not None:
        raise errors.NotBlocked()
    row.lifted_at, row.lifted_by, row.lift_note = clock.now(), actor.id, note
    await session.flush()
    await audit.record(session, actor, "risk.lift", "risk_block", str(user_id),
                       before={"active": True, "event_id": str(row.event_id),
                               "rule": row.rule},
                       after={"active": False, "note": note})
    return _block_out(row)
