"""Reward rules: the list, one rule's current version, writing a rule or a new version of it
(rewards given keep the version that gave them), pausing and activating; rewards.read to look,
rewards.manage to change, as in the rewards API. The rewards service audits its own writes."""

from __future__ import annotations

import uuid
from typing import Any, get_args

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.console import forms
from gullak.console.tables import Column, Filter, choice, param, table
from gullak.console.web import AdminPage, ConsoleRoute, Page
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.rewards import service as rewards
from gullak.rewards.schemas import Kind, RuleIn, RuleOut, RuleStatus, Trigger

router = APIRouter(route_class=ConsoleRoute)
TRIGGERS: tuple[str, ...] = get_args(Trigger)
KINDS: tuple[str, ...] = get_args(Kind)
STATUSES: tuple[str, ...] = get_args(RuleStatus)


def worth(rule: RuleOut) -> str:
    """What the rule gives, in the unit its kind counts in."""
    if rule.kind == "fixed":
        return f"{rule.value:,} {rule.asset_code}"
    if rule.kind == "multiplier":
        return f"{rule.value / 10_000:g}x base earn"
    return f"{rule.value / 100:g}% of the amount"


def _link(row: RuleOut) -> str:
    return f"/console/rules/{row.id}"


COLUMNS = (
    Column("Name", lambda r: r.name, link=_link, sort="name"),
    Column("Trigger", lambda r: r.trigger, sort="trigger"),
    Column("Kind", lambda r: r.kind),
    Column("Gives", worth),
    Column("Asset", lambda r: r.asset_code),
    Column("Status", lambda r: r.status, sort="status"),
    Column("Version", lambda r: r.version, numeric=True),
    Column("Created", lambda r: r.created_at, sort="created"),
)


@router.get("/rules")
async def rule_list(page: AdminPage) -> Response:
    await page.require("rewards.read")
    trigger, status = choice(page, "trigger", TRIGGERS), choice(page, "status", STATUSES)
    q = param(page, "q")

    async def fetch(browse: Browse) -> Rows:
        return await rewards.browse_rules(page.session, browse, trigger=trigger,
                                          status=status, q=q)

    return await table(
        page, title="Reward rules", columns=COLUMNS, fetch=fetch, default_sort="-created",
        template="growth/rules.html",
        filters=[Filter("trigger", "Trigger", tuple((t, t) for t in TRIGGERS)),
                 Filter("status", "Status", tuple((s, s) for s in STATUSES)),
                 Filter("q", "Name", placeholder="part of the name")])


async def _form(page: Page, title: str, action: str, values: dict[str, Any]) -> Response:
    return await page.render("growth/rule_form.html", title=title, action=action,
                             values=values, triggers=TRIGGERS, kinds=KINDS, statuses=STATUSES,
                             campaigns=await rewards.list_campaigns(page.session))


@router.get("/rules/new")
async def rule_new(page: AdminPage) -> Response:
    await page.require("rewards.manage")
    return await _form(page, "New reward rule", "/console/rules", {
        "name": "", "trigger": "order_completed", "campaign_id": "", "status": "active",
        "kind": "fixed", "value": "", "asset_code": "REZ", "tier_multiplier": False,
        "max_per_reward": "", "hold_days": "", "lifetime_days": "", "funding": "",
        "funder_merchant_id": "", "timezone": "Asia/Kolkata", "conditions": "{}",
        "caps": "[]"})


def _rule(form: forms.Form) -> RuleIn:
    return RuleIn.model_validate(forms.given({
        "name": forms.text(form, "name"), "trigger": forms.text(form, "trigger"),
        "campaign_id": forms.text(form, "campaign_id"), "status": forms.text(form, "status"),
        "kind": forms.text(form, "kind"), "value": forms.number(form, "value"),
        "asset_code": forms.text(form, "asset_code"),
        "tier_multiplier": forms.checked(form, "tier_multiplier"),
        "max_per_reward": forms.number(form, "max_per_reward"),
        "hold_days": forms.number(form, "hold_days"),
        "lifetime_days": forms.number(form, "lifetime_days"),
        "funding": forms.text(form, "funding"),
        "funder_merchant_id": forms.text(form, "funder_merchant_id"),
        "timezone": forms.text(form, "timezone"),
        "conditions": forms.json_field(form, "conditions", {}),
        "caps": forms.json_field(form, "caps", [])}))


@router.post("/rules")
async def rule_create(page: AdminPage) -> Response:
    await page.require("rewards.manage")
    out = await rewards.create_rule(page.session, _rule(await page.form()), page.subject)
    return page.redirect(f"/console/rules/{out.id}", flash="The rule was created.")


@router.get("/rules/{rule_id}")
async def rule_detail(rule_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("rewards.read")
    rule = await rewards.get_rule(page.session, rule_id)
    campaign = (await rewards.get_campaign(page.session, rule.campaign_id)
                if rule.campaign_id else None)
    return await page.render("growth/rule.html", title=rule.name, rule=rule,
                             campaign=campaign, worth=worth(rule), pretty=forms.pretty)


@router.get("/rules/{rule_id}/edit")
async def rule_edit(rule_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("rewards.manage")
    r = await rewards.get_rule(page.session, rule_id)
    return await _form(page, f"Edit {r.name}", f"/console/rules/{r.id}", {
        "name": r.name, "trigger": r.trigger, "campaign_id": str(r.campaign_id or ""),
        "status": r.status, "kind": r.kind, "value": r.value, "asset_code": r.asset_code,
        "tier_multiplier": r.tier_multiplier, "max_per_reward": r.max_per_reward or "",
        "hold_days": r.hold_days, "lifetime_days": r.lifetime_days or "",
        "funding": r.funding, "funder_merchant_id": str(r.funder_merchant_id or ""),
        "timezone": r.timezone, "conditions": forms.pretty(r.conditions),
        "caps": forms.pretty(r.caps)})


@router.post("/rules/{rule_id}")
async def rule_update(rule_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("rewards.manage")
    out = await rewards.new_version(page.session, rule_id, _rule(await page.form()),
                                    page.subject)
    return page.redirect(f"/console/rules/{rule_id}",
                         flash=f"Version {out.version} of the rule is in force.")


@router.post("/rules/{rule_id}/pause")
async def rule_pause(rule_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("rewards.manage")
    await rewards.set_rule_status(page.session, rule_id, "paused", page.subject)
    return page.redirect(f"/console/rules/{rule_id}", flash="The rule was paused.")


@router.post("/rules/{rule_id}/activate")
async def rule_activate(rule_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("rewards.manage")
    await rewards.set_rule_status(page.session, rule_id, "active", page.subject)
    return page.redirect(f"/console/rules/{rule_id}", flash="The rule was activated.")
