"""Campaigns and their status: a draft is edited (any change withdraws an approval), approved
by another admin when approval is required (maker-checker), scheduled, sent in throttled
batches from its time (sending, then sent), paused and resumed, or cancelled before it ends.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.campaigns import errors
from gullak.campaigns.models import Campaign, Variant
from gullak.campaigns.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPage,
    CampaignPatch,
    ScheduleIn,
    Status,
    VariantIn,
    VariantOut,
)
from gullak.campaigns.segments import get_segment
from gullak.kit import clock
from gullak.kit.sql import keyset_page
from gullak.notifications import errors as notification_errors
from gullak.notifications import service as notifications
from gullak.settings import Settings

# What each action may start from, and where it leads.
MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "schedule": (("draft",), "scheduled"),
    "pause": (("scheduled", "sending"), "paused"),
    "cancel": (("draft", "scheduled", "sending", "paused"), "cancelled"),
}


async def _variants(session: AsyncSession, campaign_id: uuid.UUID) -> list[Variant]:
    return list(await session.scalars(select(Variant).where(Variant.campaign_id == campaign_id)
                                      .order_by(Variant.position)))


async def campaign_out(session: AsyncSession, row: Campaign) -> CampaignOut:
    if inspect(row).expired_attributes:  # updated_at, set by the database on each write
        await session.refresh(row)
    variants = [VariantOut.model_validate(v) for v in await _variants(session, row.id)]
    return CampaignOut.model_validate({**{c: getattr(row, c) for c in _COLUMNS},
                                       "variants": variants})


_COLUMNS = [c.key for c in Campaign.__table__.columns]


def _put_variants(session: AsyncSession, campaign_id: uuid.UUID,
                  variants: list[VariantIn] | None) -> None:
    chosen = variants or [VariantIn(code="A", percent=100)]
    for position, v in enumerate(chosen):
        session.add(Variant(campaign_id=campaign_id, code=v.code, percent=v.percent,
                            template_code=v.template_code, position=position))


async def check_templates(session: AsyncSession, row: Campaign) -> None:
    """Every template the campaign would send exists, is on, takes the campaign's channel and
    finds each of its variables in the campaign's data: found now, not one user at a time."""
    codes = {row.template_code} | {v.template_code for v in await _variants(session, row.id)
                                   if v.template_code}
    for code in sorted(codes):
        try:
            tpl = await notifications.get_template(session, code)
        except notification_errors.TemplateNotFound:
            raise errors.TemplateRefused(f"No notification template {code!r}.",
                                         field="template_code") from None
        if not tpl.enabled:
            raise errors.TemplateRefused(f"The template {code!r} is disabled.",
                                         field="template_code")
        if row.channel not in tpl.channels:
            raise errors.TemplateRefused(f"The template {code!r} does not send by"
                                         f" {row.channel}.", field="channel")
        missing = sorted(set(tpl.variables) - set(row.data))
        if missing:
            raise errors.TemplateRefused(f"The template {code!r} needs {', '.join(missing)}.",
                                         field="data", missing=missing)


async def locked(session: AsyncSession, campaign_id: uuid.UUID) -> Campaign:
    row = await session.get(Campaign, campaign_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise errors.CampaignNotFound()
    return row


async def get_campaign(session: AsyncSession, campaign_id: uuid.UUID) -> CampaignOut:
    row = await session.get(Campaign, campaign_id)
    if row is None:
        raise errors.CampaignNotFound()
    return await campaign_out(session, row)


async def list_campaigns(session: AsyncSession, status: Status | None, cursor: str | None,
                         limit: int) -> CampaignPage:
    query = select(Campaign)
    if status is not None:
        query = query.where(Campaign.status == status.value)
    rows, after = await keyset_page(session, query, Campaign.id, cursor, limit)
    return CampaignPage(items=[await campaign_out(session, r) for r in rows], next_cursor=after)


async def create_campaign(session: AsyncSession, body: CampaignIn,
                          actor_id: uuid.UUID | None) -> CampaignOut:
    await get_segment(session, body.segment_id)
    row = Campaign(name=body.name, segment_id=body.segment_id, channel=body.channel.value,
                   template_code=body.template_code, data=body.data, send_at=body.send_at,
                   throttle_per_minute=body.throttle_per_minute,
                   attribution_days=body.attribution_days, status="draft",
                   created_by=actor_id, updated_by=actor_id)
    session.add(row)
    await session.flush()
    _put_variants(session, row.id, body.variants)
    await session.flush()
    await check_templates(session, row)
    return await campaign_out(session, row)


async def update_campaign(session: AsyncSession, campaign_id: uuid.UUID, body: CampaignPatch,
                          actor_id: uuid.UUID | None) -> tuple[CampaignOut, CampaignOut]:
    row = await locked(session, campaign_id)
    before = await campaign_out(session, row)
    if row.status != "draft":
        raise errors.InvalidStatus(f"The campaign is {row.status}; only a draft changes.",
                                   status=row.status)
    given = body.model_fields_set
    if body.segment_id is not None:
        await get_segment(session, body.segment_id)
    for name in ("name", "segment_id", "template_code", "data", "throttle_per_minute",
                 "attribution_days"):
        value = getattr(body, name)
        if name in given and value is not None:
            setattr(row, name, value)
    if body.channel is not None:
        row.channel = body.channel.value
    if "send_at" in given:
        row.send_at = body.send_at
    if body.variants is not None:
        await session.execute(delete(Variant).where(Variant.campaign_id == row.id))
        _put_variants(session, row.id, body.variants)
    # What was approved is no longer what would be sent.
    row.approved_by, row.approved_at = None, None
    row.updated_by, row.updated_at = actor_id, clock.now()
    await session.flush()
    await check_templates(session, row)
    return before, await campaign_out(session, row)


async def approve(session: AsyncSession, campaign_id: uuid.UUID,
                  actor_id: uuid.UUID) -> tuple[CampaignOut, CampaignOut]:
    row = await locked(session, campaign_id)
    before = await campaign_out(session, row)
    if row.status != "draft":
        raise errors.InvalidStatus(f"The campaign is {row.status}; only a draft is approved.",
                                   status=row.status)
    if actor_id in (row.created_by, row.updated_by):
        raise errors.SelfApproval()
    row.approved_by, row.approved_at = actor_id, clock.now()
    await session.flush()
    return before, await campaign_out(session, row)


async def move(session: AsyncSession, settings: Settings, campaign_id: uuid.UUID, action: str,
               body: ScheduleIn | None = None) -> tuple[CampaignOut, CampaignOut]:
    """Schedule, pause or cancel; 409 from any other status, with nothing changed."""
    row = await locked(session, campaign_id)
    before = await campaign_out(session, row)
    sources, target = MOVES[action]
    if row.status not in sources:
        raise errors.InvalidStatus(f"The campaign is {row.status}; it cannot {action}.",
                                   status=row.status)
    if action == "schedule":
        if settings.campaign_approval_required and row.approved_by is None:
            raise errors.NotApproved()
        await check_templates(session, row)
        if body is not None and body.send_at is not None:
            row.send_at = body.send_at
        row.send_at = row.send_at or clock.now()
    if action == "cancel":
        row.finished_at = clock.now()
    row.status = target
    row.updated_at = clock.now()
    await session.flush()
    return before, await campaign_out(session, row)


async def resume(session: AsyncSession, campaign_id: uuid.UUID) -> tuple[CampaignOut, CampaignOut]:
    """Back to sending if it had started, else to scheduled (its time may have come)."""
    row = await locked(session, campaign_id)
    before = await campaign_out(session, row)
    if row.status != "paused":
        raise errors.InvalidStatus(f"The campaign is {row.status}; only a paused one resumes.",
                                   status=row.status)
    row.status = "sending" if row.started_at is not None else "scheduled"
    row.updated_at = clock.now()
    await session.flush()
    return before, await campaign_out(session, row)
