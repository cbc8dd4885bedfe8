"""Marketing campaigns: the list, one campaign with its variants and results, drafting and
editing, and the workflow (approval by another admin, schedule, pause, resume, cancel), each
under the permission the campaigns API asks for and audited as the API audits it."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.campaigns import service as campaigns
from gullak.campaigns.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    Channel,
    ScheduleIn,
    SegmentOut,
    Status,
)
from gullak.console import forms
from gullak.console.tables import Column, Filter, choice, param, table, uuid_param
from gullak.console.web import AdminPage, ConsoleRoute, Page
from gullak.kit import audit
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import InvalidInput
from gullak.notifications import service as notifications

router = APIRouter(route_class=ConsoleRoute)
STATUSES = tuple(s.value for s in Status)
CHANNELS = tuple(c.value for c in Channel)
SEGMENT_CHOICES = 200  # a draft's segment is picked from the newest ones


def _link(row: CampaignOut) -> str:
    return f"/console/campaigns/{row.id}"


COLUMNS = (
    Column("Name", lambda r: r.name, link=_link, sort="name"),
    Column("Status", lambda r: r.status.value, sort="status"),
    Column("Channel", lambda r: r.channel.value),
    Column("Template", lambda r: r.template_code),
    Column("Variants", lambda r: ", ".join(f"{v.code} {v.percent}%" for v in r.variants)),
    Column("Send at", lambda r: r.send_at),
    Column("Approved", lambda r: "yes" if r.approved_at else ""),
    Column("Created", lambda r: r.created_at, sort="created"),
)


@router.get("/campaigns")
async def campaign_list(page: AdminPage) -> Response:
    await page.require("campaigns.read")
    status, q = choice(page, "status", STATUSES), param(page, "q")

    async def fetch(browse: Browse) -> Rows:
        return await campaigns.browse_campaigns(page.session, browse, status=status, q=q)

    return await table(
        page, title="Campaigns", columns=COLUMNS, fetch=fetch, default_sort="-created",
        filters=[Filter("status", "Status", tuple((s, s) for s in STATUSES)),
                 Filter("q", "Name", placeholder="part of the name")],
        template="growth/campaigns.html")


async def _form(page: Page, title: str, action: str, values: dict[str, Any]) -> Response:
    segments = (await campaigns.list_segments(page.session, None, SEGMENT_CHOICES)).items
    templates = [t.code for t in await notifications.list_templates(page.session) if t.enabled]
    return await page.render("growth/campaign_form.html", title=title, action=action,
                             values=values, segments=segments, templates=templates,
                             channels=CHANNELS)


@router.get("/campaigns/new")
async def campaign_new(page: AdminPage) -> Response:
    await page.require("campaigns.manage")
    return await _form(page, "New campaign", "/console/campaigns", {
        "name": "", "segment_id": str(uuid_param(page, "segment_id") or ""),
        "channel": "inbox", "template_code": "", "data": "{}", "send_at": "",
        "throttle_per_minute": 1000, "attribution_days": 7, "variants": "A 100"})


def _variants(form: forms.Form) -> list[dict[str, Any]] | None:
    """One variant a line: `CODE PERCENT [TEMPLATE]`, as "B 50 promo_b"."""
    found = []
    for line in forms.lines(form, "variants"):
        parts = line.split()
        if len(parts) > 3:
            raise InvalidInput("A variant is CODE PERCENT [TEMPLATE], one a line.",
                               field="variants")
        found.append({"code": parts[0],
                      "percent": forms.integer(parts[1]) if len(parts) > 1 else None,
                      "template_code": parts[2] if len(parts) > 2 else None})
    return found or None


def _fields(form: forms.Form) -> dict[str, Any]:
    return {
        "name": forms.text(form, "name"), "segment_id": forms.text(form, "segment_id"),
        "channel": forms.text(form, "channel"),
        "template_code": forms.text(form, "template_code"),
        "data": forms.json_field(form, "data", {}),
        "throttle_per_minute": forms.number(form, "throttle_per_minute"),
        "attribution_days": forms.number(form, "attribution_days"),
        "variants": _variants(form)}


@router.post("/campaigns")
async def campaign_create(page: AdminPage) -> Response:
    await page.require("campaigns.manage")
    form = await page.form()
    body = CampaignIn.model_validate(forms.given(
        {**_fields(form), "send_at": forms.moment(form, "send_at")}))
    out = await campaigns.create_campaign(page.session, body, page.subject.id)
    await audit.record(page.session, page.subject, "campaigns.campaign.create", "campaign",
                       str(out.id), after=out.model_dump(mode="json"))
    return page.redirect(f"/console/campaigns/{out.id}", flash="The campaign was drafted.")


@router.get("/campaigns/{campaign_id}")
async def campaign_detail(campaign_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("campaigns.read")
    campaign = await campaigns.get_campaign(page.session, campaign_id)
    segment = SegmentOut.model_validate(
        await campaigns.get_segment(page.session, campaign.segment_id))
    return await page.render(
        "growth/campaign.html", title=campaign.name, campaign=campaign, segment=segment,
        results=await campaigns.results(page.session, campaign_id),
        approval_required=page.settings.campaign_approval_required, pretty=forms.pretty)


@router.get("/campaigns/{campaign_id}/edit")
async def campaign_edit(campaign_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("campaigns.manage")
    c = await campaigns.get_campaign(page.session, campaign_id)
    return await _form(page, f"Edit {c.name}", f"/console/campaigns/{c.id}", {
        "name": c.name, "segment_id": str(c.segment_id), "channel": c.channel.value,
        "template_code": c.template_code, "data": forms.pretty(c.data),
        "send_at": forms.input_time(c.send_at), "throttle_per_minute": c.throttle_per_minute,
        "attribution_days": c.attribution_days,
        "variants": "\n".join(f"{v.code} {v.percent} {v.template_code or ''}".strip()
                              for v in c.variants)})


async def _audited(page: Page, action: str, campaign_id: uuid.UUID,
                   changed: tuple[CampaignOut, CampaignOut], flash: str) -> Response:
    before, after = changed
    await audit.record(page.session, page.subject, f"campaigns.campaign.{action}", "campaign",
                       str(campaign_id), before=before.model_dump(mode="json"),
                       after=after.model_dump(mode="json"))
    return page.redirect(f"/console/campaigns/{campaign_id}", flash=flash)


@router.post("/campaigns/{campaign_id}")
async def campaign_update(campaign_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("campaigns.manage")
    form = await page.form()
    # An emptied send time is cleared; other empty fields stay as they were.
    body = CampaignPatch.model_validate({**forms.given(_fields(form)),
                                         "send_at": forms.moment(form, "send_at")})
    changed = await campaigns.update_campaign(page.session, campaign_id, body, page.subject.id)
    return await _audited(page, "update", campaign_id, changed,
                          "The draft was changed; any approval was withdrawn.")


@router.post("/campaigns/{campaign_id}/approve")
async def campaign_approve(campaign_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("campaigns.approve")
    changed = await campaigns.approve(page.session, campaign_id, page.subject.id)
    return await _audited(page, "approve", campaign_id, changed, "The campaign was approved.")


@router.post("/campaigns/{campaign_id}/schedule")
async def campaign_schedule(campaign_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("campaigns.manage")
    form = await page.form()
    body = ScheduleIn.model_validate(forms.given({"send_at": forms.moment(form, "send_at")}))
    changed = await campaigns.move(page.session, page.settings, campaign_id, "schedule", body)
    return await _audited(page, "schedule", campaign_id, changed, "The campaign was scheduled.")


@router.post("/campaigns/{campaign_id}/pause")
async def campaign_pause(campaign_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("campaigns.manage")
    changed = await campaigns.move(page.session, page.settings, campaign_id, "pause")
    return await _audited(page, "pause", campaign_id, changed, "The campaign was paused.")


@router.post("/campaigns/{campaign_id}/resume")
async def campaign_resume(campaign_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("campaigns.manage")
    changed = await campaigns.resume(page.session, campaign_id)
    return await _audited(page, "resume", campaign_id, changed, "The campaign was resumed.")


@router.post("/campaigns/{campaign_id}/cancel")
async def campaign_cancel(campaign_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("campaigns.manage")
    changed = await campaigns.move(page.session, page.settings, campaign_id, "cancel")
    return await _audited(page, "cancel", campaign_id, changed, "The campaign was cancelled.")
