"""An order paid through the sandbox gateway over HTTP: placed awaiting payment, started at
the payments domain, paid on the sandbox's checkout page, applied by the webhook job, and the
order paid with the money at the merchant; then refunded, part to the wallet as the user
chose, the rest back at the gateway."""

from __future__ import annotations

import uuid

import httpx

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger.verify import verify_database
from gullak.payments import gateways, service
from gullak.settings import Settings
from tests.helpers.http import guarded_client
from tests.orders.support import (
    make_shop,
    merchant_balance,
    order_body,
    run_refund_jobs,
    subjects_of,
)
from tests.payments.support import make_sandbox, run_payment_jobs, wallet


async def test_an_order_paid_at_the_sandbox_gateway(fresh_db: Database,
                                                     settings: Settings) -> None:
    user = uuid.uuid4()
    async with unit_of_work(fresh_db) as session:
        shop = await make_shop(session)
    app = create_app(settings, fresh_db)
    me = subjects_of(app).user(user)
    with gateways.override(make_sandbox(fresh_db)):
        async with guarded_client(app) as client:
            r = await client.post("/v1/orders", headers=me,
                                  json=order_body(shop, (shop.dosa, 1), fulfilment="pickup"))
            assert r.status_code == 201, r.text
            order = r.json()
            assert order["status"] == "awaiting_payment"
            [gateway] = [t for t in order["tenders"] if t.get("payment_id")]
            assert gateway["amount"] == order["total"] > 0

            r = await client.post(f"/v1/payments/{gateway['payment_id']}/start", headers=me)
            assert r.status_code == 200, r.text
            path = httpx.URL(r.json()["checkout_url"]).path
            assert (await client.post(path, params={"outcome": "paid"})).status_code == 200
            assert await run_payment_jobs(fresh_db) == ["succeeded"]

            paid = (await client.get(f"/v1/orders/{order['id']}", headers=me)).json()
            assert paid["status"] == "paid"
            assert [e["to_status"] for e in paid["events"]] == [
                "created", "awaiting_payment", "paid"]
            other = subjects_of(app).user(uuid.uuid4())
            assert (await client.get(f"/v1/orders/{order['id']}", headers=other)).status_code \
                == 404
            async with unit_of_work(fresh_db) as session:
                # What the gateway took reached the merchant; escrow keeps nothing of it.
                assert await merchant_balance(session, shop.merchant_id, "INR") \
                    == order["total"]

            # Refunds: the user takes 1,000 to the wallet at once, the rest back at the gateway.
            merchant = subjects_of(app).merchant(shop.merchant_id)
            for action in ("confirm", "ready", "complete"):
                r = await client.post(f"/v1/merchant/orders/{order['id']}/advance",
                                      json={"action": action}, headers=merchant)
                assert r.status_code == 200, r.text
            admin = subjects_of(app).admin("orders.refund")
            url = f"/v1/admin/orders/{order['id']}/refunds"
            r = await client.post(url, headers=admin, json={
                "amount": 1_000, "reason": "asked for wallet credit", "gateway_to_wallet": True})
            assert r.status_code == 201, r.text
            assert r.json()["tenders"] == [{"kind": "gateway", "asset_code": "INR",
                                            "amount": 1_000, "value": 1_000, "to": "wallet"}]
            assert await wallet(fresh_db, user) == 1_000
            rest = order["total"] - 1_000
            r = await client.post(url, headers=admin, json={"amount": rest, "reason": "closed"})
            assert r.status_code == 201 and r.json()["order"]["status"] == "refunded"
            assert await run_refund_jobs(fresh_db) == 1
    async with unit_of_work(fresh_db) as session:
        payment = await service.get_payment(session, uuid.UUID(gateway["payment_id"]))
        assert payment.refunded_amount == rest  # the wallet's part never went to the provider
        assert await merchant_balance(session, shop.merchant_id, "INR") == 0
    assert await wallet(fresh_db, user) == 1_000
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]
