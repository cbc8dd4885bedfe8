"""Whole stories on a database of their own, every request its own committed unit of work:
a coins-only order from placement to a partial refund over HTTP, with the wallet, the order
history and the ledger's own verification right at the end; and the races that matter
(cancellation against delivery, one Idempotency-Key sent twice at once) resolving to one
outcome."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.kit.errors import GullakError
from gullak.kit.security import Subject
from gullak.ledger.verify import verify_database
from gullak.merchants import service as merchants
from gullak.merchants.schemas import CommissionIn
from gullak.orders import flows
from gullak.orders.pricing import Policy
from gullak.orders.schemas import OrderIn
from gullak.settings import Settings
from tests.helpers.http import guarded_client
from tests.orders.support import fund, make_shop, order_body, subjects_of, wallet

ADDRESS = {"line1": "4 Residency Road", "city": "Bengaluru"}


async def test_a_coins_only_order_from_placement_to_partial_refund(
        fresh_db: Database, settings: Settings) -> None:
    user = uuid.uuid4()
    async with unit_of_work(fresh_db) as session:
        shop = await make_shop(session)
        await merchants.add_commission(session, shop.merchant_id, CommissionIn(
            rate_bps=500, valid_from=clock.now() - dt.timedelta(days=1)), None)
        await fund(session, user, "FITCOIN", 2_000)
    app = create_app(settings, fresh_db)
    actors = subjects_of(app)
    me, staff = actors.user(user), actors.merchant(shop.merchant_id)
    admin = actors.admin("orders.refund", "orders.read")
    async with guarded_client(app) as client:
        r = await client.post("/v1/orders", headers={**me, "Idempotency-Key": "k1"},
                              json=order_body(shop, (shop.mat, 3), fulfilment="delivery",
                                              delivery_address=ADDRESS))
        assert r.status_code == 201, r.text
        order = r.json()
        assert (order["status"], order["total"]) == ("paid", 1_500)
        for action in ("confirm", "ship", "deliver", "complete"):
            r = await client.post(f"/v1/merchant/orders/{order['id']}/advance",
                                  json={"action": action}, headers=staff)
            assert r.status_code == 200, (action, r.text)
        assert r.json()["tenders"][0]["commission"] == 75  # 5 % of 1 500 coins
        r = await client.post(f"/v1/admin/orders/{order['id']}/refunds",
                              json={"amount": 500, "reason": "one mat was torn"}, headers=admin)
        assert r.status_code == 201, r.text
        assert r.json()["tenders"] == [{"kind": "coins", "asset_code": "FITCOIN", "amount": 500,
                                        "value": 500}]
        mine = (await client.get("/v1/orders", headers=me)).json()["items"]
        assert [(o["id"], o["status"], o["refunded"]) for o in mine] == [
            (order["id"], "partially_refunded", 500)]
        history = (await client.get(f"/v1/orders/{order['id']}", headers=me)).json()["events"]
        assert [e["to_status"] for e in history] == [
            "created", "paid", "confirmed", "shipped", "delivered", "completed",
            "partially_refunded"]
        assert [e["actor_type"] for e in history] == [
            "user", "system", "merchant_user", "merchant_user", "merchant_user",
            "merchant_user", "admin"]
    async with unit_of_work(fresh_db) as session:
        assert await wallet(session, user, "FITCOIN") == (2_000 - 1_500 + 500, 0)
        transfers = (await session.execute(text(
            "SELECT kind, amount FROM ledger_transfers WHERE reference_type = 'order'"
            " AND reference_id = :o ORDER BY seq"), {"o": order["id"]})).all()
        # The capture, the commission, then the refund with its share of the commission back.
        assert [tuple(t) for t in transfers] == [
            ("order_payment", 1_500), ("order_commission", 75),
            ("order_commission_refund", 25), ("order_refund", 500)]
        refunded_events = await session.scalar(text(
            "SELECT count(*) FROM audit_log WHERE entity_id = :o AND action = 'order.refund'"),
            {"o": order["id"]})
        assert refunded_events == 1
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]


@pytest.mark.parametrize("round_", range(3))
async def test_cancellation_racing_delivery_has_one_outcome(fresh_db: Database,
                                                            round_: int) -> None:
    user = uuid.uuid4()
    async with unit_of_work(fresh_db) as session:
        shop = await make_shop(session)
        await fund(session, user, "FITCOIN", 1_000)
        placed, _ = await flows.place_order(session, Subject("user", user), OrderIn(
            **order_body(shop, (shop.mat, 1), fulfilment="delivery", delivery_address=ADDRESS)),
            Policy())
    staff = Subject("merchant_user", uuid.uuid4(), frozenset({f"merchant:{shop.merchant_id}"}))
    for action in ("confirm", "ship"):
        async with unit_of_work(fresh_db) as session:
            await flows.advance(session, placed.id, action, staff)

    async def attempt(action: str) -> str:
        try:
            async with unit_of_work(fresh_db) as session:
                await flows.advance(session, placed.id, action, staff, "race")
            return action
        except GullakError as exc:
            return exc.code

    outcomes = await asyncio.gather(attempt("deliver"), attempt("cancel"))
    assert sorted(outcomes) in (["deliver", "invalid_transition"],
                                ["cancel", "invalid_transition"])
    won = next(o for o in outcomes if o != "invalid_transition")
    async with unit_of_work(fresh_db) as session:
        status = await session.scalar(text("SELECT status FROM orders WHERE id = :o"),
                                      {"o": placed.id})
        statuses = (await session.execute(text(
            "SELECT to_status FROM order_events WHERE order_id = :o ORDER BY id"),
            {"o": placed.id})).scalars().all()
        coins = await wallet(session, user, "FITCOIN")
    assert status == ("delivered" if won == "deliver" else "cancelled")
    assert statuses[-1] == status and statuses.count(status) == 1
    assert coins == ((500, 0) if won == "deliver" else (1_000, 0))
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]


async def test_one_key_sent_twice_at_once_makes_one_order(fresh_db: Database) -> None:
    user = uuid.uuid4()
    async with unit_of_work(fresh_db) as session:
        shop = await make_shop(session)
        await fund(session, user, "INR", 100_000)
    body = OrderIn(**order_body(shop, (shop.dosa, 1)))

    async def place() -> tuple[uuid.UUID, bool]:
        async with unit_of_work(fresh_db) as session:
            out, created = await flows.place_order(session, Subject("user", user), body,
                                                   Policy(), idempotency_key="same")
            return out.id, created

    results = await asyncio.gather(*(place() for _ in range(4)))
    assert len({order_id for order_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]
    async with unit_of_work(fresh_db) as session:
        assert await session.scalar(text("SELECT count(*) FROM orders")) == 1
        assert await wallet(session, user, "INR") == (100_000 - 21_000, 0)
