"""An order's gateway payment against everything that can happen to the order at the same time:
the order cancelled before the money arrives (the payment is cancelled, cannot be started,
and money that still arrives is recorded and given back), a success reported twice at once
(the webhook and the periodic check: captured once), and a success racing the order's
cancellation (whichever wins, the money ends where it started)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger.verify import verify_database
from gullak.payments import flows, gateways, service
from gullak.settings import Settings
from tests.helpers.http import guarded_client
from tests.helpers.problems import assert_problem
from tests.orders.support import (
    Shop,
    make_shop,
    merchant_balance,
    order_body,
    run_refund_jobs,
    subjects_of,
)
from tests.payments.support import make_sandbox, run_payment_jobs


@dataclass
class Checkout:
    client: httpx.AsyncClient
    me: dict[str, str]
    order: dict[str, Any]
    payment_id: str
    ref: str


async def placed_and_started(client: httpx.AsyncClient, me: dict[str, str],
                             shop: Shop) -> Checkout:
    r = await client.post("/v1/orders", headers=me,
                          json=order_body(shop, (shop.dosa, 1), fulfilment="pickup"))
    assert r.status_code == 201, r.text
    order = r.json()
    [tender] = [t for t in order["tenders"] if t.get("payment_id")]
    r = await client.post(f"/v1/payments/{tender['payment_id']}/start", headers=me)
    assert r.status_code == 200, r.text
    return Checkout(client, me, order, tender["payment_id"], r.json()["gateway_ref"])


async def books(db: Database, shop: Shop, ref: str) -> dict[str, int]:
    """Where the order's money is: the merchant, escrow, clearing, and the provider's side."""
    async with unit_of_work(db) as session:
        merchant = await merchant_balance(session, shop.merchant_id, "INR")
    async with db.engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT a.purpose, coalesce(sum(b.balance), 0) FROM ledger_accounts a"
            " JOIN ledger_balances b ON b.account_id = a.id"
            " WHERE a.purpose IN ('order_escrow', 'gateway_clearing') GROUP BY a.purpose"))
        found = {purpose: int(total) for purpose, total in rows}
        paid, refunded = (await conn.execute(text(
            "SELECT CASE WHEN status = 'paid' THEN amount ELSE 0 END, refunded"
            " FROM payment_sandbox_orders WHERE ref = :r"), {"r": ref})).one()
    return {"merchant": merchant, "escrow": found.get("order_escrow", 0),
            "clearing": found.get("gateway_clearing", 0), "provider_kept": paid - refunded}


async def status_of(db: Database, payment_id: str) -> str:
    async with unit_of_work(db) as session:
        return str((await service.get_payment(session, uuid.UUID(payment_id))).status)


async def test_cancelled_order_cancels_its_payment_and_late_money_goes_back(
        fresh_db: Database, settings: Settings) -> None:
    async with unit_of_work(fresh_db) as session:
        shop = await make_shop(session)
    app = create_app(settings, fresh_db)
    me = subjects_of(app).user(uuid.uuid4())
    with gateways.override(make_sandbox(fresh_db)):
        async with guarded_client(app) as client:
            c = await placed_and_started(client, me, shop)
            r = await client.post(f"/v1/orders/{c.order['id']}/cancel", headers=me)
            assert r.status_code == 200 and r.json()["status"] == "cancelled"
            assert await status_of(fresh_db, c.payment_id) == "cancelled"
            assert (await client.get(f"/v1/payments/{c.payment_id}", headers=me)
                    ).json()["checkout_url"] is None
            assert_problem(await client.post(f"/v1/payments/{c.payment_id}/start",
                                             headers=me), 409, "invalid_payment_transition")

            # The person had the page open and paid anyway: the provider took the money.
            await client.post(f"/v1/payments/sandbox/{c.ref}", params={"outcome": "paid"})
            assert await run_payment_jobs(fresh_db) == ["succeeded"]
            assert await status_of(fresh_db, c.payment_id) == "succeeded"
            order = (await client.get(f"/v1/orders/{c.order['id']}", headers=me)).json()
            assert order["status"] == "cancelled"
            assert order["events"][-1]["reason"] == "gateway payment not taken"
            assert await run_refund_jobs(fresh_db) == 1
    async with unit_of_work(fresh_db) as session:
        payment = await service.get_payment(session, uuid.UUID(c.payment_id))
    assert payment.refunded_amount == payment.amount == c.order["total"]
    assert await books(fresh_db, shop, c.ref) == {"merchant": 0, "escrow": 0, "clearing": 0,
                                                  "provider_kept": 0}
    assert (await verify_database(fresh_db)).ok


async def test_a_success_reported_twice_at_once_captures_once(
        fresh_db: Database, settings: Settings) -> None:
    """The webhook's job and the periodic check (which asks the provider) apply the same
    capture at the same moment: one succeeds, the other finds it done."""
    async with unit_of_work(fresh_db) as session:
        shop = await make_shop(session)
    app = create_app(settings, fresh_db)
    me = subjects_of(app).user(uuid.uuid4())
    with gateways.override(make_sandbox(fresh_db)):
        async with guarded_client(app) as client:
            c = await placed_and_started(client, me, shop)
            await client.post(f"/v1/payments/sandbox/{c.ref}", params={"outcome": "paid"})
            webhook, polled = await asyncio.gather(
                run_payment_jobs(fresh_db), flows.check_overdue(fresh_db, dt.timedelta(0)))
            assert polled == 1
            async with fresh_db.engine.connect() as conn:
                outcomes = sorted((await conn.execute(text(
                    "SELECT outcome FROM gateway_events ORDER BY id"))).scalars())
            assert outcomes == ["already_succeeded", "succeeded"], (webhook, outcomes)
            order = (await client.get(f"/v1/orders/{c.order['id']}", headers=me)).json()
            assert order["status"] == "paid"
            assert await run_refund_jobs(fresh_db) == 0
    assert await books(fresh_db, shop, c.ref) == {
        "merchant": c.order["total"], "escrow": 0, "clearing": -c.order["total"],
        "provider_kept": c.order["total"]}
    async with fresh_db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM ledger_transfers"
                                      " WHERE kind = 'payment'")) == 1
    assert (await verify_database(fresh_db)).ok


async def test_a_success_racing_the_cancellation_ends_with_the_money_back(
        fresh_db: Database, settings: Settings) -> None:
    """The user cancels while the success is being applied, several times over: whichever
    commits first, no request fails, nothing deadlocks for good, and once the refunds have
    run the merchant, escrow and clearing hold nothing and the provider kept nothing."""
    async with unit_of_work(fresh_db) as session:
        shop = await make_shop(session)
    app = create_app(settings, fresh_db)
    me = subjects_of(app).user(uuid.uuid4())
    refs = []
    with gateways.override(make_sandbox(fresh_db)):
        async with guarded_client(app) as client:
            for _ in range(4):
                c = await placed_and_started(client, me, shop)
                refs.append(c.ref)
                await client.post(f"/v1/payments/sandbox/{c.ref}", params={"outcome": "paid"})
                cancel, _ = await asyncio.gather(
                    client.post(f"/v1/orders/{c.order['id']}/cancel", headers=me),
                    run_payment_jobs(fresh_db))
                assert cancel.status_code == 200, cancel.text
                assert await status_of(fresh_db, c.payment_id) == "succeeded"
                await run_payment_jobs(fresh_db)  # a job that lost a deadlock runs again
                await run_refund_jobs(fresh_db)
    for ref in refs:
        assert (await books(fresh_db, shop, ref))["provider_kept"] == 0
    assert await books(fresh_db, shop, refs[0]) == {"merchant": 0, "escrow": 0, "clearing": 0,
                                                    "provider_kept": 0}
    assert (await verify_database(fresh_db)).ok
