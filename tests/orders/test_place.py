"""Placing orders over HTTP: priced by the server from the catalog, paid in the default tender
order under the coin cap, held and captured through the ledger, stock reserved and sold;
every bad request refused with a stable code and nothing changed."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.catalog import service as catalog
from gullak.catalog.schemas import ProductIn, VariantIn
from gullak.offers import service as offers
from tests.helpers.offers import Actors, live_merchant
from tests.helpers.problems import assert_problem
from tests.orders.support import (
    DOSA_PRICE,
    Shop,
    fund,
    merchant_balance,
    order_body,
    state,
    stock,
    wallet,
)


async def test_a_purchase_is_priced_by_the_server_and_paid_from_the_wallet(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    user = uuid.uuid4()
    await fund(session, user, "REZ", 1_000)
    await fund(session, user, "INR", 100_000)
    body = order_body(shop, (shop.dosa, 2), (shop.tea, 1), outlet_id=str(shop.outlet_id))
    body["items"][0]["unit_price"] = 1  # a client's price is ignored
    r = await client.post("/v1/orders", json=body, headers=actors.user(user))
    assert r.status_code == 201, r.text
    order = r.json()
    # 2 x 200.00 + 50.00 = 450.00; pickup is free; 5 % tax = 22.50; total 472.50.
    assert [(i["unit_price"], i["quantity"], i["line_total"]) for i in order["items"]] == [
        (DOSA_PRICE, 2, 2 * DOSA_PRICE), (5_000, 1, 5_000)]
    assert (order["subtotal"], order["discount"], order["delivery_fee"], order["tax"],
            order["total"]) == (45_000, 0, 0, 2_250, 47_250)
    assert order["number"].startswith("ORD-") and len(order["number"]) == 17
    assert (order["kind"], order["status"], order["currency"]) == ("purchase", "paid", "INR")
    # Coins pay at most 20 % (94.50): 94 REZ at one rupee each; the wallet pays the rest.
    assert [(t["kind"], t["asset_code"], t["amount"], t["rate"], t["status"], t["captured"])
            for t in order["tenders"]] == [("coins", "REZ", 94, 100, "captured", 94),
                                           ("wallet", "INR", 37_850, 1, "captured", 37_850)]
    assert [n["code"] for n in order["notes"]] == ["coin_cap"]
    assert [(e["from_status"], e["to_status"]) for e in order["events"]] == [
        (None, "created"), ("created", "paid")]
    assert await wallet(session, user, "REZ") == (906, 0)
    assert await wallet(session, user, "INR") == (100_000 - 37_850, 0)
    assert await merchant_balance(session, shop.merchant_id, "REZ") == 94
    assert await merchant_balance(session, shop.merchant_id, "INR") == 37_850
    assert await stock(session, shop.dosa) == (8, 0)  # sold, not just reserved


async def test_a_reward_order_holds_its_coins_until_delivery(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    user = uuid.uuid4()
    await fund(session, user, "FITCOIN", 1_200)
    body = order_body(shop, (shop.mat, 2), fulfilment="delivery", delivery_address={
        "line1": "4 Residency Road", "city": "Bengaluru", "postal_code": "560025"})
    r = await client.post("/v1/orders", json=body, headers=actors.user(user))
    assert r.status_code == 201, r.text
    order = r.json()
    assert (order["kind"], order["currency"], order["total"], order["tax"],
            order["delivery_fee"]) == ("reward", "FITCOIN", 1_000, 0, 0)
    assert [(t["asset_code"], t["amount"], t["status"]) for t in order["tenders"]] == [
        ("FITCOIN", 1_000, "held")]
    assert await wallet(session, user, "FITCOIN") == (1_200, 1_000)
    assert await stock(session, shop.mat) == (3, 0)


async def test_the_user_may_choose_the_tenders(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    user = uuid.uuid4()
    await fund(session, user, "REZ", 1_000)
    await fund(session, user, "PROMO", 1_000)
    await fund(session, user, "INR", 100_000)
    body = order_body(shop, (shop.dosa, 1),
                      tenders=[{"asset_code": "INR", "amount": 1_000}, {"asset_code": "PROMO"}])
    r = await client.post("/v1/orders", json=body, headers=actors.user(user))
    # 210.00: 10.00 cash first as asked, then promo coins up to the cap (42.00), no REZ; the
    # rest goes to the gateway, whose payment waits to be started.
    assert r.status_code == 201, r.text
    order = r.json()
    assert [(t["kind"], t["asset_code"], t["amount"], t["status"]) for t in order["tenders"]] \
        == [("wallet", "INR", 1_000, "held"), ("coins", "PROMO", 42, "held"),
            ("gateway", "INR", 21_000 - 1_000 - 4_200, "pending")]
    assert order["status"] == "awaiting_payment" and order["pay_by"] is not None
    assert order["tenders"][2]["payment_id"] is not None
    assert await wallet(session, user, "REZ") == (1_000, 0)


async def test_refusals_change_nothing(client: httpx.AsyncClient, actors: Actors, shop: Shop,
                                       session: AsyncSession,
                                       connection: AsyncConnection) -> None:
    user = uuid.uuid4()
    await fund(session, user, "REZ", 100)
    await fund(session, user, "INR", 1_000)
    await fund(session, user, "FITCOIN", 100)
    other, _ = await live_merchant(session, "Elsewhere")
    elsewhere = await offers.branded_asset(session, other)  # another merchant's coins
    await fund(session, user, elsewhere, 100)
    me = actors.user(user)
    before = await state(connection)
    cases = [
        (order_body(shop, (uuid.uuid4(), 1)), 404, "item_not_listed", "items"),
        ({**order_body(shop, (shop.dosa, 1)), "merchant_id": str(other)}, 404,
         "item_not_listed", "items"),
        (order_body(shop, (shop.dosa, 0)), 422, "validation_error", "items.0.quantity"),
        (order_body(shop, (shop.dosa, 11)), 409, "out_of_stock", "quantity"),
        (order_body(shop, (shop.dosa, 1), (shop.mat, 1)), 422, "mixed_currencies", "items"),
        (order_body(shop, (shop.dosa, 1), tenders=[{"asset_code": "INR", "amount": 5_000}]),
         422, "insufficient_tender", "tenders"),
        (order_body(shop, (shop.dosa, 1), tenders=[{"asset_code": "REZ", "amount": 50}]),
         422, "coin_cap_exceeded", "tenders"),
        (order_body(shop, (shop.dosa, 1), tenders=[{"asset_code": elsewhere}]), 422,
         "invalid_tender", "tenders"),
        (order_body(shop, (shop.dosa, 1), tenders=[{"asset_code": "NOPE"}]), 422,
         "invalid_tender", "tenders"),
        (order_body(shop, (shop.mat, 1)), 422, "insufficient_tender", "tenders"),
        (order_body(shop, (shop.dosa, 1), fulfilment="delivery"), 422, "address_required",
         "delivery_address"),
        (order_body(shop, (shop.dosa, 1), outlet_id=str(uuid.uuid4())), 422, "invalid_outlet",
         "outlet_id"),
        (order_body(shop, (shop.dosa, 1), coupon_code="NOSUCHCODE"), 404, "coupon_not_found",
         None),
        ({**order_body(shop, (shop.dosa, 1)), "total": 1}, 422, "validation_error", None),
    ]
    for body, status, code, field in cases:
        r = await client.post("/v1/orders", json=body, headers=me)
        assert_problem(r, status, code, field)
    assert await state(connection) == before


async def test_one_key_one_order(client: httpx.AsyncClient, actors: Actors, shop: Shop,
                                 session: AsyncSession, connection: AsyncConnection) -> None:
    user = uuid.uuid4()
    await fund(session, user, "INR", 100_000)
    me = {**actors.user(user), "Idempotency-Key": "checkout-1"}
    body = order_body(shop, (shop.dosa, 1))
    first = await client.post("/v1/orders", json=body, headers=me)
    again = await client.post("/v1/orders", json=body, headers=me)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    before = await state(connection)
    other = await client.post("/v1/orders", json=order_body(shop, (shop.dosa, 2)), headers=me)
    assert_problem(other, 409, "idempotency_key_reused", "Idempotency-Key")
    assert await state(connection) == before
    assert await wallet(session, user, "INR") == (100_000 - 21_000, 0)


async def test_a_product_sold_by_variant_is_priced_and_reserved_by_its_variant(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    shirt = await catalog.create_product(session, shop.merchant_id, ProductIn(
        sku="SHIRT", name="Shirt", price=90_000), None)
    sized = await catalog.add_variant(session, shirt.id, VariantIn(
        sku="SHIRT-M", name="M", cost_price=40_000, selling_price=80_000, stock=3), None)
    [medium] = sized.variants
    hidden = await catalog.add_variant(session, shirt.id, VariantIn(
        sku="SHIRT-XL", name="XL", cost_price=40_000, selling_price=85_000, stock=3,
        active=False), None)
    [xl] = [v for v in hidden.variants if v.sku == "SHIRT-XL"]
    user = uuid.uuid4()
    await fund(session, user, "INR", 500_000)
    me = actors.user(user)
    before = await state(connection)

    def line(variant: uuid.UUID | None, quantity: int = 1) -> dict[str, Any]:
        item: dict[str, Any] = {"product_id": str(shirt.id), "quantity": quantity}
        if variant is not None:
            item["variant_id"] = str(variant)
        return {"merchant_id": str(shop.merchant_id), "items": [item]}

    assert_problem(await client.post("/v1/orders", json=line(None), headers=me), 422,
                   "variant_required", "variant_id")
    assert_problem(await client.post("/v1/orders", json=line(uuid.uuid4()), headers=me), 404,
                   "item_not_listed", "items")
    assert_problem(await client.post("/v1/orders", json=line(xl.id), headers=me), 404,
                   "item_not_listed", "items")
    assert_problem(await client.post("/v1/orders", json=line(medium.id, 4), headers=me), 409,
                   "out_of_stock", "quantity")
    assert await state(connection) == before
    r = await client.post("/v1/orders", json=line(medium.id, 2), headers=me)
    assert r.status_code == 201, r.text
    [item] = r.json()["items"]
    assert (item["sku"], item["name"], item["unit_price"]) == ("SHIRT-M", "Shirt (M)", 80_000)
    reserved = await session.scalar(text(
        "SELECT reserved FROM inventory WHERE variant_id = :v"), {"v": medium.id})
    assert reserved == 0  # paid from the wallet at once: the reservation is already sold
    on_hand = await session.scalar(text(
        "SELECT on_hand FROM inventory WHERE variant_id = :v"), {"v": medium.id})
    assert on_hand == 1


async def test_an_order_left_to_the_gateway_is_answered_as_it_reads_back(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    # Placement builds its answer from the rows it wrote, not from a read: the two must agree,
    # field for field, for an order of several items, a coin tender and the gateway's part.
    user = uuid.uuid4()
    await fund(session, user, "REZ", 1_000)
    me = {**actors.user(user), "Idempotency-Key": "gateway-1"}
    body = order_body(shop, (shop.dosa, 2), (shop.tea, 1), fulfilment="delivery",
                      delivery_address={"line1": "4 Residency Road", "city": "Bengaluru"})
    placed = await client.post("/v1/orders", json=body, headers=me)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "awaiting_payment" and order["pay_by"] is not None
    assert [(t["kind"], t["status"]) for t in order["tenders"]] == [
        ("coins", "held"), ("gateway", "pending")]
    assert [(e["from_status"], e["to_status"]) for e in order["events"]] == [
        (None, "created"), ("created", "awaiting_payment")]
    read = await client.get(f"/v1/orders/{order['id']}", headers=actors.user(user))
    assert read.status_code == 200
    assert read.json() == order
    replayed = await client.post("/v1/orders", json=body, headers=me)  # read back, the old way
    assert replayed.status_code == 200 and replayed.json() == order


async def test_a_review_of_an_order_is_a_verified_purchase_only_for_its_paying_buyer(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    buyer, other, waiting = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await fund(session, buyer, "INR", 100_000)
    await fund(session, waiting, "REZ", 10)
    paid = (await client.post("/v1/orders", json=order_body(shop, (shop.dosa, 1)),
                              headers=actors.user(buyer))).json()
    unpaid = (await client.post("/v1/orders", json=order_body(shop, (shop.dosa, 1)),
                                headers=actors.user(waiting))).json()
    assert (paid["status"], unpaid["status"]) == ("paid", "awaiting_payment")

    async def review(user: uuid.UUID, order_ref: str) -> bool:
        r = await client.post(f"/v1/merchants/{shop.merchant_id}/reviews",
                              headers=actors.user(user),
                              json={"order_id": order_ref, "rating": 5})
        assert r.status_code == 201, r.text
        return bool(r.json()["verified_purchase"])

    assert await review(buyer, paid["id"]) is True
    assert await review(buyer, paid["number"].lower()) is True  # by its number, any case
    assert await review(other, paid["id"]) is False  # another's order proves nothing
    assert await review(waiting, unpaid["id"]) is False  # not paid yet
    assert await review(buyer, "not-an-order") is False
