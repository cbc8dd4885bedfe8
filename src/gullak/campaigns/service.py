"""Campaigns commands and queries, the domain's public face: segments, the campaigns' workflow,
sending and attribution live in their own modules and are re-exported here. Services never
commit: the caller's unit of work does."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.campaigns.attribution import attribute, offer_redeemed, order_status_changed, results
from gullak.campaigns.models import Assignment
from gullak.campaigns.schemas import AssignmentOut, AssignmentPage
from gullak.campaigns.segments import (
    count,
    create_segment,
    get_segment,
    list_segments,
    members,
    segment_count,
    update_segment,
)
from gullak.campaigns.sending import Batch, send_batch, sending, start_due, variant_of
from gullak.campaigns.workflow import (
    approve,
    create_campaign,
    get_campaign,
    list_campaigns,
    move,
    resume,
    update_campaign,
)
from gullak.kit.ids import parse_cursor

__all__ = [
    "Batch", "approve", "assignments", "attribute", "count", "create_campaign", "create_segment",
    "get_campaign", "get_segment", "list_campaigns", "list_segments", "members", "move",
    "offer_redeemed", "order_status_changed", "results", "resume", "segment_count",
    "send_batch", "sending", "start_due", "update_campaign", "update_segment", "variant_of",
]


async def assignments(session: AsyncSession, campaign_id: uuid.UUID, cursor: str | None,
                      limit: int) -> AssignmentPage:
    """A campaign's experiment assignments (ReZ's ab_test_results), by user id, newest
    first."""
    after = parse_cursor(cursor)  # a bad cursor is refused before anything is looked up
    await get_campaign(session, campaign_id)
    query = select(Assignment).where(Assignment.campaign_id == campaign_id)
    if after is not None:
        query = query.where(Assignment.user_id < after)
    rows = list(await session.scalars(query.order_by(Assignment.user_id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    return AssignmentPage(items=[AssignmentOut.model_validate(r) for r in rows[:limit]],
                          next_cursor=str(rows[limit - 1].user_id) if more else None)
