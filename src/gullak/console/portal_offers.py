"""The merchant portal's offers: the merchant's own offers (create, edit a draft, submit for
approval, pause and resume, as /v1/merchant/offers) and the redemptions of its offers."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.catalog import service as catalog
from gullak.console.forms import amount, input_time, joined, posted, ticked, when
from gullak.console.portal_forms import WEEKDAYS, merchant_id, newest_first, windows
from gullak.console.tables import Column, Filter, choice, param, table, uuid_param
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.console.web import ConsoleRoute, MerchantPage
from gullak.kit import clock
from gullak.kit.errors import NotFound
from gullak.merchants import service as merchants
from gullak.offers import service as offers
from gullak.offers.schemas import (
    OfferIn,
    OfferOut,
    OfferPatch,
    OfferType,
    RedemptionOut,
    RedemptionStatus,
    Segment,
    Status,
    ValueKind,
)

router = APIRouter(route_class=ConsoleRoute)
MANAGE = "merchant.offers.manage"
TEXT = ("type", "title", "description", "terms", "image_url", "banner_url", "category_id",
        "coupon_code", "discount_kind", "discount_value", "max_discount", "cashback_kind",
        "cashback_value", "max_cashback", "bogo_buy", "bogo_get", "freebie_item",
        "min_order_value", "coins_required", "coins_earned", "branded_coins_earned",
        "valid_from", "valid_until", "total_limit", "per_user_limit", "audience_tags", "tags",
        "cities", "min_level")
INTS = ("discount_value", "max_discount", "cashback_value", "max_cashback", "bogo_buy",
        "bogo_get", "min_order_value", "coins_required", "coins_earned",
        "branded_coins_earned", "total_limit", "per_user_limit", "min_level")
# Left out when blank, so the schema's default (or, editing, the offer's value) stays.
KEEP = ("type", "title", "min_order_value", "coins_required", "coins_earned",
        "branded_coins_earned", "valid_from", "valid_until", "min_level")
MOVES = {"submit": "Submitted for approval.", "pause": "Paused.", "resume": "Resumed."}
STATUSES = tuple(s.value for s in Status)


def terms(form: Mapping[str, str], outlet_ids: list[str]) -> dict[str, Any]:
    """The offer form's fields as OfferIn / OfferPatch take them."""
    values = posted(form, TEXT, ints=INTS, lists=("audience_tags", "tags", "cities"),
                    moments=("valid_from", "valid_until"), keep=KEEP)
    hours = form.get("hours", "").strip()
    segments = ticked(form, "segment_", [s.value for s in Segment])
    values.update(
        weekdays=ticked(form, "weekday_", WEEKDAYS) or None,
        hours=windows(hours) if hours else None,
        outlet_ids=ticked(form, "outlet_", outlet_ids),
        **({"segments": segments} if segments else {}))
    return values


def _value(kind: ValueKind | None, value: int | None, unit: str, what: str) -> str | None:
    """A discount (fixed: paise) or cashback (fixed: coins) as a person reads it, basis
    points as a percentage."""
    if kind is None or value is None:
        return None
    shown = f"{value / 100:g} %" if kind == ValueKind.percent else amount(value, unit)
    return f"{shown} {what}"


def _form_values(offer: OfferOut | None) -> dict[str, Any]:
    """What the form shows: the offer's terms, or a new offer's (from now, for 30 days)."""
    if offer is None:
        now = clock.now()
        return {"valid_from": input_time(now),
                "valid_until": input_time(now + dt.timedelta(days=30)),
                "per_user_limit": 1, "min_order_value": 0, "coins_required": 0,
                "coins_earned": 0, "branded_coins_earned": 0, "min_level": 0,
                "segments": ["all"], "weekdays": [], "outlet_ids": [], "hours": ""}
    values = offer.model_dump(mode="json")
    for name in ("audience_tags", "tags", "cities"):
        values[name] = joined(values[name])
    values["valid_from"], values["valid_until"] = (input_time(offer.valid_from),
                                                   input_time(offer.valid_until))
    values["hours"] = ", ".join(f"{w.start}-{w.end}" for w in offer.hours or [])
    values["weekdays"] = values["weekdays"] or []
    values["outlet_ids"] = [str(o) for o in offer.outlet_ids]
    return values


async def _form(page: MerchantPage, offer: OfferOut | None) -> Response:
    outlets = await merchants.list_outlets(page.session, merchant_id(page))
    categories = await catalog.category_tree(page.session, type="offer")
    return await page.render(
        "portal/offer_form.html", title="Edit offer" if offer else "New offer", offer=offer,
        values=_form_values(offer), outlets=outlets, categories=categories,
        type_choices=[(t.value, t.value.replace("_", " ")) for t in OfferType],
        kind_choices=[(k.value, k.value) for k in ValueKind],
        segments=[s.value for s in Segment], weekdays=WEEKDAYS)


async def _outlet_ids(page: MerchantPage) -> list[str]:
    return [str(o.id) for o in await merchants.list_outlets(page.session, merchant_id(page))]


@router.get("/offers")
async def offer_list(page: MerchantPage) -> Response:
    await page.require("merchant.read")
    mine = merchant_id(page)
    status = choice(page, "status", STATUSES)

    async def fetch(browse: Browse) -> Rows:
        return await offers.browse_offers(page.session, browse, merchant_id=mine, status=status)

    return await table(page, title="Offers", fetch=fetch, columns=[
        Column("Title", lambda o: o.title, link=lambda o: f"/merchant/offers/{o.id}"),
        Column("Type", lambda o: o.type.value), Column("Status", lambda o: o.status.value),
        Column("From", lambda o: when(o.valid_from)),
        Column("Until", lambda o: when(o.valid_until)),
        Column("Redemptions", lambda o: o.redemptions_count, numeric=True),
    ], filters=[Filter("status", "Status", tuple((s, s) for s in STATUSES))],
        template="portal/offers.html")


@router.get("/offers/new")
async def new_offer(page: MerchantPage) -> Response:
    await page.require(MANAGE)
    return await _form(page, None)


@router.post("/offers")
async def create_offer(page: MerchantPage) -> Response:
    await page.require(MANAGE)
    data = OfferIn.model_validate(terms(await page.form(), await _outlet_ids(page)))
    out = await offers.create_offer(page.session, merchant_id(page), data, page.subject)
    return page.redirect(f"/merchant/offers/{out.id}", flash="Offer created as a draft.")


@router.get("/offers/{offer_id}")
async def offer(offer_id: uuid.UUID, page: MerchantPage) -> Response:
    await page.require("merchant.read")
    mine = merchant_id(page)
    found = await offers.get_offer(page.session, offer_id, mine)
    names = {o.id: o.name for o in await merchants.list_outlets(page.session, mine)}
    return await page.render(
        "portal/offer.html", title=found.title, offer=found,
        stats=await offers.stats(page.session, offer_id, mine),
        discount=_value(found.discount_kind, found.discount_value, "INR", "off"),
        cashback=_value(found.cashback_kind, found.cashback_value, "coins", "back"),
        hours=", ".join(f"{w.start}-{w.end}" for w in found.hours or []),
        outlets=", ".join(names.get(o, str(o)) for o in found.outlet_ids))


@router.get("/offers/{offer_id}/edit")
async def edit_offer(offer_id: uuid.UUID, page: MerchantPage) -> Response:
    await page.require(MANAGE)
    return await _form(page, await offers.get_offer(page.session, offer_id, merchant_id(page)))


@router.post("/offers/{offer_id}/edit")
async def update_offer(offer_id: uuid.UUID, page: MerchantPage) -> Response:
    await page.require(MANAGE)
    data = OfferPatch.model_validate(terms(await page.form(), await _outlet_ids(page)))
    await offers.update_offer(page.session, offer_id, data, page.subject,
                              merchant_id=merchant_id(page))
    return page.redirect(f"/merchant/offers/{offer_id}", flash="Offer saved.")


@router.post("/offers/{offer_id}/{action}")
async def move_offer(offer_id: uuid.UUID, action: str, page: MerchantPage) -> Response:
    """Submit for approval, pause or resume (the merchant API's three moves)."""
    await page.require(MANAGE)
    if action not in MOVES:
        raise NotFound("No such action.")
    await offers.transition(page.session, offer_id, action, page.subject,
                            merchant_id=merchant_id(page))
    return page.redirect(f"/merchant/offers/{offer_id}", flash=MOVES[action])


# -- redemptions ------------------------------------------------------------------------------

@router.get("/redemptions")
async def redemptions(page: MerchantPage) -> Response:
    await page.require("merchant.read")
    mine = merchant_id(page)
    status = choice(page, "status", [s.value for s in RedemptionStatus])
    offer_id, code = uuid_param(page, "offer_id"), param(page, "code", max_length=20)
    titles: dict[uuid.UUID, str] = {}

    async def listing(cursor: str | None, limit: int) -> tuple[list[RedemptionOut], str | None]:
        found = await offers.list_redemptions(page.session, merchant_id=mine, offer_id=offer_id,
                                              status=status, code=code, cursor=cursor,
                                              limit=limit)
        for row in found.items:
            if row.offer_id not in titles:
                titles[row.offer_id] = (await offers.get_offer(page.session, row.offer_id,
                                                               mine)).title
        return found.items, found.next_cursor

    return await table(page, title="Redemptions", fetch=newest_first(listing), columns=[
        Column("Code", lambda r: r.code),
        Column("Offer", lambda r: titles[r.offer_id],
               link=lambda r: f"/merchant/offers/{r.offer_id}"),
        Column("Status", lambda r: r.status.value), Column("Order", lambda r: r.order_ref),
        Column("Amount", lambda r: amount(r.original_amount, "INR"), numeric=True),
        Column("Discount", lambda r: amount(r.discount_amount, "INR"), numeric=True),
        Column("Paid", lambda r: amount(r.final_amount, "INR"), numeric=True),
        Column("Coins used", lambda r: r.coins_used, numeric=True),
        Column("At", lambda r: when(r.created_at)),
    ], filters=[
        Filter("status", "Status", tuple((s.value, s.value) for s in RedemptionStatus)),
        Filter("code", "Code", placeholder="ABC123"),
    ])

