"""The rewards API: rules and campaigns written by the back office (audited, permissioned),
a real order completed over HTTP and explained to its user and to admins, the dry run, app
events once per key, and users' reward pages."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.kit.security import Subject
from tests.helpers.offers import Actors
from tests.helpers.problems import assert_problem
from tests.helpers.state import changed, fingerprint
from tests.orders.support import fund, make_shop, order_body
from tests.rewards.support import balances

pytestmark = pytest.mark.usefixtures("assets")
RULES = "/v1/admin/rewards/rules"


def rule_body(**values: Any) -> dict[str, Any]:
    body = {"name": "Flat 50", "trigger": "order_completed", "kind": "fixed", "value": 50,
            "asset_code": "REZ"}
    body.update(values)
    return body


async def test_rules_are_written_versioned_paused_and_audited(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    manage, read = actors.admin("rewards.manage"), actors.admin("rewards.read")
    r = await client.post(RULES, json=rule_body(), headers=read)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await client.post(RULES, json=rule_body(caps=[{"period": "day", "count": 1}],
                                                conditions={"hours": [{"from": 9, "to": 21}],
                                                            "days": [1, 2, 3, 4, 5]}),
                          headers=manage)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert (rule["version"], rule["hold_days"], rule["funding"]) == (1, 7, "platform")
    r = await client.put(f"{RULES}/{rule['id']}", json=rule_body(value=75), headers=manage)
    assert (r.status_code, r.json()["version"], r.json()["value"]) == (200, 2, 75)
    r = await client.post(f"{RULES}/{rule['id']}/pause", headers=manage)
    assert r.json()["status"] == "paused"
    r = await client.get(f"{RULES}/{rule['id']}", headers=read)
    assert (r.json()["status"], r.json()["version"]) == ("paused", 2)
    r = await client.get(RULES, params={"status": "paused", "limit": 1}, headers=read)
    assert [x["id"] for x in r.json()["items"]] == [rule["id"]]
    versions = await session.scalar(text(
        "SELECT count(*) FROM reward_rule_versions WHERE rule_id = :r"), {"r": rule["id"]})
    audited = await session.scalar(text(
        "SELECT count(*) FROM audit_log WHERE entity_id = :r"), {"r": rule["id"]})
    assert (versions, audited) == (2, 3)


@pytest.mark.parametrize(("change", "field"), [
    ({"asset_code": "NOPE"}, "asset_code"),
    ({"kind": "cashback", "value": 100}, "asset_code"),
    ({"funding": "merchant"}, "funder_merchant_id"),
    ({"timezone": "Mars/Olympus"}, None),
    ({"caps": [{"period": "day"}]}, None),
    ({"value": 0}, None),
    ({"conditions": {"hours": [{"from": 20, "to": 8}]}}, None),
    ({"conditions": {"bogus": 1}}, None),
    ({"name": "a\x00b"}, None),
    ({"campaign_id": str(uuid.UUID(int=1))}, "campaign_id"),
])
async def test_bad_rules_are_refused(client: httpx.AsyncClient, actors: Actors,
                                     change: dict[str, Any], field: str | None) -> None:
    r = await client.post(RULES, json=rule_body(**change), headers=actors.admin("rewards.manage"))
    assert r.status_code in (404, 422), r.text
    if field is not None:
        assert field in r.text


async def test_campaigns(client: httpx.AsyncClient, actors: Actors) -> None:
    manage = actors.admin("rewards.manage", "rewards.read")
    start = clock.now().isoformat()
    r = await client.post("/v1/admin/rewards/campaigns", headers=manage, json={
        "name": "Diwali", "asset_code": "REZ", "starts_at": start, "budget": 500,
        "per_user_limit": 2})
    assert r.status_code == 201, r.text
    campaign = r.json()
    assert (campaign["status"], campaign["spent"]) == ("draft", 0)
    url = f"/v1/admin/rewards/campaigns/{campaign['id']}"
    r = await client.patch(url, headers=manage, json={"status": "active", "budget": 800})
    assert (r.json()["status"], r.json()["budget"]) == ("active", 800)
    r = await client.patch(url, headers=manage, json={"ends_at": start})
    assert r.status_code == 422
    r = await client.get("/v1/admin/rewards/campaigns", params={"status": "active"},
                         headers=manage)
    assert campaign["id"] in [c["id"] for c in r.json()]


async def test_times_without_an_offset_are_refused_and_named(
        client: httpx.AsyncClient, actors: Actors, connection: AsyncConnection) -> None:
    manage = actors.admin("rewards.manage", "rewards.read")
    r = await client.post("/v1/admin/rewards/campaigns", headers=manage, json={
        "name": "Diwali", "asset_code": "REZ", "starts_at": clock.now().isoformat()})
    assert r.status_code == 201, r.text
    url = f"/v1/admin/rewards/campaigns/{r.json()['id']}"
    before = await fingerprint(connection)
    # Compared with the campaign's own times, which have one, a naive time was a 500.
    for method, path, body, field in [
            ("PATCH", url, {"ends_at": "9999-12-31"}, "ends_at"),
            ("POST", "/v1/admin/rewards/campaigns",
             {"name": "Holi", "asset_code": "REZ", "starts_at": clock.now().isoformat(),
              "ends_at": "2099-01-01T00:00:00"}, "ends_at"),
            ("POST", RULES, rule_body(conditions={"starts_at": "2030-01-01T10:00:00"}),
             "conditions.starts_at"),
            ("POST", "/v1/admin/rewards/dry-run", {"trigger": "order_completed",
                                                   "at": "2030-01-01T10:00:00"}, "at")]:
        r = await client.request(method, path, json=body, headers=manage)
        assert_problem(r, 422, "validation_error", field)
    assert changed(before, await fingerprint(connection)) == []


async def test_an_order_completed_over_http_is_explained(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    manage = actors.admin("rewards.manage")
    shop = await make_shop(session)
    for body in (rule_body(name="Wallet bonus", trigger="payment_method", value=30,
                           conditions={"payment_methods": ["WALLET"]}),
                 rule_body(name="Gateway bonus", trigger="payment_method", value=30,
                           conditions={"payment_methods": ["GATEWAY"]}),
                 rule_body(name="Big orders", value=99, conditions={"min_amount": 100_000}),
                 rule_body(name="This shop", kind="percent", value=500,
                           conditions={"merchant_ids": [str(shop.merchant_id)],
                                       "cities": ["Mumbai"]}),
                 rule_body(name="Sign-up", trigger="sign_up", value=100)):
        assert (await client.post(RULES, json=body, headers=manage)).status_code == 201
    user = uuid7()
    await fund(session, user, "INR", 100_000)
    me = actors.user(user)
    r = await client.post("/v1/orders", json=order_body(shop, (shop.dosa, 1)), headers=me)
    assert r.status_code == 201, r.text
    order = r.json()
    staff = actors.merchant(shop.merchant_id)
    for action in ("confirm", "ready", "complete"):
        r = await client.post(f"/v1/merchant/orders/{order['id']}/advance",
                              json={"action": action}, headers=staff)
        assert r.status_code == 200, (action, r.text)
    r = await client.get(f"/v1/me/orders/{order['id']}/rewards", headers=me)
    assert r.status_code == 200, r.text
    got = {d["rule_name"]: (d["applied"], d["reason"], d["amount"])
           for d in r.json()["decisions"]}
    # ₹210.00 (₹200 and 5 % tax): 5 % of it is 10 coins.
    assert got == {"Wallet bonus": (True, None, 30),
                   "Gateway bonus": (False, "payment_method_excluded", 0),
                   "Big orders": (False, "below_min_amount", 0),
                   "This shop": (True, None, 10)}
    assert await balances(session, user, "REZ") == (0, 40)
    r = await client.get(f"/v1/me/orders/{order['id']}/rewards",
                         headers=actors.user(uuid7()))
    assert r.status_code == 404
    admin_url = f"/v1/admin/orders/{order['id']}/rewards"
    assert (await client.get(admin_url, headers=actors.admin("orders.read"))).status_code == 403
    r = await client.get(admin_url, headers=actors.admin("rewards.read"))
    assert len(r.json()["decisions"]) == 4
    r = await client.get("/v1/me/rewards", params={"limit": 1}, headers=me)
    page = r.json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    r = await client.get("/v1/me/rewards", params={"cursor": page["next_cursor"]}, headers=me)
    assert len(r.json()["items"]) == 1 and r.json()["next_cursor"] is None
    # A whole refund takes both rewards back from pending.
    r = await client.post(f"/v1/admin/orders/{order['id']}/refunds", headers=actors.admin(
        "orders.refund", "orders.read"), json={"amount": order["total"], "reason": "spilt"})
    assert r.status_code == 201, r.text
    assert await balances(session, user, "REZ") == (0, 0)
    r = await client.get("/v1/admin/rewards", params={"user_id": str(user),
                                                      "status": "reversed"},
                         headers=actors.admin("rewards.read"))
    assert len(r.json()["items"]) == 2


async def test_the_dry_run_writes_nothing(client: httpx.AsyncClient, actors: Actors,
                                          session: AsyncSession) -> None:
    manage = actors.admin("rewards.manage", "rewards.read")
    await client.post(RULES, json=rule_body(name="Weekend", kind="percent", value=1_000,
                                            conditions={"days": [6, 7]}), headers=manage)
    await client.post(RULES, json=rule_body(name="Gold", value=5,
                                            conditions={"tier_codes": ["gold"]}),
                      headers=manage)
    count = "SELECT (SELECT count(*) FROM rewards) + (SELECT count(*) FROM reward_evaluations)"
    before = await session.scalar(text(count))
    saturday = dt.datetime(2026, 12, 12, 6, 0, tzinfo=dt.UTC)
    r = await client.post("/v1/admin/rewards/dry-run", headers=manage, json={
        "trigger": "order_completed", "amount": 20_000, "at": saturday.isoformat(),
        "tier_code": "gold"})
    assert r.status_code == 200, r.text
    got = {d["rule_name"]: (d["applied"], d["reason"], d["amount"])
           for d in r.json()["decisions"]}
    assert got == {"Weekend": (True, None, 20), "Gold": (True, None, 5)}
    r = await client.post("/v1/admin/rewards/dry-run", headers=manage, json={
        "trigger": "order_completed", "amount": 20_000,
        "at": (saturday - dt.timedelta(days=2)).isoformat()})
    got = {d["rule_name"]: d["reason"] for d in r.json()["decisions"]}
    assert got == {"Weekend": "day_or_hour_excluded", "Gold": "tier_excluded"}
    assert await session.scalar(text(count)) == before


async def test_app_events_pay_once_per_key(client: httpx.AsyncClient, actors: Actors,
                                           session: AsyncSession) -> None:
    await client.post(RULES, json=rule_body(name="10k steps", trigger="app_event", value=10,
                                            asset_code="FITCOIN",
                                            conditions={"event_names": ["steps_10k"]}),
                      headers=actors.admin("rewards.manage"))
    user = uuid7()
    body = {"user_id": str(user), "name": "steps_10k", "key": "2026-12-09",
            "data": {"steps": 10_412, "amount": "lots", "merchant_id": "nope"}}
    r = await client.post("/v1/rewards/events", json=body, headers=actors.user(user))
    assert r.status_code == 403
    service = actors.headers(Subject("service", uuid7(), frozenset({"rewards.events"})))
    r = await client.post("/v1/rewards/events", json=body, headers=service)
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], [x["amount"] for x in r.json()["rewards"]]) == (True, [10])
    r = await client.post("/v1/rewards/events", json=body, headers=service)
    assert (r.json()["accepted"], r.json()["rewards"]) == (False, [])
    assert await balances(session, user, "FITCOIN") == (10, 0)
    other = {**body, "name": "quiz", "key": "q1"}
    r = await client.post("/v1/rewards/events", json=other, headers=service)
    assert (r.json()["accepted"], r.json()["rewards"]) == (True, [])


async def test_debts_are_listed_for_admins(client: httpx.AsyncClient, actors: Actors) -> None:
    r = await client.get("/v1/admin/rewards/debts", params={"status": "open"},
                         headers=actors.admin("rewards.read"))
    assert r.status_code == 200 and "items" in r.json()
    r = await client.get("/v1/admin/rewards/debts", params={"status": "nope"},
                         headers=actors.admin("rewards.read"))
    assert r.status_code == 422
    r = await client.get("/v1/me/rewards", params={"cursor": "x"},
                         headers=actors.user(uuid7()))
    assert (r.status_code, r.json()["code"]) == (422, "invalid_cursor")
