"""Refunds: never more than paid less refunded, the money back to gateway clearing, the
provider asked once per key, and a refusal by the provider undone in the ledger."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import text

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.ledger.verify import verify_database
from gullak.payments import flows, gateways
from gullak.payments.gateways.base import GatewayError
from gullak.payments.gateways.sandbox import Sandbox
from tests.helpers.problems import assert_problem
from tests.payments.support import ADMIN, as_user, count, run_payment_jobs, wallet


async def paid_topup(pay: httpx.AsyncClient, db: Database, user: uuid.UUID,
                     amount: int = 10_000) -> Any:
    topup = (await pay.post("/v1/me/topups", json={"amount": amount},
                            headers=as_user(user))).json()
    await pay.post(httpx.URL(topup["checkout_url"]).path, params={"outcome": "paid"})
    assert await run_payment_jobs(db) == ["succeeded"]
    return topup


async def clearing_balance(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(text(
            "SELECT coalesce(sum(b.balance), 0) FROM ledger_balances b JOIN ledger_accounts a"
            " ON a.id = b.account_id WHERE a.purpose = 'gateway_clearing'")) or 0)


async def test_partial_then_rest_then_nothing_more(pay: httpx.AsyncClient, fresh_db: Database,
                                                   sandbox: Sandbox) -> None:
    user = uuid.uuid4()
    topup = await paid_topup(pay, fresh_db, user)
    assert await clearing_balance(fresh_db) == -10_000
    url = f"/v1/admin/payments/{topup['id']}/refunds"
    first = await pay.post(url, json={"amount": 3_000}, headers={**ADMIN, "Idempotency-Key": "r1"})
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "succeeded" and first.json()["gateway_ref"]
    again = await pay.post(url, json={"amount": 3_000}, headers={**ADMIN, "Idempotency-Key": "r1"})
    assert again.json()["id"] == first.json()["id"]
    assert_problem(await pay.post(url, json={"amount": 7_001}, headers=ADMIN), 409,
                   "refund_exceeds_paid", field="amount")
    assert_problem(await pay.post(url, json={"amount": 4_000},
                                  headers={**ADMIN, "Idempotency-Key": "r1"}),
                   409, "idempotency_key_reused")
    rest = await pay.post(url, json={"amount": 7_000}, headers=ADMIN)
    assert rest.status_code == 201 and rest.json()["status"] == "succeeded"
    assert_problem(await pay.post(url, json={"amount": 1}, headers=ADMIN), 409,
                   "refund_exceeds_paid")
    for body in ({"amount": 0}, {"amount": -5}, {"amount": "5"}, {}):
        assert_problem(await pay.post(url, json=body, headers=ADMIN), 422, "validation_error")
    payment = (await pay.get(f"/v1/admin/payments/{topup['id']}", headers=ADMIN)).json()
    assert payment["refunded_amount"] == 10_000 and payment["status"] == "succeeded"
    assert await wallet(fresh_db, user) == 0
    assert await clearing_balance(fresh_db) == 0
    status = await sandbox.fetch(topup["gateway_ref"])
    assert (status.captured, status.refunded) == (10_000, 10_000)
    assert await count(fresh_db, "payment_refunds") == 2
    assert (await verify_database(fresh_db)).ok


async def test_refunds_of_what_cannot_be_refunded(pay: httpx.AsyncClient,
                                                  fresh_db: Database) -> None:
    user = uuid.uuid4()
    pending = (await pay.post("/v1/me/topups", json={"amount": 5_000},
                              headers=as_user(user))).json()
    assert_problem(await pay.post(f"/v1/admin/payments/{pending['id']}/refunds",
                                  json={"amount": 100}, headers=ADMIN),
                   409, "invalid_payment_transition")
    assert_problem(await pay.post(f"/v1/admin/payments/{uuid.uuid4()}/refunds",
                                  json={"amount": 100}, headers=ADMIN), 404, "payment_not_found")
    # A top-up already spent from the wallet cannot be refunded: refused before the provider.
    topup = await paid_topup(pay, fresh_db, user, 5_000)
    async with unit_of_work(fresh_db) as session:
        account = await ledger.user_account(session, user, "INR")
        sink = await ledger.platform_account(session, "INR", "commission_revenue")
        await ledger.transfer(session, TransferIn(
            debit_account_id=account.id, credit_account_id=sink.id, asset_code="INR",
            amount=4_000, kind="purchase"))
    r = await pay.post(f"/v1/admin/payments/{topup['id']}/refunds", json={"amount": 2_000},
                       headers=ADMIN)
    assert r.status_code == 422 and r.json()["code"] != "validation_error"
    assert await count(fresh_db, "payment_refunds") == 0
    assert (await gateways.get("sandbox", fresh_db).fetch(topup["gateway_ref"])).refunded == 0


async def test_racing_refunds_for_the_last_rupees(pay: httpx.AsyncClient,
                                                  fresh_db: Database) -> None:
    topup = await paid_topup(pay, fresh_db, uuid.uuid4(), 10_000)
    answers = await asyncio.gather(*(
        pay.post(f"/v1/admin/payments/{topup['id']}/refunds", json={"amount": 4_000},
                 headers={**ADMIN, "Idempotency-Key": f"race-{i}"}) for i in range(5)))
    assert Counter(a.status_code for a in answers) == {201: 2, 409: 3}
    assert await count(fresh_db, "payment_refunds", "status = 'succeeded'") == 2
    assert (await verify_database(fresh_db)).ok


class Refusing(Sandbox):
    async def refund(self, ref: str, amount: int, key: str) -> str:
        raise GatewayError("sandbox: refused for the test")


async def test_a_refund_the_provider_refuses_is_undone(
        pay: httpx.AsyncClient, raw_client: httpx.AsyncClient, fresh_db: Database) -> None:
    user = uuid.uuid4()
    topup = await paid_topup(pay, fresh_db, user, 6_000)
    with gateways.override(Refusing(fresh_db, "s", public_url="http://test")):
        r = await raw_client.post(f"/v1/admin/payments/{topup['id']}/refunds",
                                  json={"amount": 6_000}, headers=ADMIN)
    # Not bad input: the provider's refusal, told as such (502), with the record kept.
    assert r.status_code == 502 and r.json()["code"] == "gateway_error"
    assert await wallet(fresh_db, user) == 6_000
    assert await count(fresh_db, "payment_refunds", "status = 'failed'") == 1
    assert await count(fresh_db, "payment_attempts", "operation = 'refund'"
                       " AND outcome = 'error'") == 1
    # Nothing was refunded, so all of it may be refunded again.
    out = await flows.refund(fresh_db, uuid.UUID(topup["id"]), 6_000, "second-try")
    assert out.status == "succeeded"
    assert await wallet(fresh_db, user) == 0
    assert (await verify_database(fresh_db)).ok
