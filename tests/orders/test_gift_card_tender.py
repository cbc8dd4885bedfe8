"""Gift cards as an order's tender: held at placement after wallet cash, released on cancel,
captured to the merchant when paid, refunded back onto the card in proportion; a wrong PIN
refuses the order with nothing changed; fifty concurrent orders never overdraw one card; and
gift card products bought in an order issue their cards to the buyer."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.catalog import service as catalog
from gullak.catalog.schemas import ProductIn
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.giftcards import service as giftcards
from gullak.giftcards.schemas import DesignIn
from gullak.kit.errors import GullakError
from gullak.kit.security import Subject
from gullak.ledger.verify import verify, verify_database
from gullak.orders import flows
from gullak.orders.pricing import Policy
from gullak.orders.schemas import OrderIn
from tests.giftcards.support import card_balance, card_row, issue
from tests.helpers.offers import Actors
from tests.helpers.problems import assert_problem
from tests.orders.support import (
    Shop,
    fund,
    make_shop,
    merchant_balance,
    order_body,
    state,
    wallet,
)

DOSA_TOTAL = 21_000  # ₹200 and 5 % tax
TEA_TOTAL = 5_250


async def place(client: httpx.AsyncClient, headers: dict[str, str],
                body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/v1/orders", json=body, headers=headers)
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()
    return order


async def test_a_card_pays_after_the_wallet_and_a_cancel_releases_it(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    user = uuid.uuid4()
    await fund(session, user, "INR", 5_000)
    card, code, pin = await issue(session, 10_000)
    me = actors.user(user)
    order = await place(client, me, order_body(shop, (shop.dosa, 1),
                                               gift_cards=[{"code": code, "pin": pin}]))
    assert order["status"] == "awaiting_payment"
    assert [(t["kind"], t["amount"], t["gift_card_id"]) for t in order["tenders"]] == [
        ("wallet", 5_000, None), ("gift_card", 10_000, str(card.id)), ("gateway", 6_000, None)]
    assert await card_balance(session, card.id) == (10_000, 10_000)
    r = await client.post("/v1/gift-cards/check", json={"code": code, "pin": pin})
    assert r.json()["balance"] == 0  # all of it held by the order

    r = await client.post(f"/v1/orders/{order['id']}/cancel", headers=me)
    assert r.status_code == 200, r.text
    assert [t["status"] for t in r.json()["tenders"]] == ["released", "released", "failed"]
    assert await card_balance(session, card.id) == (10_000, 0)
    assert await wallet(session, user, "INR") == (5_000, 0)
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]


async def test_a_completed_order_refunds_part_back_onto_the_card(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    user = uuid.uuid4()
    await fund(session, user, "INR", 11_000)
    card, code, pin = await issue(session, 25_000)
    me, staff = actors.user(user), actors.merchant(shop.merchant_id)
    order = await place(client, me, order_body(shop, (shop.dosa, 1), tenders=[
        {"asset_code": "INR"}], gift_cards=[{"code": code, "pin": pin}]))
    assert order["status"] == "paid"  # 110.00 from the wallet, 100.00 from the card
    assert await card_balance(session, card.id) == (15_000, 0)
    assert await merchant_balance(session, shop.merchant_id, "INR") == DOSA_TOTAL
    for action in ("confirm", "ready", "complete"):
        r = await client.post(f"/v1/merchant/orders/{order['id']}/advance",
                              json={"action": action}, headers=staff)
        assert r.status_code == 200, r.text
    r = await client.post(f"/v1/admin/orders/{order['id']}/refunds",
                          json={"amount": 10_500, "reason": "half was cold"},
                          headers=actors.admin("orders.refund"))
    assert r.status_code == 201, r.text
    assert [(p["kind"], p["amount"]) for p in r.json()["tenders"]] == [
        ("wallet", 5_500), ("gift_card", 5_000)]
    assert await card_balance(session, card.id) == (20_000, 0)
    assert await wallet(session, user, "INR") == (5_500, 0)
    assert await merchant_balance(session, shop.merchant_id, "INR") == DOSA_TOTAL - 10_500
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]


async def test_a_wrong_pin_refuses_the_order_and_changes_nothing(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    user = uuid.uuid4()
    await fund(session, user, "INR", 50_000)
    card, code, pin = await issue(session, 10_000)
    await session.flush()
    before = await state(connection)
    r = await client.post("/v1/orders", headers=actors.user(user), json=order_body(
        shop, (shop.dosa, 1), gift_cards=[{"code": code, "pin": "0" * 6 if pin != "0" * 6
                                           else "1" * 6}]))
    problem = assert_problem(r, 422, "gift_card_invalid", "pin")
    assert code not in r.text and pin not in r.text and problem["code"] == "gift_card_invalid"
    assert await state(connection) == before  # no order, no hold, no stock, no payment
    assert (await card_row(connection, card.id))["failed_attempts"] == 1
    # A card of another merchant is refused the same way, with its own reason.
    _, other_code, other_pin = await issue(session, 10_000, merchant_id=uuid.uuid4())
    await session.flush()
    before = await state(connection)
    r = await client.post("/v1/orders", headers=actors.user(user), json=order_body(
        shop, (shop.dosa, 1), gift_cards=[{"code": other_code, "pin": other_pin}]))
    assert assert_problem(r, 422, "gift_card_unusable", "code")["reason"] == "wrong_merchant"
    assert await state(connection) == before


async def test_fifty_concurrent_orders_never_overdraw_one_card(fresh_db: Database) -> None:
    user = uuid.uuid4()
    async with unit_of_work(fresh_db) as session:
        shop = await make_shop(session)
        card, code, pin = await issue(session, 50_000)
    body = OrderIn(**order_body(shop, (shop.tea, 1), tenders=[],
                                gift_cards=[{"code": code, "pin": pin, "amount": TEA_TOTAL}]))

    async def attempt() -> str:
        try:
            async with unit_of_work(fresh_db) as session:
                await flows.place_order(session, Subject("user", user), body, Policy())
            return "paid"
        except GullakError as exc:
            return exc.code

    outcomes = await asyncio.gather(*(attempt() for _ in range(50)))
    paid = 50_000 // TEA_TOTAL
    assert outcomes.count("paid") == paid
    assert outcomes.count("insufficient_tender") == 50 - paid
    async with unit_of_work(fresh_db) as session:
        assert await card_balance(session, card.id) == (50_000 - paid * TEA_TOTAL, 0)
        assert await merchant_balance(session, shop.merchant_id, "INR") == paid * TEA_TOTAL
        taken = await session.scalar(text(
            "SELECT sum(captured) FROM order_tenders WHERE gift_card_id = :c"), {"c": card.id})
        assert taken == paid * TEA_TOTAL
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]


async def test_a_gift_card_product_bought_in_an_order_issues_its_cards(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    product = await catalog.create_product(session, shop.merchant_id, ProductIn(
        sku="GC-500", name="Cafe gift card ₹500", price=50_000), None)
    admin = Subject("admin", uuid.uuid4(), frozenset({"giftcards.manage"}))
    await giftcards.create_design(session, DesignIn(product_id=product.id, face_value=50_000,
                                                    validity_days=180), admin)
    user = uuid.uuid4()
    await fund(session, user, "INR", 200_000)
    me = actors.user(user)
    order = await place(client, me, order_body(shop, (product.id, 2)))
    assert (order["status"], order["total"]) == ("paid", 105_000)
    mine = (await client.get("/v1/me/gift-cards", headers=me)).json()["items"]
    assert [(c["face_value"], c["balance"], c["order_id"], c["status"]) for c in mine] == [
        (50_000, 50_000, order["id"], "active")] * 2
    # The buyer sees each code and PIN in clear, to give the card away; they work.
    r = await client.post("/v1/gift-cards/check",
                          json={"code": mine[0]["code"], "pin": mine[0]["pin"]})
    assert r.status_code == 200 and r.json()["balance"] == 50_000
    # The merchant funded the cards out of what the order paid it.
    assert await merchant_balance(session, shop.merchant_id, "INR") == 105_000 - 100_000

    # Cancelled before anyone used them: the cards go back to the merchant, the money back
    # to the buyer.
    r = await client.post(f"/v1/orders/{order['id']}/cancel", headers=me)
    assert r.status_code == 200, r.text
    mine = (await client.get("/v1/me/gift-cards", headers=me)).json()["items"]
    assert [(c["status"], c["balance"], c["pin"]) for c in mine] == [("void", 0, None)] * 2
    assert await wallet(session, user, "INR") == (200_000, 0)
    assert await merchant_balance(session, shop.merchant_id, "INR") == 0
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]
