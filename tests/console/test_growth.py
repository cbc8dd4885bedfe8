"""The console's growth and system pages through HTTP: campaigns and segments, reward rules,
tiers, notification templates, settings and flags. Lists show what is there, forms change
state through the domains' services and are audited, a missing permission changes nothing,
and bad input is a 422 page that changes nothing."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.access import service as access
from gullak.access.schemas import FlagIn, SettingIn
from gullak.campaigns import service as campaigns
from gullak.campaigns.schemas import CampaignIn
from gullak.loyalty import service as loyalty
from gullak.notifications import service as notifications
from gullak.rewards import service as rewards
from gullak.settings import Settings
from tests.campaigns.support import make_segment, make_template
from tests.helpers.console import Browser, admin_browser, super_browser
from tests.helpers.http import http_client
from tests.loyalty.support import make_ladder
from tests.orders.support import ensure_assets
from tests.rewards.support import make_rule

INLINE = re.compile(r"<script(?![^>]*\bsrc=)|\sstyle=|\son[a-z]+=", re.IGNORECASE)


async def audited(session: AsyncSession, action: str, entity_id: str,
                  actor: Browser) -> list[Any]:
    page = await access.search_audit(session, action=action, entity_id=entity_id,
                                     actor_id=actor.subject_id)
    return page.entries


async def drafted(session: AsyncSession, name: str = "Diwali push") -> uuid.UUID:
    """A draft on a new segment, made by nobody in particular (any admin may approve it)."""
    template = await make_template(session)
    segment = await make_segment(session, [{"type": "city", "city": "Pune"}])
    out = await campaigns.create_campaign(session, CampaignIn.model_validate({
        "name": name, "segment_id": str(segment), "channel": "inbox",
        "template_code": template, "data": {"name": "friend"}}), None)
    return out.id


# -- every page -------------------------------------------------------------------------------

PAGES = ("/console/campaigns", "/console/campaigns/new", "/console/segments",
         "/console/segments/new", "/console/rules", "/console/rules/new", "/console/tiers",
         "/console/templates", "/console/settings", "/console/flags")


async def test_every_page_answers_on_an_empty_database(client: httpx.AsyncClient,
                                                       session: AsyncSession,
                                                       settings: Settings) -> None:
    browser = await super_browser(client, session, settings)
    for url in PAGES:
        r = await browser.get(url)
        assert r.status_code == 200, (url, r.text)
        assert not INLINE.search(r.text), (url, INLINE.search(r.text))
        assert r.text.count('method="post"') == r.text.count('name="csrf"'), url
    for url in ("/console/campaigns", "/console/segments", "/console/rules"):
        r = await browser.get(url, format="csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")


async def test_a_reader_sees_no_buttons_and_is_refused_elsewhere(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    campaign_id = await drafted(session)
    browser = await admin_browser(client, session, settings, "campaigns.read")
    r = await browser.get(f"/console/campaigns/{campaign_id}")
    assert r.status_code == 200 and "Diwali push" in r.text
    assert "/approve" not in r.text and "/cancel" not in r.text and "/edit" not in r.text
    for url in ("/console/rules", "/console/tiers", "/console/templates", "/console/settings",
                "/console/flags", "/console/campaigns/new"):
        assert (await browser.get(url)).status_code == 403, url
    assert (await browser.post(f"/console/campaigns/{campaign_id}/approve")).status_code == 403
    session.expire_all()
    assert (await campaigns.get_campaign(session, campaign_id)).approved_by is None
    assert await audited(session, "denied:campaigns.approve", f"POST /console/campaigns/"
                         f"{campaign_id}/approve", browser)


# -- campaigns --------------------------------------------------------------------------------

async def test_the_campaign_list_filters_sorts_and_downloads(client: httpx.AsyncClient,
                                                             session: AsyncSession,
                                                             settings: Settings) -> None:
    kept = await drafted(session, "Monsoon offers")
    gone = await drafted(session, "Winter sale")
    await campaigns.move(session, settings, gone, "cancel")
    browser = await admin_browser(client, session, settings, "campaigns.read")
    r = await browser.get("/console/campaigns")
    assert "Monsoon offers" in r.text and "Winter sale" in r.text
    r = await browser.get("/console/campaigns", status="cancelled")
    assert "Winter sale" in r.text and "Monsoon offers" not in r.text
    r = await browser.get("/console/campaigns", q="monsoon", sort="name")
    assert f"/console/campaigns/{kept}" in r.text and "Winter sale" not in r.text
    r = await browser.get("/console/campaigns", format="csv", sort="-name")
    lines = r.text.splitlines()
    assert lines[0].startswith("Name,Status") and lines.index(
        next(x for x in lines if x.startswith("Winter sale"))) < lines.index(
        next(x for x in lines if x.startswith("Monsoon offers")))
    for bad in ({"status": "lost"}, {"sort": "password"}, {"cursor": "nonsense"}):
        assert (await browser.get("/console/campaigns", **bad)).status_code in (400, 422), bad


async def test_a_campaign_is_drafted_then_approved_by_another_admin_and_scheduled(
        client: httpx.AsyncClient, app: FastAPI, session: AsyncSession,
        settings: Settings) -> None:
    template = await make_template(session)
    segment = await make_segment(session, [{"type": "last_active", "within_days": 30}])
    maker = await admin_browser(client, session, settings, "campaigns.read", "campaigns.manage")
    r = await maker.post("/console/campaigns", {
        "name": "Weekend <b>boost</b>", "segment_id": segment, "channel": "inbox",
        "template_code": template, "data": '{"name": "friend"}', "send_at": "",
        "throttle_per_minute": "500", "attribution_days": "3", "variants": "A 50\nB 50"})
    assert r.status_code == 303, r.text
    campaign_id = uuid.UUID(r.headers["location"].rsplit("/", 1)[1])
    made = await campaigns.get_campaign(session, campaign_id)
    assert (made.status.value, made.throttle_per_minute, made.created_by) == (
        "draft", 500, maker.subject_id)
    assert [(v.code, v.percent) for v in made.variants] == [("A", 50), ("B", 50)]
    assert await audited(session, "campaigns.campaign.create", str(campaign_id), maker)
    page = await maker.get(f"/console/campaigns/{campaign_id}")
    assert "Weekend &lt;b&gt;boost&lt;/b&gt;" in page.text and "<b>boost" not in page.text

    # Approval needs another admin with campaigns.approve: the maker is refused.
    r = await maker.post(f"/console/campaigns/{campaign_id}/approve")
    assert r.status_code == 403
    r = await maker.post(f"/console/campaigns/{campaign_id}/schedule")
    assert r.status_code == 409  # not approved yet
    async with http_client(app) as other:
        checker = await admin_browser(other, session, settings, "campaigns.read",
                                      "campaigns.approve", "campaigns.manage")
        r = await checker.post(f"/console/campaigns/{campaign_id}/approve")
        assert r.status_code == 303, r.text
        assert await audited(session, "campaigns.campaign.approve", str(campaign_id), checker)
    r = await maker.post(f"/console/campaigns/{campaign_id}/schedule",
                         {"send_at": "2031-01-02T09:30"})
    assert r.status_code == 303, r.text
    session.expire_all()
    scheduled = await campaigns.get_campaign(session, campaign_id)
    assert scheduled.status.value == "scheduled" and scheduled.approved_by == checker.subject_id
    assert scheduled.send_at is not None and scheduled.send_at.isoformat().startswith(
        "2031-01-02T09:30")
    r = await maker.post(f"/console/campaigns/{campaign_id}/pause")
    assert r.status_code == 303
    r = await maker.post(f"/console/campaigns/{campaign_id}/cancel")
    assert r.status_code == 303
    session.expire_all()
    assert (await campaigns.get_campaign(session, campaign_id)).status.value == "cancelled"
    assert await audited(session, "campaigns.campaign.cancel", str(campaign_id), maker)


async def test_a_draft_edit_withdraws_nothing_on_bad_input(client: httpx.AsyncClient,
                                                           session: AsyncSession,
                                                           settings: Settings) -> None:
    campaign_id = await drafted(session)
    browser = await admin_browser(client, session, settings, "campaigns.read",
                                  "campaigns.manage")
    form = await browser.get(f"/console/campaigns/{campaign_id}/edit")
    assert form.status_code == 200 and "Diwali push" in form.text
    for bad in ({"variants": "A 60\nB 30"}, {"throttle_per_minute": "lots"},
                {"data": "{not json"}, {"channel": "pigeon"}):
        r = await browser.post(f"/console/campaigns/{campaign_id}", {"name": "Changed", **bad})
        assert r.status_code == 422, (bad, r.text)
    session.expire_all()
    assert (await campaigns.get_campaign(session, campaign_id)).name == "Diwali push"
    r = await browser.post(f"/console/campaigns/{campaign_id}", {
        "name": "Diwali push, again", "throttle_per_minute": "250", "data": '{"name": "you"}'})
    assert r.status_code == 303, r.text
    session.expire_all()
    changed = await campaigns.get_campaign(session, campaign_id)
    assert (changed.name, changed.throttle_per_minute, changed.data) == (
        "Diwali push, again", 250, {"name": "you"})
    assert await audited(session, "campaigns.campaign.update", str(campaign_id), browser)


async def test_without_manage_a_campaign_does_not_move(client: httpx.AsyncClient,
                                                        session: AsyncSession,
                                                        settings: Settings) -> None:
    campaign_id = await drafted(session)
    browser = await admin_browser(client, session, settings, "campaigns.read",
                                  "campaigns.approve")
    for action in ("cancel", "schedule"):
        r = await browser.post(f"/console/campaigns/{campaign_id}/{action}")
        assert r.status_code == 403
    r = await browser.post(f"/console/campaigns/{campaign_id}", {"name": "Hijacked"})
    assert r.status_code == 403
    session.expire_all()
    found = await campaigns.get_campaign(session, campaign_id)
    assert (found.status.value, found.name) == ("draft", "Diwali push")
    denied = await access.search_audit(session, action="denied:campaigns.manage",
                                       actor_id=browser.subject_id)
    assert len(denied.entries) == 3


# -- segments ---------------------------------------------------------------------------------

async def test_segments_are_counted_saved_and_edited(client: httpx.AsyncClient,
                                                     session: AsyncSession,
                                                     settings: Settings) -> None:
    browser = await admin_browser(client, session, settings, "campaigns.read",
                                  "campaigns.manage")
    filters = '[{"type": "city", "city": "Mysuru"}]'
    r = await browser.get("/console/segments/new", filters=filters)
    assert r.status_code == 200 and "Users now" in r.text
    assert (await browser.get("/console/segments/new",
                              filters='[{"type": "moon"}]')).status_code == 422
    r = await browser.post("/console/segments", {"name": "Mysuru folk", "filters": filters})
    assert r.status_code == 303, r.text
    segment_id = r.headers["location"].rsplit("/", 1)[1]
    page = await browser.get(f"/console/segments/{segment_id}")
    assert "Mysuru folk" in page.text and "lives in Mysuru" in page.text
    assert await audited(session, "campaigns.segment.create", segment_id, browser)
    listed = await browser.get("/console/segments", q="mysuru")
    assert f"/console/segments/{segment_id}" in listed.text

    r = await browser.post(f"/console/segments/{segment_id}", {
        "name": "Mysuru folk", "filters": '[{"type": "inactive", "days": 0}]'})
    assert r.status_code == 422
    r = await browser.post(f"/console/segments/{segment_id}", {
        "name": "Mysuru and Pune", "filters": '[{"type": "city", "city": "Pune"}]'})
    assert r.status_code == 303
    session.expire_all()
    segment = await campaigns.get_segment(session, uuid.UUID(segment_id))
    assert segment.name == "Mysuru and Pune" and segment.filters == [
        {"type": "city", "city": "Pune"}]
    assert await audited(session, "campaigns.segment.update", segment_id, browser)


# -- reward rules -----------------------------------------------------------------------------

async def test_reward_rules_are_listed_versioned_and_paused(client: httpx.AsyncClient,
                                                            session: AsyncSession,
                                                            settings: Settings) -> None:
    await ensure_assets(session)
    rule = await make_rule(session, name="Sign-up bonus", trigger="sign_up", value=100)
    await make_rule(session, name="Order coins", trigger="order_completed")
    browser = await admin_browser(client, session, settings, "rewards.read", "rewards.manage")
    r = await browser.get("/console/rules", trigger="sign_up")
    assert "Sign-up bonus" in r.text and "Order coins" not in r.text
    r = await browser.get("/console/rules", format="csv")
    assert "Sign-up bonus" in r.text and "Order coins" in r.text
    assert (await browser.get(f"/console/rules/{rule.id}/edit")).status_code == 200

    form = {"name": "Sign-up bonus", "trigger": "sign_up", "status": "active",
            "kind": "fixed", "value": "150", "asset_code": "REZ", "conditions": "{}",
            "caps": "[]", "timezone": "Asia/Kolkata"}
    r = await browser.post(f"/console/rules/{rule.id}", {**form, "value": "-5"})
    assert r.status_code == 422
    r = await browser.post(f"/console/rules/{rule.id}", {**form, "conditions": "[1"})
    assert r.status_code == 422
    # Nested past the JSON parser's stack: the same refusal, not a 500.
    r = await browser.post(f"/console/rules/{rule.id}",
                           {**form, "conditions": "[" * 5000 + "]" * 5000})
    assert r.status_code == 422 and "not valid JSON" in r.text
    r = await browser.post(f"/console/rules/{rule.id}", form)
    assert r.status_code == 303, r.text
    now = await rewards.get_rule(session, rule.id)
    assert (now.version, now.value) == (2, 150)
    assert await audited(session, "rewards.rule.version", str(rule.id), browser)

    r = await browser.post(f"/console/rules/{rule.id}/pause")
    assert r.status_code == 303
    session.expire_all()
    assert (await rewards.get_rule(session, rule.id)).status == "paused"
    assert await audited(session, "rewards.rule.pause", str(rule.id), browser)
    page = await browser.get(f"/console/rules/{rule.id}")
    assert "/activate" in page.text

    r = await browser.post("/console/rules", {**form, "name": "Review coins",
                                              "trigger": "review_written"})
    assert r.status_code == 303
    assert "Review coins" in (await browser.get(r.headers["location"])).text


async def test_a_rule_reader_cannot_pause(client: httpx.AsyncClient, session: AsyncSession,
                                          settings: Settings) -> None:
    await ensure_assets(session)
    rule = await make_rule(session, name="Steady")
    browser = await admin_browser(client, session, settings, "rewards.read")
    page = await browser.get(f"/console/rules/{rule.id}")
    assert page.status_code == 200 and "/pause" not in page.text
    assert (await browser.post(f"/console/rules/{rule.id}/pause")).status_code == 403
    session.expire_all()
    assert (await rewards.get_rule(session, rule.id)).status == "active"


# -- tiers ------------------------------------------------------------------------------------

async def test_the_tier_ladder_is_shown_and_edited(client: httpx.AsyncClient,
                                                   session: AsyncSession,
                                                   settings: Settings) -> None:
    await make_ladder(session)
    browser = await admin_browser(client, session, settings, "loyalty.read", "loyalty.manage")
    r = await browser.get("/console/tiers")
    assert all(name in r.text for name in ("Basic", "Silver", "Gold"))
    assert r.text.index("Basic") < r.text.index("Silver") < r.text.index("Gold")
    r = await browser.post("/console/tiers/gold", {
        "name": "Gold", "threshold": "-1", "benefits": "", "active": "on"})
    assert r.status_code == 422
    r = await browser.post("/console/tiers/gold", {
        "name": "Gold star", "threshold": "600000", "window_days": "30",
        "multiplier_bp": "17500", "grace_days": "5", "benefits": "2x coins\nLounge",
        "active": "on"})
    assert r.status_code == 303, r.text
    gold = next(t for t in await loyalty.list_tiers(session) if t.code == "gold")
    assert (gold.name, gold.threshold, gold.benefits) == ("Gold star", 600_000,
                                                          ["2x coins", "Lounge"])
    changed = await access.search_audit(session, action="loyalty_tier.update", entity_id="gold")
    assert changed.entries[0].actor_id == browser.subject_id
    r = await browser.post("/console/tiers", {
        "code": "platinum", "name": "Platinum", "rank": "3", "metric": "spent",
        "threshold": "1000000"})
    assert r.status_code == 303
    assert "Platinum" in (await browser.get("/console/tiers")).text
    assert (await browser.get("/console/tiers/nowhere")).status_code == 404
    assert (await browser.get("/console/tiers/Bad-Code")).status_code == 422


# -- notification templates -------------------------------------------------------------------

async def test_a_template_preview_shows_sample_data_as_text(client: httpx.AsyncClient,
                                                            session: AsyncSession,
                                                            settings: Settings) -> None:
    code = await make_template(session, channels=("inbox", "sms"))
    browser = await admin_browser(client, session, settings, "notifications.manage")
    r = await browser.get("/console/templates")
    assert code in r.text
    r = await browser.get(f"/console/templates/{code}", preview="1",
                          v_name="<script>alert(1)</script>")
    assert r.status_code == 200, r.text
    preview = r.text[r.text.index('class="preview"'):]
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;" in preview
    assert "<script>alert" not in r.text
    r = await browser.get(f"/console/templates/{code}", preview="1")
    assert "Hello [name]" in r.text
    assert (await browser.get(f"/console/templates/{code}", preview="1",
                              locale="xx")).status_code == 422


async def test_templates_are_written_changed_and_deleted(client: httpx.AsyncClient,
                                                         session: AsyncSession,
                                                         settings: Settings) -> None:
    browser = await admin_browser(client, session, settings, "notifications.manage")
    content = '{"en": {"inbox": {"title": "Hi {name}", "body": "Coins for you"}}}'
    r = await browser.post("/console/templates", {
        "code": "promo.console", "category": "marketing", "channel_inbox": "on",
        "variables": "name", "content": content, "enabled": "on"})
    assert r.status_code == 303, r.text
    assert await audited(session, "notifications.template.create", "promo.console", browser)
    # A placeholder that is not a declared variable is refused, and nothing changes.
    r = await browser.post("/console/templates/promo.console", {
        "category": "marketing", "channel_inbox": "on", "variables": "name",
        "content": content.replace("Coins", "{count} coins"), "enabled": "on"})
    assert r.status_code == 422
    assert (await notifications.get_template(session, "promo.console")).enabled
    r = await browser.post("/console/templates/promo.console", {
        "category": "rewards", "channel_inbox": "on", "variables": "name", "content": content})
    assert r.status_code == 303
    session.expire_all()
    changed = await notifications.get_template(session, "promo.console")
    assert (changed.category, changed.enabled) == ("rewards", False)
    assert await audited(session, "notifications.template.update", "promo.console", browser)
    r = await browser.post("/console/templates/promo.console/delete")
    assert r.status_code == 303
    assert (await browser.get("/console/templates/promo.console")).status_code == 404


# -- settings and flags -----------------------------------------------------------------------

async def test_a_setting_is_changed_typed_and_at_its_version(client: httpx.AsyncClient,
                                                             session: AsyncSession,
                                                             settings: Settings) -> None:
    await access.put_setting(session, "console.test_limit", SettingIn(
        value=10, value_type="int", description="How many"), None)
    browser = await admin_browser(client, session, settings, "settings.manage")
    r = await browser.get("/console/settings")
    assert "console.test_limit" in r.text and "How many" in r.text
    r = await browser.post("/console/settings/console.test_limit",
                           {"value": "ten", "version": "1"})
    assert r.status_code == 422
    r = await browser.post("/console/settings/console.test_limit",
                           {"value": "25", "version": "1"})
    assert r.status_code == 303, r.text
    r = await browser.post("/console/settings/console.test_limit",
                           {"value": "30", "version": "1"})
    assert r.status_code == 409  # the page was loaded before the change above
    found = {s.key: s for s in await access.list_settings(session)}["console.test_limit"]
    assert (found.value, found.version) == (25, 2)
    entries = await audited(session, "setting.put", "console.test_limit", browser)
    assert len(entries) == 1 and entries[0].after["value"] == 25
    r = await browser.post("/console/settings", {
        "key": "console.banner", "value_type": "json", "value": '{"text": "hi"}'})
    assert r.status_code == 303
    found = {s.key: s for s in await access.list_settings(session)}["console.banner"]
    assert found.value == {"text": "hi"}


@pytest.mark.parametrize("field", ["enabled", "rollout_percent"])
async def test_a_flag_is_toggled_and_rolled_out(client: httpx.AsyncClient,
                                                session: AsyncSession, settings: Settings,
                                                field: str) -> None:
    await access.put_flag(session, "console.test_flag", FlagIn(
        enabled=False, rollout_percent=100, rules={"cities": ["Pune"]}), None)
    browser = await admin_browser(client, session, settings, "settings.manage")
    assert "console.test_flag" in (await browser.get("/console/flags")).text
    value = {"enabled": "true", "rollout_percent": "25"}[field]
    bad = {"enabled": "maybe", "rollout_percent": "250"}[field]
    r = await browser.post("/console/flags/console.test_flag", {field: bad, "version": "1"})
    assert r.status_code == 422
    r = await browser.post("/console/flags/console.test_flag", {field: value, "version": "1"})
    assert r.status_code == 303, r.text
    flag = {f.key: f for f in await access.list_flags(session)}["console.test_flag"]
    expected = (True, 100) if field == "enabled" else (False, 25)
    assert (flag.enabled, flag.rollout_percent, flag.version) == (*expected, 2)
    assert flag.rules == {"cities": ["Pune"]}
    assert await audited(session, "flag.put", "console.test_flag", browser)


async def test_without_settings_manage_nothing_changes(client: httpx.AsyncClient,
                                                       session: AsyncSession,
                                                       settings: Settings) -> None:
    await access.put_flag(session, "console.locked", FlagIn(enabled=False), None)
    browser = await admin_browser(client, session, settings, "campaigns.read")
    r = await browser.post("/console/flags/console.locked", {"enabled": "true", "version": "1"})
    assert r.status_code == 403
    r = await browser.post("/console/flags/console.locked", {"enabled": "true", "version": "1"},
                           csrf=False)
    assert r.status_code == 403
    flag = {f.key: f for f in await access.list_flags(session)}["console.locked"]
    assert (flag.enabled, flag.version) == (False, 1)
