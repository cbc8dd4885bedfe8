"""Campaigns commands and queries, the domain's public face: segments, the campaigns' workflow,
sending and attribution live in their own modules and are re-exported here. Services never
commit: the caller's unit of work does."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.campaigns.attribution import attribute, offer_redeemed, order_status_changed, results
from gullak.campaigns.models import Assignment, Campaign, Segment, Variant
from gullak.campaigns.schemas import (
    AssignmentOut,
    AssignmentPage,
    CampaignOut,
    SegmentOut,
    VariantOut,
)
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
from gullak.kit import browse as browsing
from gullak.kit.browse import Browse
from gullak.kit.ids import parse_cursor

__all__ = [
    "Batch", "approve", "assignments", "attribute", "browse_campaigns", "browse_segments",
    "count", "create_campaign", "create_segment",
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


# -- the console's tables ---------------------------------------------------------------------

async def browse_campaigns(session: AsyncSession, browse: Browse, *, status: str | None = None,
                           q: str | None = None) -> browsing.Page:
    """One page of campaigns (CampaignOut) for a table: by status, by a part of the name,
    sorted by name, status or creation; the variants of the whole page in one read."""
    query = select(Campaign)
    if status is not None:
        query = query.where(Campaign.status == status)
    if q is not None:
        query = query.where(Campaign.name.icontains(q, autoescape=True))
    found = await browsing.page(session, query, browse, Campaign.id, {
        "name": Campaign.name, "status": Campaign.status, "created": Campaign.created_at})
    ids = [row.id for row in found.rows]
    variants: dict[uuid.UUID, list[VariantOut]] = {}
    for v in await session.scalars(select(Variant).where(Variant.campaign_id.in_(ids))
                                   .order_by(Variant.campaign_id, Variant.position)):
        variants.setdefault(v.campaign_id, []).append(VariantOut.model_validate(v))
    columns = [c.key for c in Campaign.__table__.columns]
    return browsing.Page([CampaignOut.model_validate(
        {**{c: getattr(row, c) for c in columns}, "variants": variants.get(row.id, [])})
        for row in found.rows], found.next_cursor)


async def browse_segments(session: AsyncSession, browse: Browse, *,
                          q: str | None = None) -> browsing.Page:
    """One page of segments (SegmentOut) for a table: by a part of the name, sorted by name
    or creation."""
    query = select(Segment)
    if q is not None:
        query = query.where(Segment.name.icontains(q, autoescape=True))
    found = await browsing.page(session, query, browse, Segment.id, {
        "name": Segment.name, "created": Segment.created_at})
    return browsing.Page([SegmentOut.model_validate(r) for r in found.rows], found.next_cursor)
