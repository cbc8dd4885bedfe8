"""Templates: a placeholder that is not a declared variable is refused at save (422, stable
code) and changes nothing; rendering refuses data that leaves a used variable empty; every
seeded template is valid in English and Hindi; admin CRUD and preview need the permission."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.notifications import errors
from gullak.notifications.models import NotificationTemplate
from gullak.notifications.templates import check, pick_locale, render
from gullak.settings import Settings
from tests.helpers.admins import admin_with
from tests.helpers.problems import assert_problem

PUSH = {"title": "Hello {name}", "body": "You have {count} coins"}
BODY: dict[str, Any] = {
    "code": "test.coins", "category": "rewards", "channels": ["inbox", "push"],
    "variables": ["name", "count"],
    "content": {"en": {"inbox": PUSH, "push": PUSH},
                "hi": {"inbox": PUSH, "push": {"title": "नमस्ते {name}", "body": "{count} सिक्के"}}},
}


def test_an_undeclared_variable_is_refused() -> None:
    with pytest.raises(errors.UndeclaredVariable) as refused:
        check(["push"], ["name"], {"en": {"push": PUSH}})
    assert refused.value.field == "content.en.push.body"


@pytest.mark.parametrize("content", [
    {"hi": {"push": PUSH}},  # no English
    {"en": {}},  # a channel without its text
    {"en": {"push": {"title": "t"}}},  # without its body
    {"en": {"push": {**PUSH, "subject": "s"}}},  # a part push does not have
    {"en": {"push": PUSH, "sms": {"text": "x"}}},  # a channel it does not send to
])
def test_incomplete_templates_are_refused(content: dict[str, Any]) -> None:
    with pytest.raises(errors.InvalidTemplate):
        check(["push"], ["name", "count"], content)


def test_rendering_needs_every_used_variable() -> None:
    content = {"en": {"push": PUSH, "email": {"subject": "s", "text": "{name}",
                                              "html": "<b>{name}</b>"}}}
    with pytest.raises(errors.MissingTemplateData) as refused:
        render(content, ["push"], "en", {"name": "A"})
    assert refused.value.extra["variables"] == ["count"]
    with pytest.raises(errors.MissingTemplateData):
        render(content, ["push"], "en", {"name": "A", "count": None})
    out = render(content, ["push", "email"], "en", {"name": "<Asha & co>", "count": 0})
    assert out["push"] == {"title": "Hello <Asha & co>", "body": "You have 0 coins"}
    assert out["email"]["html"] == "<b>&lt;Asha &amp; co&gt;</b>"  # escaped in HTML only
    # Braces that are not placeholders are text; a value is never read as a template.
    literal = {"en": {"push": {"title": "{} {Name} {name}", "body": "{X} { x }"}}}
    assert render(literal, ["push"], "en", {"name": "{count}"})["push"] == {
        "title": "{} {Name} {count}", "body": "{X} { x }"}


def test_the_locale_falls_back_to_english() -> None:
    content = {"en": {}, "hi": {}}
    assert pick_locale(content, "hi") == "hi"
    assert pick_locale(content, "hi-IN") == "hi"
    assert pick_locale(content, "ta") == "en"
    assert pick_locale(content, None) == "en"


async def test_seeded_templates_are_valid_in_english_and_hindi(session: AsyncSession) -> None:
    rows = list(await session.scalars(select(NotificationTemplate)))
    codes = {t.code for t in rows}
    assert {"security.new_sign_in", "rewards.coins_earned", "rewards.coins_expiring",
            "cashback.confirmed", "orders.status_changed", "orders.refunded",
            "payouts.withdrawal_paid", "payouts.withdrawal_failed",
            "payouts.withdrawal_reversed", "loyalty.tier_changed",
            "loyalty.achievement_unlocked", "marketing.offer"} <= codes
    for t in rows:
        check(t.channels, t.variables, t.content)
        assert {"en", "hi"} <= set(t.content), t.code
        data = {v: f"<{v}>" for v in t.variables}
        for locale in ("en", "hi"):
            rendered = render(t.content, t.channels, locale, data)
            assert all("{" not in text for parts in rendered.values()
                       for text in parts.values()), t.code


async def test_admin_crud_and_preview(client: httpx.AsyncClient, session: AsyncSession,
                                      settings: Settings) -> None:
    admin = await admin_with(client, session, settings, "notifications.manage")
    h = admin.headers
    r = await client.post("/v1/admin/notification-templates", json=BODY, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["variables"] == ["name", "count"]
    assert_problem(await client.post("/v1/admin/notification-templates", json=BODY, headers=h),
                   409, "notification_template_exists")
    r = await client.post("/v1/admin/notification-templates/test.coins/preview",
                          json={"data": {"name": "Asha", "count": 5}, "locale": "hi"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"locale": "hi", "channels": {
        "inbox": {"title": "Hello Asha", "body": "You have 5 coins"},
        "push": {"title": "नमस्ते Asha", "body": "5 सिक्के"}}}
    assert_problem(await client.post("/v1/admin/notification-templates/test.coins/preview",
                                     json={"data": {"name": "Asha"}}, headers=h),
                   422, "template_data_missing", field="data")
    changed = {k: v for k, v in BODY.items() if k != "code"} | {"variables": ["name"]}
    before = (await client.get("/v1/admin/notification-templates/test.coins", headers=h)).json()
    r = await client.put("/v1/admin/notification-templates/test.coins", json=changed, headers=h)
    assert_problem(r, 422, "template_undeclared_variable", field="content.en.inbox.body")
    after = (await client.get("/v1/admin/notification-templates/test.coins", headers=h)).json()
    assert after == before  # the refusal changed nothing
    r = await client.put("/v1/admin/notification-templates/test.coins",
                         json={**changed, "variables": ["name", "count"], "enabled": False},
                         headers=h)
    assert r.status_code == 200 and r.json()["enabled"] is False
    listed = await client.get("/v1/admin/notification-templates", headers=h)
    assert "test.coins" in {t["code"] for t in listed.json()}
    r = await client.delete("/v1/admin/notification-templates/test.coins", headers=h)
    assert r.status_code == 204
    assert_problem(await client.get("/v1/admin/notification-templates/test.coins", headers=h),
                   404, "notification_template_not_found")


async def test_bad_template_input_is_a_4xx(client: httpx.AsyncClient, session: AsyncSession,
                                           settings: Settings) -> None:
    admin = await admin_with(client, session, settings, "notifications.manage")
    bad = [
        {**BODY, "code": "Bad Code"},
        {**BODY, "code": "test.nul", "content": {"en": {"inbox": {**PUSH, "title": "a\x00b"},
                                                        "push": PUSH}}},
        {**BODY, "code": "test.surrogate", "description": "\ud800"},
        {**BODY, "code": "test.channel", "channels": ["pigeon"]},
        {**BODY, "code": "test.locale", "content": {"english": BODY["content"]["en"]}},
        {**BODY, "code": "test.none", "content": {"hi": BODY["content"]["hi"]}},
        {**BODY, "code": "test.type", "variables": "name"},
    ]
    for body in bad:
        # As JSON text: a lone surrogate travels escaped, as a client would send it.
        r = await client.post("/v1/admin/notification-templates", content=json.dumps(body),
                              headers={**admin.headers, "content-type": "application/json"})
        assert r.status_code == 422, (body, r.text)
    listed = await client.get("/v1/admin/notification-templates", headers=admin.headers)
    assert not {t["code"] for t in listed.json()} & {b["code"] for b in bad}


async def test_templates_need_the_permission(client: httpx.AsyncClient, session: AsyncSession,
                                             settings: Settings) -> None:
    admin = await admin_with(client, session, settings, "users.read")
    r = await client.get("/v1/admin/notification-templates", headers=admin.headers)
    assert r.status_code == 403
    r = await client.post("/v1/admin/notification-templates", json=BODY, headers=admin.headers)
    assert r.status_code == 403
    assert (await client.get("/v1/admin/notification-templates")).status_code == 401
