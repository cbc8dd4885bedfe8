"""Merchants in the console: the list, a merchant's profile and status, and its outlets,
users, documents, bank accounts, commissions and reviews, each written through the merchants
service with the permission its admin API route asks for."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.console import forms
from gullak.console.supply_forms import category_choices
from gullak.console.tables import Column, Filter, choice, param, table
from gullak.console.web import AdminPage, ConsoleRoute, Page
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.merchants import service as merchants
from gullak.merchants.schemas import (
    Frequency,
    MerchantIn,
    MerchantOut,
    MerchantPatch,
    Status,
    StatusIn,
    Tier,
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

STATUSES = tuple(s.value for s in Status)
TABS = (("", "Profile"), ("/outlets", "Outlets"), ("/users", "Users"),
        ("/documents", "Documents"), ("/bank-accounts", "Bank accounts"),
        ("/commissions", "Commissions"), ("/reviews", "Reviews"))
TEXT_FIELDS = ("name", "legal_name", "description", "logo_url", "website", "email", "phone",
               "city", "gstin", "pan", "fssai", "affiliate_network", "affiliate_id",
               "tracking_url_template")
NUMBER_FIELDS = ("commission_bps", "default_cashback_bps", "default_cashback_amount")
CHOICES = {"package_tier": tuple(t.value for t in Tier),
           "settlement_frequency": tuple(v.value for v in Frequency)}


def base(merchant_id: uuid.UUID) -> str:
    return f"/console/merchants/{merchant_id}"


async def tab(page: Page, merchant: MerchantOut, template: str, current: str,
              **context: Any) -> Response:
    """A page of one merchant: its header and tabs, then the tab's own content."""
    return await page.render(template, title=merchant.name, merchant=merchant, tabs=TABS,
                             current=current, base=base(merchant.id), **context)


# -- the list ---------------------------------------------------------------------------------

@router.get("/merchants")
async def merchant_list(page: AdminPage) -> Response:
    await page.require("merchants.read")
    status = choice(page, "status", STATUSES)
    city, q = param(page, "city", max_length=100), param(page, "q")

    async def fetch(browse: Browse) -> Rows:
        return await merchants.browse_merchants(page.session, browse, status=status, city=city,
                                                q=q)

    return await table(
        page, title="Merchants", fetch=fetch, default_sort="-created_at",
        template="supply/merchants.html",
        columns=[Column("Name", lambda m: m.name, link=lambda m: base(m.id), sort="name"),
                 Column("City", lambda m: m.city),
                 Column("Status", lambda m: m.status, sort="status"),
                 Column("Tier", lambda m: m.package_tier),
                 Column("Commission (bps)", lambda m: m.commission_bps, numeric=True),
                 Column("Rating", lambda m: f"{m.rating_avg:.2f} ({m.rating_count})",
                        numeric=True),
                 Column("Created", lambda m: m.created_at, sort="created_at")],
        filters=[Filter("q", "Name", placeholder="part of the name"),
                 Filter("city", "City"),
                 Filter("status", "Status", tuple((s, s.replace("_", " ")) for s in STATUSES))])


# -- create and edit --------------------------------------------------------------------------

def _fields(form: forms.Form) -> dict[str, Any]:
    values: dict[str, Any] = {name: forms.text(form, name) for name in TEXT_FIELDS}
    values.update({name: forms.number(form, name) for name in NUMBER_FIELDS})
    values.update({name: forms.text(form, name) for name in CHOICES})
    values["category_id"] = forms.object_id(form, "category_id")
    values["tags"] = forms.comma_list(form, "tags")
    return values


def _values(merchant: MerchantOut | None) -> dict[str, str]:
    if merchant is None:
        return {"package_tier": "basic", "settlement_frequency": "weekly", "commission_bps": "0"}
    data = merchant.model_dump()
    values = {k: "" if data[k] is None else str(data[k])
              for k in (*TEXT_FIELDS, *NUMBER_FIELDS, *CHOICES, "category_id")}
    values["tags"] = forms.joined(merchant.tags)
    return values


async def _form(page: Page, merchant: MerchantOut | None) -> Response:
    return await page.render(
        "supply/merchant_form.html", title=f"Edit {merchant.name}" if merchant else "New merchant",
        merchant=merchant, values=_values(merchant), choices=CHOICES,
        categories=await category_choices(page.session),
        action=base(merchant.id) if merchant else "/console/merchants")


@router.get("/merchants/new")
async def new_merchant(page: AdminPage) -> Response:
    await page.require("merchants.manage")
    return await _form(page, None)


@router.post("/merchants")
async def create_merchant(page: AdminPage) -> Response:
    await page.require("merchants.manage")
    body = MerchantIn.model_validate(forms.given(_fields(await page.form())))
    merchant = await merchants.create_merchant(page.session, body, page.subject)
    return page.redirect(base(merchant.id), flash=f"{merchant.name} was created.")


@router.get("/merchants/{merchant_id}/edit")
async def edit_merchant(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.manage")
    return await _form(page, await merchants.get_merchant(page.session, merchant_id))


@router.post("/merchants/{merchant_id}")
async def update_merchant(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.manage")
    body = MerchantPatch.model_validate(_fields(await page.form()))
    await merchants.update_merchant(page.session, merchant_id, body, page.subject)
    return page.redirect(base(merchant_id), flash="The merchant was saved.")


# -- profile and status -----------------------------------------------------------------------

@router.get("/merchants/{merchant_id}")
async def merchant_profile(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.read")
    merchant = await merchants.get_merchant(page.session, merchant_id)
    names = dict(await category_choices(page.session))
    return await tab(page, merchant, "supply/merchant_profile.html", "",
                     category=names.get(str(merchant.category_id), "").lstrip("· "),
                     next_statuses=sorted(merchants.TRANSITIONS[merchant.status]),
                     needs_reason=sorted(merchants.NEEDS_REASON))


@router.post("/merchants/{merchant_id}/status")
async def set_status(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.review")
    form = await page.form()
    body = StatusIn.model_validate(forms.given(status=forms.text(form, "status"),
                                              reason=forms.text(form, "reason")))
    out = await merchants.set_status(page.session, merchant_id, body.status, body.reason,
                                     page.subject)
    return page.redirect(base(merchant_id), flash=f"The merchant is now {out.status}.")


@router.get("/merchants/{merchant_id}/reviews")
async def merchant_reviews(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.read")
    merchant = await merchants.get_merchant(page.session, merchant_id)
    reviews = await merchants.merchant_reviews(page.session, merchant_id, limit=100)
    return await tab(page, merchant, "supply/merchant_reviews.html", "/reviews", reviews=reviews)

