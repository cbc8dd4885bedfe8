"""A withdrawal's life in each direction: paid, rejected, failed at the provider, bounced
after success, stuck then polled. The hold is always resolved exactly once, and the ledger
verifies after every test (the fresh_db fixture checks it)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger import service as ledger
from gullak.payouts import flows
from gullak.payouts.providers.sandbox import Sandbox
from gullak.settings import Settings
from tests.helpers.problems import assert_problem
from tests.payouts.support import (
    add_bank,
    as_admin,
    as_user,
    balance,
    count,
    fund,
    make_user,
    run_jobs,
    step_up,
)


async def withdraw(api: httpx.AsyncClient, user: uuid.UUID, method: str, amount: int,
                   key: str | None = None) -> dict[str, Any]:
    headers = {**as_user(user), **({"Idempotency-Key": key} if key else {})}
    answer = await api.post("/v1/me/withdrawals", headers=headers,
                            json={"amount": amount, "method_id": method})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def clearing(db: Database) -> int:
    async with unit_of_work(db) as session:
        account = await ledger.platform_account(session, "INR", "payout_clearing")
        return (await ledger.balance(session, account.id)).posted


async def holds(db: Database, withdrawal_id: str) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT status FROM ledger_holds WHERE reference_type = 'withdrawal'"
            " AND reference_id = :id ORDER BY created_at"), {"id": withdrawal_id})
        return [r.status for r in rows]


async def test_approved_then_paid(api: httpx.AsyncClient, fresh_db: Database,
                                  settings: Settings) -> None:
    user = await make_user(fresh_db)
    account = await fund(fresh_db, user, 500_000)
    method = await add_bank(api, settings, user)
    assert (method["status"], method["usable"], method["destination"]) == (
        "verified", True, "XXXX5678")
    w = await withdraw(api, user, method["id"], 200_000)
    assert (w["status"], w["net"], w["code"][:3]) == ("review", 200_000, "WD-")
    assert await balance(fresh_db, account) == (500_000, 200_000)  # held at once

    approved = await api.post(f"/v1/admin/withdrawals/{w['id']}/approve",
                              headers=as_admin(2), json={"reason": "KYC and history fine"})
    assert approved.json()["status"] == "approved", approved.text
    assert await run_jobs(fresh_db, settings) == ["succeeded"]

    paid = (await api.get(f"/v1/me/withdrawals/{w['id']}", headers=as_user(user))).json()
    assert paid["status"] == "paid" and paid["paid_at"] is not None
    assert [d["status"] for d in paid["disbursements"]] == ["succeeded"]
    assert await balance(fresh_db, account) == (300_000, 0)
    assert await clearing(fresh_db) == 200_000
    assert await holds(fresh_db, w["id"]) == ["captured"]
    # Paid once, however often the job runs again.
    assert await flows.disburse(fresh_db, settings, uuid.UUID(w["id"])) == "nothing_to_pay"
    assert await count(fresh_db, "disbursements") == 1


async def test_rejected_releases_with_the_reason(api: httpx.AsyncClient, fresh_db: Database,
                                                 settings: Settings) -> None:
    user = await make_user(fresh_db)
    account = await fund(fresh_db, user, 500_000)
    method = await add_bank(api, settings, user)
    w = await withdraw(api, user, method["id"], 200_000)
    rejected = await api.post(f"/v1/admin/withdrawals/{w['id']}/reject", headers=as_admin(2),
                              json={"reason": "Cashback under investigation"})
    assert rejected.json()["status"] == "rejected"
    mine = (await api.get(f"/v1/me/withdrawals/{w['id']}", headers=as_user(user))).json()
    assert (mine["status"], mine["reason"]) == ("rejected", "Cashback under investigation")
    assert await balance(fresh_db, account) == (500_000, 0)
    assert await holds(fresh_db, w["id"]) == ["released"]
    again = await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(3),
                           json={"reason": "changed my mind"})
    assert_problem(again, 409, "invalid_withdrawal_transition")
    assert await run_jobs(fresh_db, settings) == []


async def test_failed_at_the_provider(api: httpx.AsyncClient, fresh_db: Database,
                                      settings: Settings) -> None:
    user = await make_user(fresh_db)
    account = await fund(fresh_db, user, 500_000)
    method = await add_bank(api, settings, user, number="50100012342222")  # rejects payouts
    w = await withdraw(api, user, method["id"], 150_000)
    await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(2),
                   json={"reason": "fine"})
    assert await run_jobs(fresh_db, settings) == ["failed"]
    mine = (await api.get(f"/v1/me/withdrawals/{w['id']}", headers=as_user(user))).json()
    assert mine["status"] == "failed" and "rejected" in mine["reason"]
    assert await balance(fresh_db, account) == (500_000, 0)
    assert await clearing(fresh_db) == 0


async def test_bounced_after_success_reopens(api: httpx.AsyncClient, fresh_db: Database,
                                             settings: Settings, sandbox: Sandbox) -> None:
    user = await make_user(fresh_db)
    account = await fund(fresh_db, user, 500_000)
    method = await add_bank(api, settings, user)
    w = await withdraw(api, user, method["id"], 200_000)
    await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(2),
                   json={"reason": "fine"})
    await run_jobs(fresh_db, settings)
    ref = (await api.get(f"/v1/me/withdrawals/{w['id']}",
                         headers=as_user(user))).json()["disbursements"][0]["provider_ref"]

    sent = await sandbox.settle(ref, "reversed")
    assert sent is not None
    headers, raw = sent
    for duplicate in (False, True, True):  # the provider delivers its callback three times
        answer = await api.post("/v1/payouts/callbacks/sandbox", content=raw, headers=headers)
        assert answer.json() == {"received": True, "duplicate": duplicate}
    assert await run_jobs(fresh_db, settings) == ["reversed"]
    mine = (await api.get(f"/v1/me/withdrawals/{w['id']}", headers=as_user(user))).json()
    assert (mine["status"], mine["round"]) == ("review", 2)
    assert "bounced" in mine["reason"]
    assert [d["status"] for d in mine["disbursements"]] == ["reversed"]
    assert await balance(fresh_db, account) == (500_000, 200_000)  # back, and held again
    assert await clearing(fresh_db) == 0
    # The sandbox cannot bounce it twice.
    again = await api.post(f"/v1/admin/payouts/sandbox/{ref}", params={"outcome": "reversed"},
                           headers=as_admin(1))
    assert_problem(again, 404, "sandbox_payout_not_found")
    # Reviewed again and paid again: a second attempt, the first one stays reversed.
    await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(3),
                   json={"reason": "new account checked"})
    assert await run_jobs(fresh_db, settings) == ["succeeded"]
    mine = (await api.get(f"/v1/me/withdrawals/{w['id']}", headers=as_user(user))).json()
    assert [d["status"] for d in mine["disbursements"]] == ["reversed", "succeeded"]
    assert await balance(fresh_db, account) == (300_000, 0)
    assert await clearing(fresh_db) == 200_000


async def test_stuck_then_polled(api: httpx.AsyncClient, fresh_db: Database,
                                 settings: Settings, sandbox: Sandbox) -> None:
    user = await make_user(fresh_db)
    account = await fund(fresh_db, user, 500_000)
    method = await add_bank(api, settings, user, number="50100012343333")  # stays processing
    w = await withdraw(api, user, method["id"], 120_000)
    await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(2),
                   json={"reason": "fine"})
    assert await run_jobs(fresh_db, settings) == ["processing"]
    ref = (await api.get(f"/v1/me/withdrawals/{w['id']}",
                         headers=as_user(user))).json()["disbursements"][0]["provider_ref"]
    # Nothing is asked before the deadline; the provider settles without calling back.
    assert await flows.check_waiting(fresh_db, settings, dt.timedelta(hours=1)) == 0
    assert await sandbox.settle(ref, "succeeded") is not None
    assert await flows.check_waiting(fresh_db, settings, dt.timedelta(0)) == 1
    mine = (await api.get(f"/v1/me/withdrawals/{w['id']}", headers=as_user(user))).json()
    assert mine["status"] == "paid"
    assert await balance(fresh_db, account) == (380_000, 0)
    assert await flows.check_waiting(fresh_db, settings, dt.timedelta(0)) == 0


async def test_a_gift_voucher_is_issued_once_approved(api: httpx.AsyncClient,
                                                      fresh_db: Database,
                                                      settings: Settings) -> None:
    user = await make_user(fresh_db)
    account = await fund(fresh_db, user, 300_000)
    answer = await api.post("/v1/me/withdrawals", headers=as_user(user),
                            json={"amount": 100_000, "kind": "gift_voucher"})
    w = answer.json()
    assert (w["status"], w["kind"], w["fee"], w["destination"]) == (
        "review", "gift_voucher", 0, None), w
    await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(2),
                   json={"reason": "fine"})
    assert await run_jobs(fresh_db, settings) == ["voucher_issued"]
    mine = (await api.get(f"/v1/me/withdrawals/{w['id']}", headers=as_user(user))).json()
    assert (mine["status"], mine["reference_type"]) == ("paid", "gift_card")
    assert await balance(fresh_db, account) == (200_000, 0)
    cards = (await api.get("/v1/me/gift-cards", headers=as_user(user))).json()["items"]
    assert [(c["id"], c["balance"]) for c in cards] == [(mine["reference_id"], 100_000)]
    assert cards[0]["pin"] is not None  # the owner's to use or give away
    assert await flows.disburse(fresh_db, settings, uuid.UUID(w["id"])) == "nothing_to_pay"
    refused = await api.post("/v1/me/withdrawals", headers=as_user(user), json={
        "amount": 100_000, "kind": "gift_voucher", "method_id": str(uuid.uuid4())})
    assert_problem(refused, 422, "validation_error")


async def test_a_mobile_recharge_is_a_payout_to_a_number(api: httpx.AsyncClient,
                                                         fresh_db: Database,
                                                         settings: Settings) -> None:
    user = await make_user(fresh_db)
    account = await fund(fresh_db, user, 300_000)
    method = await api.post("/v1/me/payout-methods", headers=as_user(user), json={
        "kind": "mobile", "holder_name": "Rahul Kumar", "phone_number": "9876543210",
        "operator": "JIO", "verification_token": step_up(settings, user)})
    body = method.json()
    assert (body["status"], body["destination"], body["operator"]) == (
        "verified", "XXXX3210", "JIO"), body
    w = await withdraw(api, user, body["id"], 20_000)
    await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(2),
                   json={"reason": "fine"})
    assert await run_jobs(fresh_db, settings) == ["succeeded"]
    assert await balance(fresh_db, account) == (280_000, 0)


async def test_an_ambassadors_commission_is_withdrawn_like_cash(api: httpx.AsyncClient,
                                                                fresh_db: Database,
                                                                settings: Settings) -> None:
    user = await make_user(fresh_db)
    main = await fund(fresh_db, user, 50_000)
    commission = await fund(fresh_db, user, 300_000, purpose="commission")
    method = await add_bank(api, settings, user)
    answer = await api.post("/v1/me/withdrawals", headers=as_user(user), json={
        "amount": 250_000, "source": "commission", "method_id": method["id"]})
    w = answer.json()
    assert answer.status_code == 201, w
    assert await balance(fresh_db, commission) == (300_000, 250_000)
    await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(2),
                   json={"reason": "ambassador payout"})
    assert await run_jobs(fresh_db, settings) == ["succeeded"]
    assert await balance(fresh_db, commission) == (50_000, 0)
    assert await balance(fresh_db, main) == (50_000, 0)  # the main balance is untouched
