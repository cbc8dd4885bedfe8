"""Top-ups over HTTP with the sandbox: top-up, checkout page, the click, the webhook job, the
wallet; and every bad input refused with a problem that changes nothing."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from gullak.db.engine import Database
from gullak.ledger.verify import verify_database
from tests.helpers.problems import assert_problem
from tests.payments.support import as_user, count, run_payment_jobs, wallet


async def test_sandbox_topup_end_to_end(pay: httpx.AsyncClient, fresh_db: Database) -> None:
    user = uuid.uuid4()
    r = await pay.post("/v1/me/topups", json={"amount": 50_000}, headers=as_user(user))
    assert r.status_code == 201, r.text
    topup = r.json()
    assert topup["status"] == "pending" and topup["purpose"] == "topup"
    assert re.fullmatch(r"INV-\d{6}-\d{6}", topup["invoice_number"])
    assert topup["checkout_url"] == f"http://test/v1/payments/sandbox/{topup['gateway_ref']}"
    path = httpx.URL(topup["checkout_url"]).path

    page = await pay.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "SANDBOX" in page.text and "500.00 INR" in page.text
    assert await wallet(fresh_db, user) == 0

    click = await pay.post(path, params={"outcome": "paid"})
    assert click.status_code == 200 and "Sandbox webhook sent: paid" in click.text
    # Stored and queued, not yet applied: the job does that.
    assert await count(fresh_db, "gateway_events", "processed_at IS NULL") == 1
    assert await run_payment_jobs(fresh_db) == ["succeeded"]

    r = await pay.get(f"/v1/payments/{topup['id']}", headers=as_user(user))
    assert r.json()["status"] == "succeeded" and r.json()["succeeded_at"]
    assert await wallet(fresh_db, user) == 50_000
    listed = (await pay.get("/v1/me/topups", headers=as_user(user))).json()
    assert [t["id"] for t in listed["items"]] == [topup["id"]]
    assert (await pay.get("/v1/me/topups", headers=as_user(uuid.uuid4()))).json()["items"] == []
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]

    # A second click changes nothing: the sandbox order is settled.
    again = await pay.post(path, params={"outcome": "failed"})
    assert "already settled" in again.text
    assert await count(fresh_db, "gateway_events") == 1


async def test_failed_and_pending_clicks(pay: httpx.AsyncClient, fresh_db: Database) -> None:
    user = uuid.uuid4()
    first = (await pay.post("/v1/me/topups", json={"amount": 2_000},
                            headers=as_user(user))).json()
    path = httpx.URL(first["checkout_url"]).path
    assert "Left pending" in (await pay.post(path, params={"outcome": "pending"})).text
    assert await count(fresh_db, "gateway_events") == 0
    await pay.post(path, params={"outcome": "failed"})
    assert await run_payment_jobs(fresh_db) == ["failed"]
    r = await pay.get(f"/v1/payments/{first['id']}", headers=as_user(user))
    assert r.json()["status"] == "failed"
    assert await wallet(fresh_db, user) == 0
    assert_problem(await pay.post(path, params={"outcome": "maybe"}), 422, "validation_error",
                   field="outcome")
    # A payment that failed is not started again.
    assert_problem(await pay.post(f"/v1/payments/{first['id']}/start", headers=as_user(user)),
                   409, "invalid_payment_transition")


async def test_same_idempotency_key_same_topup(pay: httpx.AsyncClient,
                                               fresh_db: Database) -> None:
    user = uuid.uuid4()
    headers = {**as_user(user), "Idempotency-Key": "topup-1"}
    a = await pay.post("/v1/me/topups", json={"amount": 5_000}, headers=headers)
    b = await pay.post("/v1/me/topups", json={"amount": 5_000}, headers=headers)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] == b.json()["id"]
    assert a.json()["checkout_url"] == b.json()["checkout_url"]
    assert_problem(await pay.post("/v1/me/topups", json={"amount": 6_000}, headers=headers),
                   409, "idempotency_key_reused", field="key")
    # Another user may use the same key.
    other = await pay.post("/v1/me/topups", json={"amount": 5_000},
                           headers={**as_user(uuid.uuid4()), "Idempotency-Key": "topup-1"})
    assert other.status_code == 201 and other.json()["id"] != a.json()["id"]
    assert await count(fresh_db, "payments") == 2
    assert await count(fresh_db, "payment_sandbox_orders") == 2


@pytest.mark.parametrize(("body", "code"), [
    ({"amount": 0}, "validation_error"),
    ({"amount": -100}, "validation_error"),
    ({"amount": "5000"}, "validation_error"),
    ({"amount": 50.0}, "validation_error"),
    ({"amount": 2**63}, "validation_error"),
    ({}, "validation_error"),
    ({"amount": 5000, "extra": 1}, "validation_error"),
    ({"amount": 999}, "invalid_amount"),  # under the ₹10 minimum
    ({"amount": 10_000_001}, "invalid_amount"),  # over the ₹1,00,000 maximum
    ({"amount": 2**63 - 1}, "invalid_amount"),
])
async def test_bad_topups_change_nothing(pay: httpx.AsyncClient, fresh_db: Database,
                                         body: dict[str, object], code: str) -> None:
    r = await pay.post("/v1/me/topups", json=body, headers=as_user(uuid.uuid4()))
    assert_problem(r, 422, code)
    assert await count(fresh_db, "payments") == 0
    assert await count(fresh_db, "payment_sandbox_orders") == 0


async def test_unknown_and_other_users_payments(pay: httpx.AsyncClient,
                                                fresh_db: Database) -> None:
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    topup = (await pay.post("/v1/me/topups", json={"amount": 5_000},
                            headers=as_user(owner))).json()
    for payment_id in (str(uuid.uuid4()), topup["id"]):
        assert_problem(await pay.get(f"/v1/payments/{payment_id}", headers=as_user(stranger)),
                       404, "payment_not_found")
        assert_problem(await pay.post(f"/v1/payments/{payment_id}/start",
                                      headers=as_user(stranger)), 404, "payment_not_found")
    assert_problem(await pay.get("/v1/payments/not-a-uuid", headers=as_user(owner)),
                   422, "validation_error")
    assert_problem(await pay.get("/v1/payments/sandbox/sandbox_nope"), 404, "payment_not_found")
    assert_problem(await pay.post("/v1/payments/sandbox/sandbox_nope",
                                  params={"outcome": "paid"}), 404, "payment_not_found")
    assert await count(fresh_db, "payment_attempts") == 1  # the owner's start, nothing else


async def test_admin_endpoints_need_permissions(pay: httpx.AsyncClient,
                                                fresh_db: Database) -> None:
    topup = (await pay.post("/v1/me/topups", json={"amount": 5_000},
                            headers=as_user(uuid.uuid4()))).json()
    assert_problem(await pay.get(f"/v1/admin/payments/{topup['id']}",
                                 headers={"x-admin": "offers.read"}), 403, "forbidden")
    assert_problem(await pay.post(f"/v1/admin/payments/{topup['id']}/refunds",
                                  json={"amount": 100}, headers={"x-admin": "payments.read"}),
                   403, "forbidden")
    r = await pay.get(f"/v1/admin/payments/{topup['id']}", headers={"x-admin": "payments.read"})
    assert r.status_code == 200 and r.json()["amount"] == 5_000
    # Users are not admins.
    assert_problem(await pay.get(f"/v1/admin/payments/{topup['id']}",
                                 headers=as_user(uuid.uuid4())), 403, "forbidden")


async def test_the_worker_runs_the_queued_event(pay: httpx.AsyncClient,
                                                fresh_db: Database) -> None:
    """The job as the real worker runs it, from the queue the click wrote to."""
    from gullak import worker

    user = uuid.uuid4()
    topup = (await pay.post("/v1/me/topups", json={"amount": 4_200},
                            headers=as_user(user))).json()
    await pay.post(httpx.URL(topup["checkout_url"]).path, params={"outcome": "paid"})
    await worker.run(fresh_db.url, concurrency=1, stop_after_idle=True)
    assert await wallet(fresh_db, user) == 4_200
    assert await count(fresh_db, "procrastinate_jobs", "task_name = 'payments.process_event'"
                       " AND status = 'succeeded'") == 1
    assert await count(fresh_db, "gateway_events", "outcome = 'succeeded'") == 1
