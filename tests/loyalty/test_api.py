"""Tiers and privé over HTTP: the public lists, my tier with its progress, my privé
subscription and its cancelling, and the back office's tiers, users' standing (with a tier
set by hand), plans and partners; every write audited, every refusal a problem."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.loyalty import service
from tests.helpers.offers import Actors, live_merchant
from tests.helpers.problems import assert_problem
from tests.loyalty.support import SILVER, complete_order, count, settle_payment

pytestmark = pytest.mark.usefixtures("ladder")
T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
READ, MANAGE = "loyalty.read", "loyalty.manage"
PLAN = {"code": "prive_monthly", "name": "Privé monthly", "price": 19_900,
        "multiplier_bp": 15_000, "discount_bp": 1_000}


async def test_tiers_and_my_tier(client: httpx.AsyncClient, actors: Actors,
                                 session: AsyncSession) -> None:
    clock.freeze(T0)
    r = await client.get("/v1/tiers")
    assert r.status_code == 200
    assert [(t["code"], t["rank"], t["threshold"]) for t in r.json()] == [
        ("basic", 0, 0), ("silver", 1, SILVER), ("gold", 2, 500_000)]

    user = uuid.uuid4()
    await complete_order(session, user, 40_000)
    r = await client.get("/v1/me/tier", headers=actors.user(user))
    assert r.status_code == 200, r.text
    mine = r.json()
    assert (mine["code"], mine["value"], mine["multiplier_bp"]) == ("basic", 40_000, 10_000)
    assert (mine["next"]["code"], mine["next"]["left"]) == ("silver", 60_000)
    await complete_order(session, user, 60_000)
    mine = (await client.get("/v1/me/tier", headers=actors.user(user))).json()
    assert (mine["code"], mine["benefits"], mine["period_end"]) == (
        "silver", ["1.25x coins"], "2026-03-31T10:00:00Z")
    assert (mine["next"]["code"], mine["next"]["left"]) == ("gold", 400_000)

    assert_problem(await client.get("/v1/me/tier"), 401, "unauthorized")
    assert_problem(await client.get("/v1/me/tier", headers=actors.admin()), 403, "forbidden")


async def test_admin_tiers(client: httpx.AsyncClient, actors: Actors,
                           session: AsyncSession) -> None:
    admin = actors.admin(READ, MANAGE)
    audited = await count(session, "audit_log", "action LIKE 'loyalty_tier.%'")
    body = {"code": "platinum", "name": "Platinum", "rank": 3, "threshold": 1_000_000,
            "multiplier_bp": 20_000, "benefits": ["2x coins"], "grace_days": 10}
    r = await client.post("/v1/admin/loyalty/tiers", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert (r.json()["window_days"], r.json()["metric"]) == (365, "spent")
    assert_problem(await client.post("/v1/admin/loyalty/tiers", json=body, headers=admin),
                   409, "tier_exists", "code")
    assert_problem(await client.post("/v1/admin/loyalty/tiers", headers=admin, json={
        **body, "code": "x" * 41}), 422, "validation_error", "code")
    assert_problem(await client.post("/v1/admin/loyalty/tiers", headers=admin, json={
        **body, "code": "other", "threshold": 2**70}), 422, "validation_error", "threshold")
    assert_problem(await client.post("/v1/admin/loyalty/tiers", headers=admin, json={
        **body, "code": "other", "metric": "balance"}), 422, "validation_error", "metric")

    r = await client.patch("/v1/admin/loyalty/tiers/platinum", headers=admin,
                           json={"threshold": 900_000, "active": False})
    assert r.status_code == 200 and (r.json()["threshold"], r.json()["active"]) == (
        900_000, False)
    assert "platinum" not in [t["code"] for t in (await client.get("/v1/tiers")).json()]
    listed = (await client.get("/v1/admin/loyalty/tiers", headers=admin)).json()
    assert [t["code"] for t in listed][-1] == "platinum"
    assert_problem(await client.patch("/v1/admin/loyalty/tiers/nope", headers=admin,
                                      json={"threshold": 1}), 404, "tier_not_found")
    assert_problem(await client.patch("/v1/admin/loyalty/tiers/basic", headers=admin,
                                      json={"active": False}), 422, "invalid_tier", "active")
    assert await count(session, "audit_log", "action LIKE 'loyalty_tier.%'") == audited + 2

    reader = actors.admin(READ)
    assert_problem(await client.post("/v1/admin/loyalty/tiers", json=body, headers=reader),
                   403, "forbidden")
    assert_problem(await client.patch("/v1/admin/loyalty/tiers/gold", json={"threshold": 1},
                                      headers=reader), 403, "forbidden")
    assert_problem(await client.get("/v1/admin/loyalty/tiers", headers=actors.admin(
        "orders.read")), 403, "forbidden")
    assert_problem(await client.get("/v1/admin/loyalty/tiers"), 401, "unauthorized")
    assert_problem(await client.get("/v1/admin/loyalty/tiers",
                                    headers=actors.user(uuid.uuid4())), 403, "forbidden")


async def test_admin_user_standing_and_manual_tier(client: httpx.AsyncClient, actors: Actors,
                                                   session: AsyncSession) -> None:
    clock.freeze(T0)
    admin = actors.admin(READ, MANAGE)
    user = uuid.uuid4()
    await complete_order(session, user, SILVER)
    r = await client.get(f"/v1/admin/loyalty/users/{user}", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["tier"]["code"] == "silver"
    assert [(c["to_tier"], c["reason"]) for c in r.json()["history"]] == [("silver", "upgrade")]

    r = await client.post(f"/v1/admin/loyalty/users/{user}/tier", headers=admin,
                          json={"tier_code": "gold", "reason": "Goodwill"})
    assert r.status_code == 200, r.text
    assert r.json()["tier"]["code"] == "gold"
    assert r.json()["history"][0]["reason"] == "manual: Goodwill"
    assert r.json()["history"][0]["actor_id"] is not None
    assert (await service.tier_of(session, user)).code == "gold"
    assert await count(session, "audit_log", "action = 'user_loyalty.set_tier'") == 1
    assert_problem(await client.post(f"/v1/admin/loyalty/users/{user}/tier", headers=admin,
                                     json={"tier_code": "nope", "reason": "x"}),
                   404, "tier_not_found", "tier_code")
    assert_problem(await client.post(f"/v1/admin/loyalty/users/{user}/tier", headers=admin,
                                     json={"tier_code": "gold", "reason": "a\u0000b"}),
                   422, "validation_error", "reason")
    reader = actors.admin(READ)
    assert_problem(await client.post(f"/v1/admin/loyalty/users/{user}/tier", headers=reader,
                                     json={"tier_code": "gold", "reason": "x"}),
                   403, "forbidden")
    assert_problem(await client.get(f"/v1/admin/loyalty/users/{user}",
                                    headers=actors.admin("orders.read")), 403, "forbidden")
    assert_problem(await client.get("/v1/admin/loyalty/users/not-a-uuid", headers=admin),
                   422, "validation_error")


async def test_prive_plans_and_my_subscription(client: httpx.AsyncClient, actors: Actors,
                                               session: AsyncSession) -> None:
    clock.freeze(T0)
    admin = actors.admin(READ, MANAGE)
    r = await client.post("/v1/admin/prive/plans", json=PLAN, headers=admin)
    assert r.status_code == 201, r.text
    assert (r.json()["period_days"], r.json()["partners"]) == (30, [])
    assert_problem(await client.post("/v1/admin/prive/plans", json=PLAN, headers=admin),
                   409, "prive_plan_exists", "code")
    assert_problem(await client.post("/v1/admin/prive/plans", headers=admin, json={
        **PLAN, "code": "other", "price": 0}), 422, "validation_error", "price")
    assert_problem(await client.post("/v1/admin/prive/plans", headers=admin, json={
        **PLAN, "code": "other", "discount_bp": 10_001}), 422, "validation_error",
        "discount_bp")
    merchant, _ = await live_merchant(session)
    r = await client.put("/v1/admin/prive/plans/prive_monthly/partners", headers=admin,
                         json={"merchant_id": str(merchant), "discount_bp": 1_500})
    assert r.status_code == 200, r.text
    assert r.json()["partners"] == [{"merchant_id": str(merchant), "discount_bp": 1_500,
                                     "multiplier_bp": 15_000}]
    assert_problem(await client.put("/v1/admin/prive/plans/prive_monthly/partners",
                                    headers=admin, json={"merchant_id": str(uuid.uuid4())}),
                   422, "invalid_prive_partner", "merchant_id")
    assert_problem(await client.put("/v1/admin/prive/plans/nope/partners", headers=admin,
                                    json={"merchant_id": str(merchant)}),
                   404, "prive_plan_not_found")
    assert await count(session, "audit_log", "action LIKE 'prive_plan.%'") == 2
    public = (await client.get("/v1/prive/plans")).json()
    assert [(p["code"], len(p["partners"])) for p in public] == [("prive_monthly", 1)]
    assert len((await client.get("/v1/admin/prive/plans", headers=admin)).json()) == 1

    user = uuid.uuid4()
    me = actors.user(user)
    assert (await client.get("/v1/me/prive", headers=me)).json() == {"subscription": None}
    sub, payment_id = await service.subscribe(session, user, "prive_monthly")
    await settle_payment(session, payment_id, "succeeded")
    mine = (await client.get("/v1/me/prive", headers=me)).json()["subscription"]
    assert (mine["id"], mine["status"], mine["plan_code"]) == (
        str(sub.id), "active", "prive_monthly")
    r = await client.post(f"/v1/me/prive/subscriptions/{sub.id}/cancel", headers=me)
    assert r.status_code == 200 and (r.json()["status"], r.json()["auto_renew"]) == (
        "active", False)
    assert_problem(await client.post(f"/v1/me/prive/subscriptions/{uuid.uuid4()}/cancel",
                                     headers=me), 404, "prive_subscription_not_found")
    subs = (await client.get(f"/v1/admin/prive/users/{user}/subscriptions",
                             headers=actors.admin(READ))).json()
    assert [s["id"] for s in subs] == [str(sub.id)]

    for method, path in (("POST", "/v1/me/prive/subscriptions"),
                         ("GET", "/v1/me/prive"),
                         ("POST", f"/v1/me/prive/subscriptions/{sub.id}/cancel")):
        assert_problem(await client.request(method, path, json={"plan_code": "prive_monthly"}),
                       401, "unauthorized")
        assert_problem(await client.request(method, path, json={"plan_code": "prive_monthly"},
                                            headers=admin), 403, "forbidden")
    reader = actors.admin(READ)
    assert_problem(await client.post("/v1/admin/prive/plans", json=PLAN, headers=reader),
                   403, "forbidden")
    assert_problem(await client.put("/v1/admin/prive/plans/prive_monthly/partners",
                                    headers=reader, json={"merchant_id": str(merchant)}),
                   403, "forbidden")
    assert_problem(await client.get(f"/v1/admin/prive/users/{user}/subscriptions",
                                    headers=actors.admin("orders.read")), 403, "forbidden")
    assert_problem(await client.get("/v1/admin/prive/plans"), 401, "unauthorized")
