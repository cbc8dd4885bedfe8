"""The loyalty tier ladder: every tier, retired ones too, lowest first; adding a tier and
changing one (loyalty.read to look, loyalty.manage to change, as in the loyalty API). The
loyalty service audits its own writes; nobody moves tier because of an edit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from gullak.console import forms
from gullak.console.web import AdminPage, ConsoleRoute
from gullak.loyalty import service as loyalty
from gullak.loyalty.errors import TierNotFound
from gullak.loyalty.schemas import TierIn, TierPatch

router = APIRouter(route_class=ConsoleRoute)
Code = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{1,39}$")]


def _numbers(form: forms.Form) -> dict[str, Any]:
    return {name: forms.number(form, name)
            for name in ("threshold", "window_days", "multiplier_bp", "grace_days")}


@router.get("/tiers")
async def tier_ladder(page: AdminPage) -> Response:
    await page.require("loyalty.read")
    ladder = await loyalty.list_tiers(page.session, active_only=False)
    return await page.render("growth/tiers.html", title="Tiers", ladder=ladder,
                             next_rank=max((t.rank for t in ladder), default=-1) + 1)


@router.post("/tiers")
async def tier_create(page: AdminPage) -> Response:
    await page.require("loyalty.manage")
    form = await page.form()
    body = TierIn.model_validate(forms.given({
        "code": forms.text(form, "code"), "name": forms.text(form, "name"),
        "rank": forms.number(form, "rank"), "metric": forms.text(form, "metric"),
        "benefits": forms.lines(form, "benefits"), **_numbers(form)}))
    await loyalty.create_tier(page.session, body, page.subject)
    return page.redirect("/console/tiers", flash=f"The tier {body.name} was added.")


@router.get("/tiers/{code}")
async def tier_detail(code: Code, page: AdminPage) -> Response:
    await page.require("loyalty.read")
    ladder = await loyalty.list_tiers(page.session, active_only=False)
    tier = next((t for t in ladder if t.code == code), None)
    if tier is None:
        raise TierNotFound(field="code")
    return await page.render("growth/tier.html", title=f"Tier {code}", tier=tier)


@router.post("/tiers/{code}")
async def tier_update(code: Code, page: AdminPage) -> Response:
    await page.require("loyalty.manage")
    form = await page.form()
    body = TierPatch.model_validate(forms.given({
        "name": forms.text(form, "name"), "benefits": forms.lines(form, "benefits"),
        "active": forms.checked(form, "active"), **_numbers(form)}))
    await loyalty.update_tier(page.session, code, body, page.subject)
    return page.redirect(f"/console/tiers/{code}", flash="The tier was changed.")
