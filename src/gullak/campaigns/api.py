"""Campaigns HTTP API for the back office: segments (saved, previewed, counted) and marketing
campaigns (drafted, approved by another admin, scheduled, paused, resumed, cancelled), their
results per variant and their experiment assignments. Every write is audited."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from gullak.campaigns import service
from gullak.campaigns.schemas import (
    AssignmentPage,
    CampaignIn,
    CampaignOut,
    CampaignPage,
    CampaignPatch,
    CountOut,
    PreviewIn,
    ResultsOut,
    ScheduleIn,
    SegmentIn,
    SegmentOut,
    SegmentPage,
    SegmentPatch,
    Status,
)
from gullak.db.uow import SessionDep
from gullak.kit import audit
from gullak.kit.openapi import errors
from gullak.kit.security import Subject, require
from gullak.settings import Settings

router = APIRouter(tags=["campaigns"])
CanRead = Annotated[Subject, require("campaigns.read")]
CanManage = Annotated[Subject, require("campaigns.manage")]
CanApprove = Annotated[Subject, require("campaigns.approve")]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=64)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# -- segments ---------------------------------------------------------------------------------

@router.post("/v1/admin/segments/preview", summary="How many users these filters hold now")
async def preview(body: PreviewIn, session: SessionDep, _: CanRead) -> CountOut:
    return CountOut(count=await service.count(session, body.filters))


@router.post("/v1/admin/segments", status_code=201, summary="Save a segment")
async def create_segment(body: SegmentIn, session: SessionDep, actor: CanManage) -> SegmentOut:
    out = await service.create_segment(session, body, actor.id)
    await audit.record(session, actor, "campaigns.segment.create", "segment", str(out.id),
                       after=out.model_dump(mode="json"))
    return out


@router.get("/v1/admin/segments", summary="Segments, newest first")
async def list_segments(session: SessionDep, _: CanRead, cursor: Cursor = None,
                        limit: Limit = 50) -> SegmentPage:
    return await service.list_segments(session, cursor, limit)


@router.get("/v1/admin/segments/{segment_id}", responses=errors(404))
async def get_segment(segment_id: uuid.UUID, session: SessionDep, _: CanRead) -> SegmentOut:
    return SegmentOut.model_validate(await service.get_segment(session, segment_id))


@router.get("/v1/admin/segments/{segment_id}/count", responses=errors(404),
            summary="How many users the segment holds now")
async def segment_count(segment_id: uuid.UUID, session: SessionDep, _: CanRead) -> CountOut:
    return CountOut(count=await service.segment_count(session, segment_id))


@router.patch("/v1/admin/segments/{segment_id}", responses=errors(404, 409),
              summary="Rename, describe or refilter (not while a campaign sends to it)")
async def update_segment(segment_id: uuid.UUID, body: SegmentPatch, session: SessionDep,
                         actor: CanManage) -> SegmentOut:
    before, after = await service.update_segment(session, segment_id, body)
    await audit.record(session, actor, "campaigns.segment.update", "segment", str(segment_id),
                       before=before.model_dump(mode="json"), after=after.model_dump(mode="json"))
    return after


# -- campaigns --------------------------------------------------------------------------------

async def _audited(session: SessionDep, actor: Subject, action: str, campaign_id: uuid.UUID,
                   changed: tuple[CampaignOut, CampaignOut]) -> CampaignOut:
    before, after = changed
    await audit.record(session, actor, f"campaigns.campaign.{action}", "campaign",
                       str(campaign_id), before=before.model_dump(mode="json"),
                       after=after.model_dump(mode="json"))
    return after


@router.post("/v1/admin/campaigns", status_code=201, responses=errors(404),
             summary="Draft a campaign on a segment")
async def create_campaign(body: CampaignIn, session: SessionDep,
                          actor: CanManage) -> CampaignOut:
    """Without `variants`, one variant "A" at 100 %. Variants' percentages add up to 100;
    each user's variant is fixed by the user and the campaign."""
    out = await service.create_campaign(session, body, actor.id)
    await audit.record(session, actor, "campaigns.campaign.create", "campaign", str(out.id),
                       after=out.model_dump(mode="json"))
    return out


@router.get("/v1/admin/campaigns", summary="Campaigns, newest first")
async def list_campaigns(session: SessionDep, _: CanRead, status: Status | None = None,
                         cursor: Cursor = None, limit: Limit = 50) -> CampaignPage:
    return await service.list_campaigns(session, status, cursor, limit)


@router.get("/v1/admin/campaigns/{campaign_id}", responses=errors(404))
async def get_campaign(campaign_id: uuid.UUID, session: SessionDep, _: CanRead) -> CampaignOut:
    return await service.get_campaign(session, campaign_id)


@router.patch("/v1/admin/campaigns/{campaign_id}", responses=errors(404, 409),
              summary="Change a draft (an approval given is withdrawn)")
async def update_campaign(campaign_id: uuid.UUID, body: CampaignPatch, session: SessionDep,
                          actor: CanManage) -> CampaignOut:
    changed = await service.update_campaign(session, campaign_id, body, actor.id)
    return await _audited(session, actor, "update", campaign_id, changed)


@router.post("/v1/admin/campaigns/{campaign_id}/approve", responses=errors(403, 404, 409),
             summary="Approve a draft (not its maker nor its last editor)")
async def approve(campaign_id: uuid.UUID, session: SessionDep,
                  actor: CanApprove) -> CampaignOut:
    changed = await service.approve(session, campaign_id, actor.id)
    return await _audited(session, actor, "approve", campaign_id, changed)


@router.post("/v1/admin/campaigns/{campaign_id}/schedule", responses=errors(404, 409),
             summary="Schedule an approved draft for its send time (or now)")
async def schedule(campaign_id: uuid.UUID, request: Request, session: SessionDep,
                   actor: CanManage, body: ScheduleIn | None = None) -> CampaignOut:
    changed = await service.move(session, _settings(request), campaign_id, "schedule", body)
    return await _audited(session, actor, "schedule", campaign_id, changed)


@router.post("/v1/admin/campaigns/{campaign_id}/pause", responses=errors(404, 409))
async def pause(campaign_id: uuid.UUID, request: Request, session: SessionDep,
                actor: CanManage) -> CampaignOut:
    changed = await service.move(session, _settings(request), campaign_id, "pause")
    return await _audited(session, actor, "pause", campaign_id, changed)


@router.post("/v1/admin/campaigns/{campaign_id}/resume", responses=errors(404, 409))
async def resume(campaign_id: uuid.UUID, session: SessionDep, actor: CanManage) -> CampaignOut:
    changed = await service.resume(session, campaign_id)
    return await _audited(session, actor, "resume", campaign_id, changed)


@router.post("/v1/admin/campaigns/{campaign_id}/cancel", responses=errors(404, 409),
             summary="Stop for good: users not reached yet are not sent to")
async def cancel(campaign_id: uuid.UUID, request: Request, session: SessionDep,
                 actor: CanManage) -> CampaignOut:
    changed = await service.move(session, _settings(request), campaign_id, "cancel")
    return await _audited(session, actor, "cancel", campaign_id, changed)


@router.get("/v1/admin/campaigns/{campaign_id}/results", responses=errors(404),
            summary="Per variant: recipients, delivered, suppressed, conversions, revenue")
async def results(campaign_id: uuid.UUID, session: SessionDep, _: CanRead) -> ResultsOut:
    return await service.results(session, campaign_id)


@router.get("/v1/admin/campaigns/{campaign_id}/assignments", responses=errors(404),
            summary="Each user's variant (the experiment's assignments)")
async def assignments(campaign_id: uuid.UUID, session: SessionDep, _: CanRead,
                      cursor: Cursor = None, limit: Limit = 50) -> AssignmentPage:
    return await service.assignments(session, campaign_id, cursor, limit)
