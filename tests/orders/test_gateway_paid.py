"""An order paid through the sandbox gateway over HTTP: placed awaiting payment, started at
the payments domain, paid on the sandbox's checkout page, applied by the webhook job, and the
order paid with the money at the merchant."""

from __future__ import annotations

import uuid

import httpx

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger.verify import verify_database
from gullak.payments import gateways
from gullak.settings import Settings
from tests.helpers.http import guarded_client
from tests.orders.support import make_shop, merchant_balance, order_body, subjects_of
from tests.payments.support import make_sandbox, run_payment_jobs


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
        assert await merchant_balance(session, shop.merchant_id, "INR") == order["total"]
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]
