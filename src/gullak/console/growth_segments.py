"""Segments: the list, one segment's definition and how many users it holds now, trying
filters out before saving them, saving and editing (campaigns.read to look, campaigns.manage
to change, as in the campaigns API)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.campaigns import service as campaigns
from gullak.campaigns.schemas import PreviewIn, SegmentIn, SegmentOut, SegmentPatch
from gullak.console import forms
from gullak.console.tables import Column, Filter, param, table
from gullak.console.web import AdminPage, ConsoleRoute
from gullak.kit import audit
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import InvalidInput

router = APIRouter(route_class=ConsoleRoute)
MAX_FILTERS_TEXT = 10_000
# What each kind of filter looks like, shown beside the definition's text area.
EXAMPLE = [
    {"type": "city", "city": "Bengaluru"},
    {"type": "tier", "tiers": ["gold", "silver"]},
    {"type": "last_active", "within_days": 30},
    {"type": "inactive", "days": 60},
    {"type": "balance", "asset_code": "REZ", "min": 100, "max": 5000},
    {"type": "orders", "min_count": 2, "within_days": 90},
    {"type": "app_version", "min": "3.2", "max": "4.0"},
    {"type": "platform", "platforms": ["android", "ios"]},
]

EXAMPLE_TEXT = "\n".join(json.dumps(f) for f in EXAMPLE)


def describe(f: dict[str, Any]) -> str:
    """One filter in words, for people who do not read JSON."""
    kind = f.get("type")
    if kind == "city":
        return f"lives in {f.get('city')}"
    if kind == "tier":
        return f"tier is {' or '.join(f.get('tiers', []))}"
    if kind == "last_active":
        return f"active in the last {f.get('within_days')} days"
    if kind == "inactive":
        return f"inactive for {f.get('days')} days"
    if kind == "balance":
        return (f"{f.get('asset_code')} balance from {f.get('min', 'any')} "
                f"to {f.get('max', 'any')}")
    if kind == "orders":
        return f"at least {f.get('min_count')} orders in the last {f.get('within_days')} days"
    if kind == "app_version":
        return f"app version from {f.get('min', 'any')} to {f.get('max', 'any')}"
    if kind == "platform":
        return f"uses {' or '.join(f.get('platforms', []))}"
    return str(kind)


def _link(row: SegmentOut) -> str:
    return f"/console/segments/{row.id}"


COLUMNS = (
    Column("Name", lambda r: r.name, link=_link, sort="name"),
    Column("Who", lambda r: "; ".join(describe(f) for f in r.filters) or "every user"),
    Column("Description", lambda r: r.description),
    Column("Created", lambda r: r.created_at, sort="created"),
    Column("Updated", lambda r: r.updated_at),
)


@router.get("/segments")
async def segment_list(page: AdminPage) -> Response:
    await page.require("campaigns.read")
    q = param(page, "q")

    async def fetch(browse: Browse) -> Rows:
        return await campaigns.browse_segments(page.session, browse, q=q)

    return await table(page, title="Segments", columns=COLUMNS, fetch=fetch,
                       default_sort="-created", template="growth/segments.html",
                       filters=[Filter("q", "Name", placeholder="part of the name")])


def _filters(text: str | None) -> Any:
    """The filters' JSON text as a list (not yet checked: the schema does that)."""
    if text is not None and len(text) > MAX_FILTERS_TEXT:
        raise InvalidInput("The filters are too long.", field="filters")
    return forms.json_field({"filters": text or ""}, "filters", [])


@router.get("/segments/new")
async def segment_new(page: AdminPage) -> Response:
    """Try filters (how many users they hold now) and, for a manager, save them."""
    await page.require("campaigns.read")
    text = param(page, "filters", max_length=MAX_FILTERS_TEXT)
    size = None
    if text is not None:
        size = await campaigns.count(
            page.session, PreviewIn.model_validate({"filters": _filters(text)}).filters)
    return await page.render("growth/segment_form.html", title="New segment",
                             action="/console/segments", segment=None, size=size,
                             values={"name": "", "description": "", "filters": text or "[]"},
                             example=EXAMPLE_TEXT)


@router.post("/segments")
async def segment_create(page: AdminPage) -> Response:
    await page.require("campaigns.manage")
    form = await page.form()
    body = SegmentIn.model_validate(forms.given({
        "name": forms.text(form, "name"), "description": forms.text(form, "description"),
        "filters": _filters(form.get("filters"))}))
    out = await campaigns.create_segment(page.session, body, page.subject.id)
    await audit.record(page.session, page.subject, "campaigns.segment.create", "segment",
                       str(out.id), after=out.model_dump(mode="json"))
    return page.redirect(f"/console/segments/{out.id}", flash="The segment was saved.")


async def _segment(page: AdminPage, segment_id: uuid.UUID) -> SegmentOut:
    return SegmentOut.model_validate(await campaigns.get_segment(page.session, segment_id))


@router.get("/segments/{segment_id}")
async def segment_detail(segment_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("campaigns.read")
    segment = await _segment(page, segment_id)
    return await page.render(
        "growth/segment.html", title=segment.name, segment=segment,
        size=await campaigns.segment_count(page.session, segment_id),
        described=[describe(f) for f in segment.filters], pretty=forms.pretty)


@router.get("/segments/{segment_id}/edit")
async def segment_edit(segment_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("campaigns.manage")
    segment = await _segment(page, segment_id)
    return await page.render(
        "growth/segment_form.html", title=f"Edit {segment.name}", segment=segment, size=None,
        action=f"/console/segments/{segment.id}", example=EXAMPLE_TEXT,
        values={"name": segment.name, "description": segment.description or "",
                "filters": forms.pretty(segment.filters)})


@router.post("/segments/{segment_id}")
async def segment_update(segment_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("campaigns.manage")
    form = await page.form()
    filters = _filters(form.get("filters"))
    current = await _segment(page, segment_id)
    # Filters sent back unchanged are left out: a segment a campaign is sending to may still
    # be renamed.
    body = SegmentPatch.model_validate({
        "name": forms.text(form, "name"), "description": forms.text(form, "description"),
        **({} if filters == current.filters else {"filters": filters})})
    before, after = await campaigns.update_segment(page.session, segment_id, body)
    await audit.record(page.session, page.subject, "campaigns.segment.update", "segment",
                       str(segment_id), before=before.model_dump(mode="json"),
                       after=after.model_dump(mode="json"))
    return page.redirect(f"/console/segments/{segment_id}", flash="The segment was changed.")
