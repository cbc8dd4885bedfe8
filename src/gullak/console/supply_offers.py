"""Offers in the console: every merchant's offers, one offer's terms, figures and latest
redemptions, and the admin actions of the offers API (create and edit for a merchant, pause,
resume, end, placement) with its permissions. Approval has its own queue page."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.catalog import service as catalog
from gullak.console import forms
from gullak.console.supply_forms import with_merchants
from gullak.console.tables import Column, Filter, choice, param, table, uuid_param
from gullak.console.web import AdminPage, ConsoleRoute, Page
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import NotFound
from gullak.merchants import service as merchants
from gullak.offers import service as offers
from gullak.offers.schemas import (
    AdminOfferIn,
    AdminOfferPatch,
    OfferOut,
    OfferType,
    Segment,
    Status,
    ValueKind,
    Weekday,
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

STATUSES = tuple(s.value for s in Status)
TYPES = tuple(t.value for t in OfferType)
KINDS = tuple(k.value for k in ValueKind)
SEGMENTS = tuple(s.value for s in Segment)
WEEKDAYS = tuple(d.value for d in Weekday)
TEXT = ("title", "description", "terms", "image_url", "banner_url", "coupon_code",
        "freebie_item", "type", "discount_kind", "cashback_kind")
NUMBERS = ("discount_value", "max_discount", "cashback_value", "max_cashback", "bogo_buy",
           "bogo_get", "min_order_value", "coins_required", "coins_earned",
           "branded_coins_earned", "total_limit", "per_user_limit", "min_level")
LISTS = ("audience_tags", "tags", "cities")
ZEROS = ("min_order_value", "coins_required", "coins_earned", "branded_coins_earned", "min_level")
# The moves an admin makes here (the statuses each starts from: offers.TRANSITIONS).
MOVES = {"pause": "Pause", "resume": "Resume", "expire": "End now"}


def url(offer_id: uuid.UUID) -> str:
    return f"/console/offers/{offer_id}"


@router.get("/offers")
async def offer_list(page: AdminPage) -> Response:
    await page.require("offers.read")
    status, kind = choice(page, "status", STATUSES), choice(page, "type", TYPES)
    merchant_id, q = uuid_param(page, "merchant"), param(page, "q")

    async def fetch(browse: Browse) -> Rows:
        return await with_merchants(page.session, await offers.browse_offers(
            page.session, browse, status=status, merchant_id=merchant_id, type=kind, q=q))

    merchant = await merchants.get_merchant(page.session, merchant_id) if merchant_id else None
    return await table(
        page, title="Offers", fetch=fetch, default_sort="-created_at",
        template="supply/offers.html", merchant=merchant,
        columns=[Column("Offer", lambda r: r.item.title, link=lambda r: url(r.item.id),
                        sort="title"),
                 Column("Merchant", lambda r: r.merchant,
                        link=lambda r: f"/console/merchants/{r.item.merchant_id}"),
                 Column("Type", lambda r: r.item.type.value),
                 Column("Benefit", lambda r: offers.headline(r.item)),
                 Column("Status", lambda r: r.item.status.value),
                 Column("Redeemed", lambda r: r.item.redemptions_count, numeric=True,
                        sort="redemptions_count"),
                 Column("Valid until", lambda r: r.item.valid_until, sort="valid_until"),
                 Column("Created", lambda r: r.item.created_at, sort="created_at")],
        filters=[Filter("q", "Title"), Filter("merchant", "Merchant id"),
                 Filter("status", "Status", tuple((s, s) for s in STATUSES)),
                 Filter("type", "Type", tuple((t, t.replace("_", " ")) for t in TYPES))])


@router.get("/offers/new")
async def new_offer(page: AdminPage) -> Response:
    await page.require("offers.manage")
    return await _form(page, None, uuid_param(page, "merchant"))


@router.get("/offers/{offer_id}")
async def offer(offer_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("offers.read")
    out = await offers.get_offer(page.session, offer_id)
    redemptions = await offers.list_redemptions(page.session, offer_id=offer_id, limit=20)
    return await page.render(
        "supply/offer.html", title=out.title, offer=out, headline=offers.headline(out),
        merchant=await merchants.get_merchant(page.session, out.merchant_id),
        stats=await offers.stats(page.session, offer_id), redemptions=redemptions.items,
        hours=", ".join(f"{w.start}-{w.end}" for w in out.hours or ()),
        moves=[(action, label) for action, label in MOVES.items()
               if out.status.value in offers.TRANSITIONS[action][0]],
        promotion={"is_featured": "1" if out.is_featured else "",
                   "boosted_until": forms.input_time(out.boosted_until),
                   "display_priority": str(out.display_priority)})


@router.post("/offers/{offer_id}/promotion")
async def promote(offer_id: uuid.UUID, page: AdminPage) -> Response:
    """Featured, boosted, display priority: the admin patch's placement fields."""
    await page.require("offers.manage")
    form = await page.form()
    body = AdminOfferPatch.model_validate({
        "is_featured": forms.checked(form, "is_featured"),
        "boosted_until": forms.moment(form, "boosted_until"),
        "display_priority": forms.number(form, "display_priority") or 0})
    await offers.update_offer(page.session, offer_id, body, page.subject)
    return page.redirect(url(offer_id), flash="The placement was saved.")


@router.post("/offers/{offer_id}/{action}")
async def move(offer_id: uuid.UUID, action: str, page: AdminPage) -> Response:
    """Pause, resume or end an offer (offers.manage, as the admin pause and resume routes)."""
    await page.require("offers.manage")
    if action not in MOVES:
        raise NotFound("No such action.")
    out = await offers.transition(page.session, offer_id, action, page.subject,
                                  reason="ended by an admin" if action == "expire" else None)
    return page.redirect(url(offer_id), flash=f"The offer is {out.status.value}.")


# -- terms: create for a merchant, edit ------------------------------------------------------

def _terms(form: forms.Form) -> dict[str, Any]:
    values: dict[str, Any] = {name: forms.text(form, name) for name in TEXT}
    values.update({name: forms.number(form, name) for name in NUMBERS})
    for name in ZEROS:  # an empty amount is none of it
        values[name] = 0 if values[name] is None else values[name]
    values.update({name: forms.comma_list(form, name) for name in LISTS})
    values.update(
        category_id=forms.object_id(form, "category_id"),
        valid_from=forms.moment(form, "valid_from"),
        valid_until=forms.moment(form, "valid_until"),
        weekdays=forms.ticked(form, "day_", WEEKDAYS) or None,
        segments=forms.ticked(form, "segment_", SEGMENTS) or ["all"],
        outlet_ids=[key.removeprefix("outlet_") for key in form if key.startswith("outlet_")])
    return values


def _values(out: OfferOut | None) -> dict[str, str]:
    if out is None:
        return {"type": "discount_percent", "per_user_limit": "1", "segment_all": "1",
                **{name: "0" for name in ("min_order_value", "coins_required", "coins_earned",
                                          "branded_coins_earned", "min_level")}}
    data = out.model_dump(mode="json")
    values = {k: "" if data[k] is None else str(data[k]) for k in (*TEXT, *NUMBERS)}
    values.update({k: forms.joined(data[k]) for k in LISTS})
    values.update(category_id=str(out.category_id or ""),
                  valid_from=forms.input_time(out.valid_from),
                  valid_until=forms.input_time(out.valid_until))
    values.update({f"day_{d}": "1" for d in data["weekdays"] or ()})
    values.update({f"segment_{s}": "1" for s in data["segments"]})
    values.update({f"outlet_{o}": "1" for o in data["outlet_ids"]})
    return values


async def _form(page: Page, out: OfferOut | None, merchant_id: uuid.UUID | None) -> Response:
    merchant = await merchants.get_merchant(page.session, merchant_id) if merchant_id else None
    tree = await catalog.category_tree(page.session, include_inactive=True, type="offer")
    return await page.render(
        "supply/offer_form.html", title=f"Edit {out.title}" if out else "New offer",
        offer=out, merchant=merchant, values=_values(out), types=TYPES, kinds=KINDS,
        segments=SEGMENTS, weekdays=WEEKDAYS,
        categories=[(str(c.id), c.name) for c in _flat(tree)],
        outlets=await merchants.list_outlets(page.session, merchant_id) if merchant_id else [],
        action=url(out.id) if out else "/console/offers")


def _flat(nodes: list[Any]) -> list[Any]:
    return [n for node in nodes for n in (node, *_flat(node.children))]


@router.post("/offers")
async def create_offer(page: AdminPage) -> Response:
    await page.require("offers.manage")
    form = await page.form()
    body = AdminOfferIn.model_validate(forms.given(
        _terms(form), merchant_id=forms.object_id(form, "merchant_id")))
    out = await offers.create_offer(page.session, body.merchant_id, body, page.subject)
    return page.redirect(url(out.id), flash="The draft offer was created.")


@router.get("/offers/{offer_id}/edit")
async def edit_offer(offer_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("offers.manage")
    out = await offers.get_offer(page.session, offer_id)
    return await _form(page, out, out.merchant_id)


@router.post("/offers/{offer_id}")
async def update_offer(offer_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("offers.manage")
    body = AdminOfferPatch.model_validate(_terms(await page.form()))
    await offers.update_offer(page.session, offer_id, body, page.subject)
    return page.redirect(url(offer_id), flash="The offer was saved.")
