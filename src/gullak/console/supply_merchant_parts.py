"""A merchant's parts in the console: outlets and their hours, merchant users, documents, bank
accounts and commissions (the tabs after the profile), each change through the merchants
service with the permission of the matching admin API route."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.console import forms
from gullak.console.supply_forms import category_choices
from gullak.console.supply_merchants import base, tab
from gullak.console.web import AdminPage, ConsoleRoute, Page
from gullak.kit.errors import InvalidInput, NotFound
from gullak.merchants import service as merchants
from gullak.merchants.schemas import (
    BankAccountIn,
    CommissionIn,
    MerchantUserIn,
    MerchantUserPatch,
    OutletIn,
    OutletOut,
    ReviewIn,
    Role,
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

WEEKDAYS = (("mon", "Monday"), ("tue", "Tuesday"), ("wed", "Wednesday"), ("thu", "Thursday"),
            ("fri", "Friday"), ("sat", "Saturday"), ("sun", "Sunday"))
OUTLET_TEXT = ("name", "address", "city", "state", "postal_code", "phone", "latitude",
               "longitude", "timezone")
_RANGE = re.compile(r"^\s*(\S+)\s*(?:-|–|to)\s*(\S+)\s*$")


# -- outlets ----------------------------------------------------------------------------------

def _hours(form: forms.Form) -> dict[str, list[dict[str, str]]]:
    """One field a weekday, "09:00-13:00, 17:00-22:00"; an empty field: closed that day.
    The service checks the times themselves."""
    hours: dict[str, list[dict[str, str]]] = {}
    for day, label in WEEKDAYS:
        ranges = []
        for part in forms.comma_list(form, f"hours_{day}"):
            matched = _RANGE.match(part)
            if matched is None:
                raise InvalidInput(f"{label}: write each range as 09:00-21:00.",
                                   code="invalid_hours", field=f"hours_{day}")
            ranges.append({"open": matched.group(1), "close": matched.group(2)})
        if ranges:
            hours[day] = ranges
    return hours


def _outlet_body(form: forms.Form) -> OutletIn:
    values: dict[str, Any] = {name: forms.text(form, name) for name in OUTLET_TEXT}
    values.update(hours=_hours(form), features=forms.comma_list(form, "features"),
                  active=forms.checked(form, "active"))
    return OutletIn.model_validate(forms.given(values))


def _outlet_values(outlet: OutletOut | None) -> dict[str, str]:
    if outlet is None:
        return {"timezone": "Asia/Kolkata", "active": "1"}
    data = outlet.model_dump()
    values = {k: "" if data[k] is None else str(data[k]) for k in OUTLET_TEXT}
    values.update({f"hours_{day}": hours_text(outlet, day) for day, _ in WEEKDAYS})
    values["features"] = forms.joined(outlet.features)
    values["active"] = "1" if outlet.active else ""
    return values


def hours_text(outlet: OutletOut, day: str) -> str:
    return ", ".join(f"{r.open}-{r.close}" for r in outlet.hours.get(day, []))


async def _outlet(page: Page, merchant_id: uuid.UUID, outlet_id: uuid.UUID) -> OutletOut:
    outlet = await merchants.get_outlet(page.session, outlet_id)
    if outlet.merchant_id != merchant_id:
        raise NotFound("This merchant has no such outlet.")
    return outlet


async def _outlet_form(page: Page, merchant_id: uuid.UUID, outlet: OutletOut | None) -> Response:
    merchant = await merchants.get_merchant(page.session, merchant_id)
    action = f"{base(merchant_id)}/outlets" + (f"/{outlet.id}" if outlet else "")
    return await tab(page, merchant, "supply/outlet_form.html", "/outlets", outlet=outlet,
                     values=_outlet_values(outlet), weekdays=WEEKDAYS, action=action)


@router.get("/merchants/{merchant_id}/outlets")
async def outlets(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.read")
    merchant = await merchants.get_merchant(page.session, merchant_id)
    return await tab(page, merchant, "supply/merchant_outlets.html", "/outlets",
                     outlets=await merchants.list_outlets(page.session, merchant_id),
                     weekdays=WEEKDAYS, hours_text=hours_text)


@router.get("/merchants/{merchant_id}/outlets/new")
async def new_outlet(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.manage")
    return await _outlet_form(page, merchant_id, None)


@router.post("/merchants/{merchant_id}/outlets")
async def add_outlet(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.manage")
    outlet = await merchants.add_outlet(page.session, merchant_id,
                                        _outlet_body(await page.form()), page.subject)
    return page.redirect(f"{base(merchant_id)}/outlets", flash=f"{outlet.name} was added.")


@router.get("/merchants/{merchant_id}/outlets/{outlet_id}")
async def edit_outlet(merchant_id: uuid.UUID, outlet_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.manage")
    return await _outlet_form(page, merchant_id, await _outlet(page, merchant_id, outlet_id))


@router.post("/merchants/{merchant_id}/outlets/{outlet_id}")
async def update_outlet(merchant_id: uuid.UUID, outlet_id: uuid.UUID,
                        page: AdminPage) -> Response:
    await page.require("merchants.manage")
    outlet = await merchants.update_outlet(page.session, merchant_id, outlet_id,
                                           _outlet_body(await page.form()), page.subject)
    return page.redirect(f"{base(merchant_id)}/outlets", flash=f"{outlet.name} was saved.")


# -- merchant users ---------------------------------------------------------------------------

@router.get("/merchants/{merchant_id}/users")
async def users(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.read")
    merchant = await merchants.get_merchant(page.session, merchant_id)
    return await tab(page, merchant, "supply/merchant_users.html", "/users",
                     users=await merchants.list_merchant_users(page.session, merchant_id),
                     roles=tuple(r.value for r in Role))


@router.post("/merchants/{merchant_id}/users")
async def add_user(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.manage")
    form = await page.form()
    body = MerchantUserIn.model_validate(forms.given(
        email=forms.text(form, "email"), name=forms.text(form, "name"),
        role=forms.text(form, "role"),
        password=form.get("password") or None))
    user = await merchants.create_merchant_user(page.session, merchant_id, body, page.subject)
    return page.redirect(f"{base(merchant_id)}/users", flash=f"{user.email} can now sign in.")


@router.post("/merchants/{merchant_id}/users/{user_id}")
async def update_user(merchant_id: uuid.UUID, user_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.manage")
    form = await page.form()
    body = MerchantUserPatch.model_validate(forms.given(role=forms.text(form, "role"),
                                                       status=forms.text(form, "status")))
    user = await merchants.update_merchant_user(page.session, merchant_id, user_id,
                                                role=body.role, status=body.status,
                                                actor=page.subject)
    return page.redirect(f"{base(merchant_id)}/users",
                         flash=f"{user.email} is now {user.role}, {user.status}.")


# -- documents --------------------------------------------------------------------------------

@router.get("/merchants/{merchant_id}/documents")
async def documents(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.read")
    merchant = await merchants.get_merchant(page.session, merchant_id)
    return await tab(page, merchant, "supply/merchant_documents.html", "/documents",
                     documents=await merchants.list_documents(page.session, merchant_id))


@router.post("/merchants/{merchant_id}/documents/{document_id}/review")
async def review_document(merchant_id: uuid.UUID, document_id: uuid.UUID,
                          page: AdminPage) -> Response:
    await page.require("merchants.review")
    form = await page.form()
    body = ReviewIn.model_validate(forms.given(verdict=forms.text(form, "verdict"),
                                              reason=forms.text(form, "reason")))
    out = await merchants.review_document(page.session, merchant_id, document_id,
                                          body.verdict == "verified", body.reason, page.subject)
    return page.redirect(f"{base(merchant_id)}/documents",
                         flash=f"The document is {out.status}.")


# -- bank accounts ----------------------------------------------------------------------------

@router.get("/merchants/{merchant_id}/bank-accounts")
async def bank_accounts(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.read")
    merchant = await merchants.get_merchant(page.session, merchant_id)
    return await tab(page, merchant, "supply/merchant_banks.html", "/bank-accounts",
                     accounts=await merchants.list_bank_accounts(page.session, merchant_id))


@router.post("/merchants/{merchant_id}/bank-accounts")
async def add_bank_account(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.manage")
    form = await page.form()
    body = BankAccountIn.model_validate(forms.given(
        account_holder=forms.text(form, "account_holder"),
        account_number=forms.text(form, "account_number"), ifsc=forms.text(form, "ifsc"),
        bank_name=forms.text(form, "bank_name"), primary=forms.checked(form, "primary")))
    out = await merchants.add_bank_account(page.session, page.settings, merchant_id, body,
                                           page.subject)
    await merchants.queue_bank_verification(page.session, out.id)
    return page.redirect(f"{base(merchant_id)}/bank-accounts",
                         flash="The account was added; its verification has started.")


@router.post("/merchants/{merchant_id}/bank-accounts/{account_id}/verify")
async def verify_bank_account(merchant_id: uuid.UUID, account_id: uuid.UUID,
                              page: AdminPage) -> Response:
    await page.require("merchants.manage")
    out = await merchants.retry_bank_account(page.session, merchant_id, account_id,
                                             page.subject)
    if out.status == "pending":
        await merchants.queue_bank_verification(page.session, out.id)
    return page.redirect(f"{base(merchant_id)}/bank-accounts",
                         flash=f"The account is {out.status}.")


# -- commissions ------------------------------------------------------------------------------

@router.get("/merchants/{merchant_id}/commissions")
async def commissions(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.read")
    merchant = await merchants.get_merchant(page.session, merchant_id)
    choices = await category_choices(page.session)
    names = {key: label.lstrip("· ") for key, label in choices}
    return await tab(page, merchant, "supply/merchant_commissions.html", "/commissions",
                     commissions=await merchants.list_commissions(page.session, merchant_id),
                     categories=choices, category_names=names)


@router.post("/merchants/{merchant_id}/commissions")
async def add_commission(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.manage")
    form = await page.form()
    body = CommissionIn.model_validate(forms.given(
        category_id=forms.object_id(form, "category_id"),
        rate_bps=forms.number(form, "rate_bps"), valid_from=forms.moment(form, "valid_from"),
        valid_until=forms.moment(form, "valid_until")))
    await merchants.add_commission(page.session, merchant_id, body, page.subject)
    return page.redirect(f"{base(merchant_id)}/commissions", flash="The rate was added.")


@router.post("/merchants/{merchant_id}/commissions/{commission_id}/delete")
async def delete_commission(merchant_id: uuid.UUID, commission_id: uuid.UUID,
                            page: AdminPage) -> Response:
    await page.require("merchants.manage")
    await merchants.delete_commission(page.session, merchant_id, commission_id, page.subject)
    return page.redirect(f"{base(merchant_id)}/commissions", flash="The rate was removed.")
