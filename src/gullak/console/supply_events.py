"""Catalog events and flash sales in the console (events.manage, as the admin events API):
the list, a draft written and edited, scheduled, or cancelled with a reason."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.catalog import service as catalog
from gullak.catalog.schemas import CancelIn, EventIn, EventOut, EventPatch
from gullak.console import forms
from gullak.console.supply_catalog import TABS
from gullak.console.tables import choice, param
from gullak.console.web import AdminPage, ConsoleRoute, Page
from gullak.merchants import service as merchants

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

STATUSES = ("draft", "scheduled", "live", "ended", "cancelled")
SEGMENTS = ("all", "new_users", "students", "vip", "prive")
EDITABLE = ("draft", "scheduled")
HERE = "/console/catalog/events"


def url(event_id: uuid.UUID) -> str:
    return f"{HERE}/{event_id}"


@router.get("/catalog/events")
async def events(page: AdminPage) -> Response:
    await page.require("events.manage")
    status = choice(page, "status", STATUSES)
    city = param(page, "city", max_length=80)
    rows = await catalog.list_events(page.session, city=city, limit=200,
                                     statuses=(status,) if status else STATUSES)
    return await page.render("supply/events.html", title="Events", tabs=TABS, current=HERE,
                             events=rows, statuses=STATUSES,
                             values={"status": status or "", "city": city or ""})


def _fields(form: forms.Form, *, new: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": forms.text(form, "title"), "description": forms.text(form, "description"),
        "banner_url": forms.text(form, "banner_url"),
        "starts_at": forms.moment(form, "starts_at"), "ends_at": forms.moment(form, "ends_at"),
        "cities": forms.comma_list(form, "cities"),
        "segments": forms.ticked(form, "segment_", SEGMENTS) or ["all"],
        "featured_merchant_ids": forms.comma_list(form, "featured_merchant_ids"),
        "discount_percent": forms.number(form, "discount_percent")}
    if new:
        values.update(slug=forms.text(form, "slug"), kind=forms.text(form, "kind"))
    return values


def _values(event: EventOut | None) -> dict[str, str]:
    if event is None:
        return {"kind": "event", "segment_all": "1"}
    return {"title": event.title, "slug": event.slug, "kind": event.kind,
            "description": event.description or "", "banner_url": event.banner_url or "",
            "starts_at": forms.input_time(event.starts_at),
            "ends_at": forms.input_time(event.ends_at),
            "cities": forms.joined(event.cities),
            "featured_merchant_ids": forms.joined(event.featured_merchant_ids),
            "discount_percent": "" if event.discount_percent is None
            else str(event.discount_percent),
            **{f"segment_{s}": "1" for s in event.segments}}


async def _page(page: Page, event: EventOut | None) -> Response:
    names = await merchants.merchant_names(page.session, event.featured_merchant_ids) \
        if event else {}
    return await page.render(
        "supply/event.html", title=event.title if event else "New event", tabs=TABS,
        current=HERE, event=event, values=_values(event), segments=SEGMENTS,
        editable=event is None or event.status in EDITABLE, merchants=names,
        action=url(event.id) if event else HERE)


@router.get("/catalog/events/new")
async def new_event(page: AdminPage) -> Response:
    await page.require("events.manage")
    return await _page(page, None)


@router.post("/catalog/events")
async def create_event(page: AdminPage) -> Response:
    await page.require("events.manage")
    body = EventIn.model_validate(forms.given(_fields(await page.form(), new=True)))
    out = await catalog.create_event(page.session, body, page.subject)
    return page.redirect(url(out.id), flash="The draft event was created.")


@router.get("/catalog/events/{event_id}")
async def event(event_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("events.manage")
    return await _page(page, await catalog.get_event(page.session, event_id))


@router.post("/catalog/events/{event_id}")
async def update_event(event_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("events.manage")
    body = EventPatch.model_validate(_fields(await page.form(), new=False))
    await catalog.update_event(page.session, event_id, body, page.subject)
    return page.redirect(url(event_id), flash="The event was saved.")


@router.post("/catalog/events/{event_id}/schedule")
async def schedule_event(event_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("events.manage")
    out = await catalog.schedule_event(page.session, event_id, page.subject)
    return page.redirect(url(event_id), flash=f"The event is {out.status}.")


@router.post("/catalog/events/{event_id}/cancel")
async def cancel_event(event_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("events.manage")
    body = CancelIn.model_validate(forms.given(reason=forms.text(await page.form(), "reason")))
    await catalog.cancel_event(page.session, event_id, body.reason, page.subject)
    return page.redirect(url(event_id), flash="The event was cancelled.")
