"""An order's life over HTTP: the merchant moves it on, the user cancels in time, the platform
refunds over the tenders that paid; every illegal move is 409 invalid_transition and changes
nothing, and every status change leaves one history row."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import clock, events
from gullak.kit.errors import Forbidden
from gullak.kit.security import Subject
from gullak.ledger.verify import verify
from gullak.merchants import service as merchants
from gullak.merchants.schemas import CommissionIn
from gullak.orders import flows
from tests.helpers.catalog import merchant_subject
from tests.helpers.offers import Actors, make_offer
from tests.helpers.problems import assert_problem
from tests.orders.support import (
    Shop,
    fund,
    merchant_balance,
    order_body,
    platform_balance,
    state,
    stock,
    wallet,
)

ADDRESS = {"line1": "4 Residency Road", "city": "Bengaluru"}


async def place(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
                ) -> dict[str, Any]:
    r = await client.post("/v1/orders", json=body, headers=headers)
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()
    return order


async def advance(client: httpx.AsyncClient, headers: dict[str, str], order_id: str,
                  *actions: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for action in actions:
        r = await client.post(f"/v1/merchant/orders/{order_id}/advance",
                              json={"action": action}, headers=headers)
        assert r.status_code == 200, (action, r.text)
        out = r.json()
    return out


async def test_a_purchase_completes_books_commission_and_refunds_in_proportion(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    await merchants.add_commission(session, shop.merchant_id, CommissionIn(
        rate_bps=1_000, valid_from=clock.now() - dt.timedelta(days=1)), None)
    user = uuid.uuid4()
    await fund(session, user, "REZ", 1_000)
    await fund(session, user, "INR", 100_000)
    me, staff = actors.user(user), actors.merchant(shop.merchant_id)
    order = await place(client, me, order_body(shop, (shop.dosa, 1)))  # 210.00: 42 REZ + 168.00
    done = await advance(client, staff, order["id"], "confirm", "ready", "complete")
    assert done["status"] == "completed"
    assert [t["commission"] for t in done["tenders"]] == [4, 1_680]
    assert await merchant_balance(session, shop.merchant_id, "REZ") == 42 - 4
    assert await platform_balance(session, "INR", "commission_revenue") == 1_680

    admin = actors.admin("orders.refund")
    r = await client.post(f"/v1/admin/orders/{order['id']}/refunds",
                          json={"amount": 10_500, "reason": "cold dosa"}, headers=admin)
    assert r.status_code == 201, r.text
    # Half back: 21 REZ (21.00) and 84.00 cash, in proportion to what each paid.
    assert [(p["asset_code"], p["amount"]) for p in r.json()["tenders"]] == [
        ("REZ", 21), ("INR", 8_400)]
    assert r.json()["order"]["status"] == "partially_refunded"
    assert await wallet(session, user, "REZ") == (1_000 - 42 + 21, 0)
    assert await wallet(session, user, "INR") == (100_000 - 16_800 + 8_400, 0)

    before_over = await session.scalar(text("SELECT count(*) FROM ledger_transfers"))
    over = await client.post(f"/v1/admin/orders/{order['id']}/refunds",
                             json={"amount": 10_501, "reason": "too much"}, headers=admin)
    assert_problem(over, 422, "refund_exceeds_paid", "amount")
    assert await session.scalar(text("SELECT count(*) FROM ledger_transfers")) == before_over

    r = await client.post(f"/v1/admin/orders/{order['id']}/refunds",
                          json={"amount": 10_500, "reason": "the rest"}, headers=admin)
    assert r.status_code == 201, r.text
    final = r.json()["order"]
    assert (final["status"], final["refunded"]) == ("refunded", 21_000)
    assert [(t["refunded"], t["captured"]) for t in final["tenders"]] == [(42, 42),
                                                                          (16_800, 16_800)]
    # Everything is back where it started, commission included.
    assert await wallet(session, user, "REZ") == (1_000, 0)
    assert await wallet(session, user, "INR") == (100_000, 0)
    assert await merchant_balance(session, shop.merchant_id, "INR") == 0
    assert await platform_balance(session, "INR", "commission_revenue") == 0
    assert [(e["from_status"], e["to_status"]) for e in final["events"]] == [
        (None, "created"), ("created", "paid"), ("paid", "confirmed"), ("confirmed", "ready"),
        ("ready", "completed"), ("completed", "partially_refunded"),
        ("partially_refunded", "refunded")]
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]


async def test_illegal_moves_are_refused_and_change_nothing(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    user = uuid.uuid4()
    await fund(session, user, "INR", 100_000)
    await fund(session, user, "FITCOIN", 1_000)
    me, staff = actors.user(user), actors.merchant(shop.merchant_id)
    pickup = await place(client, me, order_body(shop, (shop.dosa, 1)))
    reward = await place(client, me, order_body(shop, (shop.mat, 1), fulfilment="delivery",
                                                delivery_address=ADDRESS))
    await advance(client, staff, reward["id"], "confirm", "ship")
    before = await state(connection)
    for order_id, action in ((pickup["id"], "complete"), (pickup["id"], "deliver"),
                             (pickup["id"], "ship"), (reward["id"], "confirm"),
                             (reward["id"], "complete")):
        r = await client.post(f"/v1/merchant/orders/{order_id}/advance",
                              json={"action": action}, headers=staff)
        assert_problem(r, 409, "invalid_transition")
    too_late = await client.post(f"/v1/orders/{reward['id']}/cancel", headers=me)
    assert_problem(too_late, 409, "invalid_transition")
    not_done = await client.post(f"/v1/admin/orders/{pickup['id']}/refunds",
                                 json={"amount": 100, "reason": "x"},
                                 headers=actors.admin("orders.refund"))
    assert_problem(not_done, 409, "invalid_transition")
    assert await state(connection) == before


async def test_cancelling_gives_everything_back(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    user = uuid.uuid4()
    await fund(session, user, "FITCOIN", 1_000)
    await fund(session, user, "INR", 100_000)
    me = actors.user(user)
    reward = await place(client, me, order_body(shop, (shop.mat, 1), fulfilment="delivery",
                                                delivery_address=ADDRESS))
    paid = await place(client, me, order_body(shop, (shop.dosa, 2),
                                              tenders=[{"asset_code": "INR"}]))
    assert paid["status"] == "paid"
    assert await wallet(session, user, "FITCOIN") == (1_000, 500)
    for order in (reward, paid):
        r = await client.post(f"/v1/orders/{order['id']}/cancel", json={"reason": "changed mind"},
                              headers=me)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        assert r.json()["events"][-1]["reason"] == "changed mind"
    assert await wallet(session, user, "FITCOIN") == (1_000, 0)  # released, never spent
    assert await wallet(session, user, "INR") == (100_000, 0)  # captured, then refunded
    assert await merchant_balance(session, shop.merchant_id, "INR") == 0
    again = await client.post(f"/v1/orders/{paid['id']}/cancel", headers=me)
    assert_problem(again, 409, "invalid_transition")


async def test_a_reward_order_captures_on_delivery(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    user = uuid.uuid4()
    await fund(session, user, "FITCOIN", 1_000)
    staff = actors.merchant(shop.merchant_id)
    order = await place(client, actors.user(user), order_body(
        shop, (shop.mat, 1), fulfilment="delivery", delivery_address=ADDRESS))
    shipped = await advance(client, staff, order["id"], "confirm", "ship")
    assert shipped["tenders"][0]["status"] == "held"
    assert await wallet(session, user, "FITCOIN") == (1_000, 500)
    delivered = await advance(client, staff, order["id"], "deliver")
    assert delivered["tenders"][0]["status"] == "captured"
    assert await wallet(session, user, "FITCOIN") == (500, 0)
    assert await merchant_balance(session, shop.merchant_id, "FITCOIN") == 500


async def test_orders_are_seen_by_their_user_merchant_and_the_platform_only(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    user = uuid.uuid4()
    await fund(session, user, "INR", 100_000)
    me = actors.user(user)
    first = await place(client, me, order_body(shop, (shop.dosa, 1)))
    second = await place(client, me, order_body(shop, (shop.tea, 1)))
    page = (await client.get("/v1/orders?limit=1", headers=me)).json()
    assert [o["id"] for o in page["items"]] == [second["id"]]  # newest first
    rest = (await client.get(f"/v1/orders?limit=1&cursor={page['next_cursor']}",
                             headers=me)).json()
    assert [o["id"] for o in rest["items"]] == [first["id"]] and rest["next_cursor"] is None
    other_user = actors.user(uuid.uuid4())
    other_staff = actors.merchant(uuid.uuid4())
    for headers in (other_user, other_staff):
        assert_problem(await client.get(f"/v1/orders/{first['id']}", headers=headers), 404,
                       "order_not_found")
    assert_problem(await client.post(f"/v1/merchant/orders/{first['id']}/advance",
                                     json={"action": "confirm"}, headers=other_staff),
                   404, "order_not_found")
    mine = (await client.get("/v1/merchant/orders",
                             headers=actors.merchant(shop.merchant_id))).json()
    assert {o["id"] for o in mine["items"]} == {first["id"], second["id"]}
    assert (await client.get("/v1/merchant/orders", headers=other_staff)).json()["items"] == []
    assert_problem(await client.get("/v1/admin/orders", headers=actors.admin("offers.read")),
                   403, "forbidden")
    seen = (await client.get(f"/v1/admin/orders?user_id={user}",
                             headers=actors.admin("orders.read"))).json()
    assert len(seen["items"]) == 2


async def test_an_unpaid_order_is_cancelled_after_its_window(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    user = uuid.uuid4()
    await fund(session, user, "REZ", 1_000)
    order = await place(client, actors.user(user), order_body(shop, (shop.dosa, 2)))
    assert order["status"] == "awaiting_payment"
    assert await wallet(session, user, "REZ") == (1_000, 84)
    assert await stock(session, shop.dosa) == (10, 2)
    assert await flows.expire_unpaid(session) == 0  # not yet
    clock.advance(dt.timedelta(minutes=31))
    assert await flows.expire_unpaid(session) == 1
    assert await wallet(session, user, "REZ") == (1_000, 0)
    assert await stock(session, shop.dosa) == (10, 0)
    status = await session.scalar(text("SELECT status FROM orders WHERE id = :i"),
                                  {"i": order["id"]})
    assert status == "cancelled"


async def test_the_gateway_part_settles_on_payment_succeeded(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    user = uuid.uuid4()
    await fund(session, user, "REZ", 1_000)
    order = await place(client, actors.user(user), order_body(shop, (shop.dosa, 1)))
    gateway = order["tenders"][-1]
    assert (gateway["kind"], gateway["amount"]) == ("gateway", 21_000 - 4_200)
    event = {"payment_id": gateway["payment_id"], "purpose": "order",
             "reference_id": order["id"], "user_id": str(user), "amount": gateway["amount"],
             "currency": "INR"}
    await events.publish(session, "payment.succeeded", {**event, "purpose": "topup"})
    await events.publish(session, "payment.succeeded", event)
    await events.publish(session, "payment.succeeded", event)  # told twice: once
    r = await client.get(f"/v1/orders/{order['id']}", headers=actors.user(user))
    paid = r.json()
    assert paid["status"] == "paid"
    assert [(t["status"], t["captured"]) for t in paid["tenders"]] == [
        ("captured", 42), ("captured", 16_800)]
    assert await merchant_balance(session, shop.merchant_id, "INR") == 16_800
    assert await wallet(session, user, "REZ") == (958, 0)


async def test_a_failed_payment_cancels_and_releases(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    user = uuid.uuid4()
    await fund(session, user, "REZ", 1_000)
    order = await place(client, actors.user(user), order_body(shop, (shop.dosa, 1)))
    await events.publish(session, "payment.failed", {
        "payment_id": order["tenders"][-1]["payment_id"], "purpose": "order",
        "reference_id": order["id"], "user_id": str(user), "amount": 16_800,
        "currency": "INR"})
    r = await client.get(f"/v1/orders/{order['id']}", headers=actors.user(user))
    assert r.json()["status"] == "cancelled"
    assert await wallet(session, user, "REZ") == (1_000, 0)
    assert await stock(session, shop.dosa) == (10, 0)


async def test_a_coupon_discounts_through_the_offers_rules(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    await make_offer(session, shop.merchant_id, type="coupon_code", coupon_code="DOSA10",
                     min_order_value=30_000, per_user_limit=1)
    user = uuid.uuid4()
    await fund(session, user, "INR", 100_000)
    me = actors.user(user)
    before = await state(connection)
    small = await client.post("/v1/orders", json=order_body(shop, (shop.dosa, 1),
                                                            coupon_code="DOSA10"), headers=me)
    body = assert_problem(small, 422, "coupon_not_applicable", "coupon_code")
    assert body["reasons"] == ["below_min_order"]
    assert await state(connection) == before
    order = await place(client, me, order_body(shop, (shop.dosa, 2), coupon_code="dosa10"))
    # 400.00 less 10 % = 360.00, plus 5 % tax on that = 378.00.
    assert (order["discount"], order["tax"], order["total"]) == (4_000, 1_800, 37_800)
    assert order["redemption_id"] is not None
    status = await session.scalar(text("SELECT status FROM offer_redemptions WHERE id = :i"),
                                  {"i": order["redemption_id"]})
    assert status == "completed"
    again = await client.post("/v1/orders", json=order_body(shop, (shop.dosa, 2),
                                                            coupon_code="DOSA10"), headers=me)
    assert assert_problem(again, 422, "coupon_not_applicable")["reasons"] == [
        "user_limit_reached"]


async def test_who_may_move_and_refund(client: httpx.AsyncClient, actors: Actors, shop: Shop,
                                       session: AsyncSession,
                                       connection: AsyncConnection) -> None:
    user = uuid.uuid4()
    await fund(session, user, "INR", 100_000)
    order = await place(client, actors.user(user), order_body(shop, (shop.dosa, 1)))
    before = await state(connection)
    reader = actors.merchant(shop.merchant_id, "merchant.read")
    r = await client.post(f"/v1/merchant/orders/{order['id']}/advance",
                          json={"action": "confirm"}, headers=reader)
    assert_problem(r, 403, "forbidden")
    r = await client.post(f"/v1/admin/orders/{order['id']}/advance",
                          json={"action": "confirm"}, headers=actors.admin("orders.read"))
    assert_problem(r, 403, "forbidden")
    r = await client.post(f"/v1/orders/{order['id']}/cancel", headers=actors.user(uuid.uuid4()))
    assert_problem(r, 404, "order_not_found")
    assert (await state(connection))["orders"] == before["orders"]
    r = await client.post(f"/v1/admin/orders/{order['id']}/advance",
                          json={"action": "confirm", "reason": "phoned the shop"},
                          headers=actors.admin("orders.manage"))
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    audited = await session.scalar(text(
        "SELECT action FROM audit_log WHERE entity_id = :o"), {"o": order["id"]})
    assert audited == "order.confirm"
    done = await advance(client, actors.merchant(shop.merchant_id), order["id"], "ready",
                         "complete")
    assert done["status"] == "completed"
    staff = Subject("merchant_user", uuid.uuid4(), frozenset({f"merchant:{shop.merchant_id}"}))
    with pytest.raises(Forbidden):
        await flows.refund(session, uuid.UUID(order["id"]), 100, "no permission", staff)
    owner = Subject("merchant_user", uuid.uuid4(), frozenset(
        {f"merchant:{shop.merchant_id}", "merchant.orders.refund"}))
    out = await flows.refund(session, uuid.UUID(order["id"]), 1_000, "goodwill", owner)
    assert (out.order.status, out.amount) == ("partially_refunded", 1_000)
    # Over HTTP, the merchants domain's roles decide: staff fulfil, managers refund.
    refund = {"amount": 500, "reason": "cold dosa"}
    url = f"/v1/merchant/orders/{order['id']}/refunds"
    staff_role = actors.headers(await merchant_subject(session, shop.merchant_id, "staff"))
    assert_problem(await client.post(url, json=refund, headers=staff_role), 403, "forbidden")
    manager = actors.headers(await merchant_subject(session, shop.merchant_id, "manager"))
    r = await client.post(url, json=refund, headers=manager)
    assert r.status_code == 201 and r.json()["order"]["refunded"] == 1_500
    other = actors.headers(await merchant_subject(session, uuid.uuid4(), "manager"))
    assert_problem(await client.post(url, json=refund, headers=other), 404, "order_not_found")


async def test_a_coupon_that_costs_coins_leaves_the_rest_to_pay(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    await make_offer(session, shop.merchant_id, type="coupon_code", coupon_code="COINS50",
                     coins_required=50)
    user = uuid.uuid4()
    await fund(session, user, "REZ", 100)
    await fund(session, user, "INR", 100_000)
    order = await place(client, actors.user(user), order_body(shop, (shop.dosa, 2),
                                                              coupon_code="COINS50"))
    # The coupon's 50 coins are held first; the other 50 pay (under the 75.60 cap).
    assert [(t["asset_code"], t["amount"]) for t in order["tenders"]] == [
        ("REZ", 50), ("INR", 37_800 - 5_000)]
    assert order["status"] == "paid"
    assert await wallet(session, user, "REZ") == (0, 0)  # both captured


async def test_an_order_given_back_whole_gives_its_coupon_back(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    await make_offer(session, shop.merchant_id, type="coupon_code", coupon_code="ONCE10",
                     per_user_limit=1)
    user = uuid.uuid4()
    await fund(session, user, "INR", 200_000)
    me, admin = actors.user(user), actors.admin("orders.refund")
    first = await place(client, me, order_body(shop, (shop.dosa, 2), coupon_code="ONCE10"))
    done = await advance(client, actors.merchant(shop.merchant_id), first["id"], "confirm",
                         "ready", "complete")
    part = await client.post(f"/v1/admin/orders/{first['id']}/refunds", headers=admin,
                             json={"amount": 1_000, "reason": "one dosa was cold"})
    assert part.status_code == 201
    redeemed = "SELECT status FROM offer_redemptions WHERE id = :i"
    assert await session.scalar(text(redeemed), {"i": first["redemption_id"]}) == "completed"
    rest = await client.post(f"/v1/admin/orders/{first['id']}/refunds", headers=admin,
                             json={"amount": done["total"] - 1_000, "reason": "closed early"})
    assert rest.status_code == 201 and rest.json()["order"]["status"] == "refunded"
    assert await session.scalar(text(redeemed), {"i": first["redemption_id"]}) == "refunded"
    # The user's one use of the coupon is free again.
    again = await place(client, me, order_body(shop, (shop.dosa, 2), coupon_code="ONCE10"))
    assert again["discount"] == first["discount"] > 0
    cancelled = await client.post(f"/v1/orders/{again['id']}/cancel", headers=me)
    assert cancelled.status_code == 200
    assert await session.scalar(text(redeemed), {"i": again["redemption_id"]}) == "refunded"
    assert (await verify(session)).ok
