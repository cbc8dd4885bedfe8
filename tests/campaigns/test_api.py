"""The back office's campaigns API: permissions, the draft's maker-checker approval (and its
withdrawal on any edit), the status workflow with 409s that change nothing, refused input,
results and assignments over HTTP, and the audit of every write."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.campaigns import service
from gullak.kit import clock
from gullak.settings import Settings
from tests.campaigns.support import make_segment, make_template, make_user
from tests.helpers.admins import Admin, admin_with

START = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
ALL = ("campaigns.read", "campaigns.manage", "campaigns.approve")


async def _draft(client: httpx.AsyncClient, maker: Admin, session: AsyncSession,
                 **extra: Any) -> dict[str, Any]:
    segment = await make_segment(session, [{"type": "city", "city": "Pune"}])
    body = {"name": "Win back Pune", "segment_id": str(segment), "channel": "push",
            "template_code": await make_template(session, channels=("inbox", "push")),
            "data": {"name": "friend"}, "throttle_per_minute": 100, **extra}
    r = await client.post("/v1/admin/campaigns", headers=maker.headers, json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_maker_checker_and_the_status_workflow(client: httpx.AsyncClient,
                                                     session: AsyncSession,
                                                     settings: Settings) -> None:
    clock.freeze(START)
    maker = await admin_with(client, session, settings, *ALL)
    checker = await admin_with(client, session, settings, *ALL)
    other = await make_template(session, channels=("push",))
    draft = await _draft(client, maker, session, variants=[
        {"code": "A", "percent": 60}, {"code": "B", "percent": 40, "template_code": other}])
    cid = draft["id"]
    assert draft["status"] == "draft"
    assert [(v["code"], v["percent"]) for v in draft["variants"]] == [("A", 60), ("B", 40)]

    async def post(who: Admin, action: str, json: Any = None) -> httpx.Response:
        return await client.post(f"/v1/admin/campaigns/{cid}/{action}", headers=who.headers,
                                 json=json)

    r = await post(maker, "schedule")
    assert (r.status_code, r.json()["code"]) == (409, "campaign_not_approved")
    r = await post(maker, "approve")
    assert (r.status_code, r.json()["code"]) == (403, "campaign_self_approval")
    r = await post(checker, "approve")
    assert r.status_code == 200 and r.json()["approved_by"] == str(checker.id)
    # An edit withdraws the approval; the editor may not approve what they changed.
    r = await client.patch(f"/v1/admin/campaigns/{cid}", headers=checker.headers,
                           json={"throttle_per_minute": 50})
    assert r.status_code == 200 and r.json()["approved_by"] is None
    assert (await post(checker, "approve")).status_code == 403
    assert (await post(maker, "schedule")).status_code == 409
    # The maker made it but did not change it last: another admin checks it now.
    assert (await post(maker, "approve")).status_code == 403  # still its maker
    third = await admin_with(client, session, settings, *ALL)
    assert (await post(third, "approve")).status_code == 200
    at = (START + dt.timedelta(hours=2)).isoformat()
    r = await post(maker, "schedule", {"send_at": at})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["send_at"]) == ("scheduled", at.replace("+00:00", "Z"))
    # Only a draft changes.
    r = await client.patch(f"/v1/admin/campaigns/{cid}", headers=maker.headers,
                           json={"name": "Late edit"})
    assert (r.status_code, r.json()["code"]) == (409, "campaign_invalid_status")
    assert (await post(maker, "resume")).status_code == 409
    assert (await post(maker, "pause")).json()["status"] == "paused"
    assert (await post(maker, "resume")).json()["status"] == "scheduled"  # never started
    assert (await post(maker, "cancel")).json()["status"] == "cancelled"
    for action in ("pause", "resume", "cancel", "schedule", "approve"):
        r = await post(third, action)
        assert r.status_code == 409, (action, r.text)
    r = await client.get(f"/v1/admin/campaigns/{cid}", headers=maker.headers)
    assert r.json()["status"] == "cancelled" and r.json()["name"] == "Win back Pune"
    actions = [row.action for row in await session.execute(text(
        "SELECT action FROM audit_log WHERE entity_type = 'campaign' AND entity_id = :e"
        " ORDER BY at, id"), {"e": cid})]
    assert actions == ["campaigns.campaign.create", "campaigns.campaign.approve",
                       "campaigns.campaign.update", "campaigns.campaign.approve",
                       "campaigns.campaign.schedule", "campaigns.campaign.pause",
                       "campaigns.campaign.resume", "campaigns.campaign.cancel"]


async def test_without_approval_required_a_draft_schedules(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    settings.campaign_approval_required = False
    maker = await admin_with(client, session, settings, "campaigns.read", "campaigns.manage")
    draft = await _draft(client, maker, session)
    r = await client.post(f"/v1/admin/campaigns/{draft['id']}/schedule", headers=maker.headers)
    assert r.status_code == 200 and r.json()["status"] == "scheduled"
    assert r.json()["send_at"] is not None


async def test_permissions(client: httpx.AsyncClient, session: AsyncSession,
                           settings: Settings) -> None:
    reader = await admin_with(client, session, settings, "campaigns.read")
    manager = await admin_with(client, session, settings, "campaigns.read", "campaigns.manage")
    draft = await _draft(client, manager, session)
    r = await client.post("/v1/admin/segments", headers=reader.headers,
                          json={"name": "x", "filters": []})
    assert r.status_code == 403
    r = await client.post(f"/v1/admin/campaigns/{draft['id']}/cancel", headers=reader.headers)
    assert r.status_code == 403
    r = await client.post(f"/v1/admin/campaigns/{draft['id']}/approve", headers=manager.headers)
    assert r.status_code == 403 and r.json()["code"] != "campaign_self_approval"
    assert (await client.get("/v1/admin/campaigns")).status_code == 401
    assert (await client.get("/v1/admin/campaigns", headers=reader.headers)).status_code == 200


BAD: list[tuple[dict[str, Any], str]] = [
    ({"variants": [{"code": "A", "percent": 60}, {"code": "B", "percent": 30}]},
     "variant_split_not_100"),
    ({"variants": [{"code": "A", "percent": 50}, {"code": "A", "percent": 50}]},
     "variant_codes_repeated"),
    ({"variants": []}, "too_short"),
    ({"variants": [{"code": "a", "percent": 100}]}, "string_pattern_mismatch"),
    ({"throttle_per_minute": 0}, "greater_than_equal"),
    ({"throttle_per_minute": 10**30}, "less_than_equal"),
    ({"channel": "pigeon"}, "enum"),
    ({"name": "Bad\x00name"}, "invalid_character"),
    ({"data": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {}}}}}}}}}}},
     "invalid_json_value"),
    ({"attribution_days": 4000}, "less_than_equal"),
    ({"send_at": "tomorrow"}, "datetime_from_date_parsing"),
    ({"send_at": "2026-12-01T10:00:00"}, "timezone_aware"),  # whose ten o'clock?
]


@pytest.mark.parametrize(("change", "code"), BAD)
async def test_bad_campaigns_are_refused(client: httpx.AsyncClient, session: AsyncSession,
                                         settings: Settings, change: dict[str, Any],
                                         code: str) -> None:
    maker = await admin_with(client, session, settings, *ALL)
    segment = await make_segment(session, [])
    body = {"name": "ok", "segment_id": str(segment), "channel": "inbox",
            "template_code": "promo", **change}
    r = await client.post("/v1/admin/campaigns", headers=maker.headers, json=body)
    assert r.status_code == 422, r.text
    assert code in {e["code"] for e in r.json()["errors"]}, r.json()
    page = (await client.get("/v1/admin/campaigns", headers=maker.headers)).json()
    assert all(c["segment_id"] != str(segment) for c in page["items"])


async def test_a_template_that_cannot_send_is_refused(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    admin = await admin_with(client, session, settings, *ALL)
    segment = str(await make_segment(session, []))
    sms = await make_template(session, channels=("sms",))
    base = {"name": "x", "segment_id": segment, "channel": "sms", "template_code": sms,
            "data": {"name": "you"}}
    for change, field in (({"template_code": "nowhere"}, "template_code"),
                          ({"channel": "push"}, "channel"),
                          ({"data": {}}, "data"),
                          ({"variants": [{"code": "A", "percent": 100,
                                          "template_code": "nowhere"}]}, "template_code")):
        r = await client.post("/v1/admin/campaigns", headers=admin.headers,
                              json={**base, **change})
        assert r.status_code == 422, r.text
        assert (r.json()["code"], r.json()["field"]) == ("campaign_template_refused", field)
    r = await client.post("/v1/admin/campaigns", headers=admin.headers, json=base)
    assert r.status_code == 201
    r = await client.patch(f"/v1/admin/campaigns/{r.json()['id']}", headers=admin.headers,
                           json={"data": {"other": 1}})
    assert r.status_code == 422 and r.json()["code"] == "campaign_template_refused"
    page = (await client.get("/v1/admin/campaigns", headers=admin.headers)).json()
    assert [c["data"] for c in page["items"] if c["segment_id"] == segment] == [{"name": "you"}]


async def test_unknown_ids_are_404s(client: httpx.AsyncClient, session: AsyncSession,
                                    settings: Settings) -> None:
    admin = await admin_with(client, session, settings, *ALL)
    missing = "01900000-0000-7000-8000-000000000000"
    r = await client.post("/v1/admin/campaigns", headers=admin.headers, json={
        "name": "x", "segment_id": missing, "channel": "inbox", "template_code": "promo"})
    assert (r.status_code, r.json()["code"]) == (404, "segment_not_found")
    for method, path in (("GET", f"/v1/admin/campaigns/{missing}"),
                         ("GET", f"/v1/admin/campaigns/{missing}/results"),
                         ("GET", f"/v1/admin/campaigns/{missing}/assignments"),
                         ("POST", f"/v1/admin/campaigns/{missing}/pause"),
                         ("GET", f"/v1/admin/segments/{missing}/count")):
        r = await client.request(method, path, headers=admin.headers)
        assert r.status_code == 404, (path, r.text)
    r = await client.get("/v1/admin/campaigns?cursor=nope", headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_cursor")


async def test_results_and_assignments_over_http(client: httpx.AsyncClient,
                                                 session: AsyncSession,
                                                 settings: Settings) -> None:
    clock.freeze(START)
    settings.campaign_approval_required = False
    admin = await admin_with(client, session, settings, *ALL)
    users = [await make_user(session, city="Nashik") for _ in range(5)]
    segment = await make_segment(session, [{"type": "city", "city": "Nashik"}])
    r = await client.post("/v1/admin/campaigns", headers=admin.headers, json={
        "name": "Nashik", "segment_id": str(segment), "channel": "inbox",
        "template_code": await make_template(session), "data": {"name": "you"},
        "variants": [{"code": "A", "percent": 50}, {"code": "B", "percent": 50}]})
    cid = r.json()["id"]
    await client.post(f"/v1/admin/campaigns/{cid}/schedule", headers=admin.headers)
    await service.start_due(session)
    batch = await service.send_batch(session, uuid.UUID(cid), chunk=100)
    assert batch.finished and batch.reached >= 5
    r = await client.get(f"/v1/admin/campaigns/{cid}/results", headers=admin.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "sent"
    assert sum(v["recipients"] for v in body["variants"]) == batch.reached
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        url = f"/v1/admin/campaigns/{cid}/assignments?limit=2"
        r = await client.get(url + (f"&cursor={cursor}" if cursor else ""),
                             headers=admin.headers)
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == batch.reached and {str(u) for u in users} <= {a["user_id"] for a in seen}
    assert [a["user_id"] for a in seen] == sorted((a["user_id"] for a in seen), reverse=True)
