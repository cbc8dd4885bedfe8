"""Demo data: a segment (users active in the last 30 days), its marketing template, and a
draft A/B campaign on it waiting for another admin's approval in the back office."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.campaigns import segments, workflow
from gullak.campaigns.schemas import CampaignIn, SegmentIn
from gullak.kit.demo import DataSet
from gullak.notifications import service as notifications
from gullak.notifications.schemas import TemplateIn

TEMPLATE = "campaign_demo_comeback"


async def load(session: AsyncSession) -> None:
    await notifications.create_template(session, TEMPLATE, TemplateIn.model_validate({
        "category": "marketing", "description": "Demo campaign: come back for double coins",
        "channels": ["inbox", "push"], "variables": ["name", "offer"],
        "content": {"en": {"inbox": {"title": "{name}, we miss you", "body": "{offer}"},
                           "push": {"title": "{name}, we miss you", "body": "{offer}"}}}}))
    segment = await segments.create_segment(session, SegmentIn.model_validate({
        "name": "Active in the last 30 days",
        "filters": [{"type": "last_active", "within_days": 30}]}), None)
    await workflow.create_campaign(session, CampaignIn.model_validate({
        "name": "Double coins weekend", "segment_id": segment.id, "channel": "push",
        "template_code": TEMPLATE, "data": {"name": "friend", "offer": "Double coins all weekend"},
        "throttle_per_minute": 600, "attribution_days": 3,
        "variants": [{"code": "A", "percent": 50}, {"code": "B", "percent": 50}]}), None)


DATA_SETS = (DataSet(
    "campaigns", load, needs=("identity",),
    notes=("Campaigns  a draft A/B campaign waits for approval: GET /v1/admin/campaigns",)),)
