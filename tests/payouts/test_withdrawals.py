"""Withdrawals: the quote and the fee and tax that follow the money, every refusal holding
nothing, limits per day and month, KYC above a threshold, idempotency, auto-approval of
trusted users, two approvals and maker-checker, edits, cancels, the audit and the lists."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.payouts import withdrawals
from gullak.payouts.providers.sandbox import Sandbox
from gullak.payouts.schemas import QuoteIn
from gullak.settings import Settings
from tests.helpers.problems import assert_problem
from tests.payouts.support import (
    add_bank,
    as_admin,
    as_user,
    balance,
    client_for,
    count,
    fund,
    make_user,
    pay,
    platform_posted,
    post_withdrawal,
    ready,
    run_jobs,
    step_up,
    withdrawn,
)

FAILING = "50100012342222"  # the sandbox fails payouts to it


async def quote(api: httpx.AsyncClient, user: uuid.UUID, amount: int) -> dict[str, Any]:
    r = await api.post("/v1/me/withdrawals/quote", headers=as_user(user), json={"amount": amount})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def approve(api: httpx.AsyncClient, withdrawal_id: str, admin: int,
                  reason: str = "checked and fine") -> httpx.Response:
    return await api.post(f"/v1/admin/withdrawals/{withdrawal_id}/approve",
                          headers=as_admin(admin), json={"reason": reason})


async def audit_of(db: Database, withdrawal_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT action, after FROM audit_log WHERE entity_id = :e"
                                       " ORDER BY at, id"), {"e": withdrawal_id})
        return [(r.action, r.after) for r in rows]


async def test_fee_and_tax_are_quoted_then_follow_the_money(fresh_db: Database,
                                                            settings: Settings) -> None:
    charged = settings.model_copy(update={"payout_fee_flat": 500, "payout_fee_bps": 100,
                                          "payout_tax_bps": 100, "payout_tax_above": 100_000})
    async with client_for(charged, fresh_db) as api:
        user, account, method = await ready(api, fresh_db, charged, 400_000)
        q = await quote(api, user, 200_000)
        assert (q["fee"], q["tax"], q["net"], q["available"]) == (2_500, 2_000, 195_500, 400_000)
        assert (q["kyc_required"], q["approvals_needed"], q["auto_approve"]) == (False, 1, False)
        assert (q["remaining_today"], q["remaining_this_month"]) == (2_500_000, 10_000_000)
        small = await quote(api, user, 50_000)  # below the tax threshold
        assert (small["fee"], small["tax"], small["net"]) == (1_000, 0, 49_000)
        assert await balance(fresh_db, account) == (400_000, 0)  # a quote holds nothing

        w = await withdrawn(api, user, method, 200_000)
        assert (w["fee"], w["tax"], w["net"]) == (2_500, 2_000, 195_500)
        assert await pay(api, fresh_db, charged, w["id"]) == ["succeeded"]
    assert await balance(fresh_db, account) == (200_000, 0)
    assert await platform_posted(fresh_db, "payout_clearing") == 195_500
    assert await platform_posted(fresh_db, "commission_revenue") == 2_500
    assert await platform_posted(fresh_db, "tax_withheld") == 2_000


REFUSED: list[tuple[str, Any, dict[str, Any], str]] = [
    ("over the balance", 300_001, {}, "insufficient_funds"),
    ("below the minimum", 9_999, {}, "withdrawal_amount_out_of_range"),
    ("no commission account", 20_000, {"source": "commission"}, "insufficient_funds"),
    ("zero", 0, {}, "validation_error"),
    ("negative", -20_000, {}, "validation_error"),
    ("2**63", 2**63, {}, "validation_error"),
    ("a float", 20_000.5, {}, "validation_error"),
    ("a whole float", 20_000.0, {}, "validation_error"),
    ("a string", "20000", {}, "validation_error"),
    ("no amount", None, {}, "validation_error"),
    ("a bad asset code", 20_000, {"asset_code": "inr"}, "validation_error"),
]


async def test_refusals_hold_nothing(api: httpx.AsyncClient, fresh_db: Database,
                                     settings: Settings) -> None:
    user, account, method = await ready(api, fresh_db, settings, 300_000)
    for what, amount, fields, code in REFUSED:
        r = await post_withdrawal(api, user, method, amount, **fields)
        assert r.status_code == 422, (what, r.text)
        assert_problem(r, 422, code)
        assert await balance(fresh_db, account) == (300_000, 0), what
    assert await count(fresh_db, "withdrawals") == 0


async def test_coins_cannot_be_quoted_for_withdrawal(api: httpx.AsyncClient,
                                                     fresh_db: Database) -> None:
    user = await make_user(fresh_db)
    await fund(fresh_db, user, 300_000)
    r = await api.post("/v1/me/withdrawals/quote", headers=as_user(user),
                       json={"amount": 20_000, "asset_code": "REZ"})
    assert_problem(r, 422, "asset_not_withdrawable", "asset_code")


async def test_coins_cannot_be_withdrawn(api: httpx.AsyncClient, fresh_db: Database,
                                         settings: Settings) -> None:
    user, account, method = await ready(api, fresh_db, settings, 300_000)
    r = await post_withdrawal(api, user, method, 20_000, asset_code="REZ")
    assert_problem(r, 422, "asset_not_withdrawable", "asset_code")


async def test_methods_that_cannot_receive(api: httpx.AsyncClient, fresh_db: Database,
                                           settings: Settings) -> None:
    user, account, _ = await ready(api, fresh_db, settings, 300_000)
    failed = await api.post("/v1/me/payout-methods", headers=as_user(user), json={
        "kind": "bank", "holder_name": "Rahul Kumar", "account_number": "50100099990000",
        "ifsc": "HDFC0001234", "verification_token": step_up(settings, user)})
    assert failed.json()["status"] == "failed"
    r = await api.put("/v1/admin/bank-channels/ID_BCA", headers=as_admin(), json={
        "code": "ID_BCA", "name": "Bank Central Asia", "type": "bank", "currency": "IDR"})
    assert r.status_code == 200, r.text
    rupiah = await api.post("/v1/me/payout-methods", headers=as_user(user), json={
        "kind": "bank_channel", "holder_name": "Rahul Kumar", "account_number": "8800123456",
        "channel_code": "ID_BCA", "verification_token": step_up(settings, user)})
    assert (rupiah.json()["status"], rupiah.json()["currency"]) == ("verified", "IDR")
    for method in (failed.json()["id"], rupiah.json()["id"]):
        r = await post_withdrawal(api, user, method, 20_000)
        assert_problem(r, 422, "payout_method_not_usable", "method_id")
    assert_problem(await post_withdrawal(api, user, str(uuid.uuid4()), 20_000), 404,
                   "payout_method_not_found")
    assert await balance(fresh_db, account) == (300_000, 0)
    assert await count(fresh_db, "withdrawals") == 0


async def test_daily_limit_counts_what_is_held_or_paid(fresh_db: Database,
                                                       settings: Settings) -> None:
    limited = settings.model_copy(update={"payout_daily_max": 300_000})
    async with client_for(limited, fresh_db) as api:
        user, account, method = await ready(api, fresh_db, limited, 1_000_000)
        failing = (await add_bank(api, limited, user, number=FAILING))["id"]
        lost = await withdrawn(api, user, failing, 200_000)
        assert await pay(api, fresh_db, limited, lost["id"]) == ["failed"]
        held = await withdrawn(api, user, method, 250_000)  # the failed one does not count
        r = await post_withdrawal(api, user, method, 60_000)
        assert_problem(r, 422, "withdrawal_limit_exceeded", "amount")
        assert await balance(fresh_db, account) == (1_000_000, 250_000)
        assert await count(fresh_db, "withdrawals") == 2
        assert (await quote(api, user, 60_000))["remaining_today"] == 50_000
        r = await api.post(f"/v1/admin/withdrawals/{held['id']}/reject", headers=as_admin(2),
                           json={"reason": "not today"})
        assert r.json()["status"] == "rejected"
        await withdrawn(api, user, method, 300_000)  # the rejected one does not count either
        assert await balance(fresh_db, account) == (1_000_000, 300_000)


async def earlier_this_month(db: Database) -> None:
    """Make the withdrawals so far look made on an earlier day of this month, as the app's
    clock sees it (the rows are stamped by the database's clock)."""
    today = clock.now()
    if today.day == 1:
        clock.advance(dt.timedelta(days=1))
        return
    start = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE withdrawals SET created_at = :t"), {"t": start})


async def test_monthly_limit_counts_earlier_days(fresh_db: Database,
                                                 settings: Settings) -> None:
    limited = settings.model_copy(update={"payout_daily_max": 300_000,
                                          "payout_monthly_max": 500_000})
    async with client_for(limited, fresh_db) as api:
        user, account, method = await ready(api, fresh_db, limited, 1_000_000)
        await withdrawn(api, user, method, 250_000)
        await earlier_this_month(fresh_db)
        q = await quote(api, user, 10_000)
        assert (q["remaining_today"], q["remaining_this_month"]) == (300_000, 250_000)
        await withdrawn(api, user, method, 250_000)
        r = await post_withdrawal(api, user, method, 10_000)
        assert_problem(r, 422, "withdrawal_limit_exceeded", "amount")
        q = await quote(api, user, 10_000)
        # The month refused it: today alone had room (50,000 left, or all of it on the 1st,
        # when the clock was moved instead).
        assert q["remaining_this_month"] == 0 and q["remaining_today"] >= 10_000
    assert await balance(fresh_db, account) == (1_000_000, 500_000)
    assert await count(fresh_db, "withdrawals") == 2


async def test_kyc_with_a_pan_above_the_threshold(api: httpx.AsyncClient, fresh_db: Database,
                                                  settings: Settings) -> None:
    above = settings.payout_kyc_above + 1
    for kyc, pan in ((False, False), (True, False)):
        user, account, method = await ready(api, fresh_db, settings, 2_000_000, kyc=kyc,
                                            pan=pan)
        assert (await quote(api, user, above))["kyc_required"] is True
        assert_problem(await post_withdrawal(api, user, method, above), 422, "kyc_required",
                       "amount")
        assert await balance(fresh_db, account) == (2_000_000, 0)
        # At the threshold itself, no KYC is asked.
        w = await withdrawn(api, user, method, settings.payout_kyc_above)
        assert w["status"] == "review"
    user, account, method = await ready(api, fresh_db, settings, 2_000_000)
    await withdrawn(api, user, method, above)
    assert await balance(fresh_db, account) == (2_000_000, above)


async def test_the_same_key_gives_the_same_withdrawal(api: httpx.AsyncClient,
                                                      fresh_db: Database,
                                                      settings: Settings) -> None:
    user, account, method = await ready(api, fresh_db, settings, 300_000)
    first = await withdrawn(api, user, method, 50_000, key="wd-1")
    again = await withdrawn(api, user, method, 50_000, key="wd-1")
    assert again["id"] == first["id"] and again["code"] == first["code"]
    assert await balance(fresh_db, account) == (300_000, 50_000)
    r = await post_withdrawal(api, user, method, 60_000, key="wd-1")
    assert_problem(r, 409, "idempotency_key_reused")
    other = await withdrawn(api, user, method, 50_000, key="wd-2")
    assert other["id"] != first["id"]
    assert await balance(fresh_db, account) == (300_000, 100_000)
    assert await count(fresh_db, "withdrawals") == 2
    assert await count(fresh_db, "ledger_holds", "status = 'pending'") == 2


async def test_trusted_users_small_withdrawals_are_paid_without_review(
        api: httpx.AsyncClient, fresh_db: Database, settings: Settings) -> None:
    assert settings.payout_trusted_after == 1
    user, account, method = await ready(api, fresh_db, settings, 500_000)
    first = await withdrawn(api, user, method, 200_000)
    assert (first["status"], first["auto_approved"]) == ("review", False)  # no history yet
    assert await pay(api, fresh_db, settings, first["id"]) == ["succeeded"]

    assert (await quote(api, user, 50_000))["auto_approve"] is True
    w = await withdrawn(api, user, method, 50_000)
    assert (w["status"], w["auto_approved"]) == ("approved", True)
    assert await count(fresh_db, "procrastinate_jobs", "task_name = 'payouts.disburse'"
                       " AND status = 'todo'") == 1
    assert await run_jobs(fresh_db, settings) == ["succeeded"]
    mine = (await api.get(f"/v1/me/withdrawals/{w['id']}", headers=as_user(user))).json()
    assert mine["status"] == "paid"
    assert await balance(fresh_db, account) == (250_000, 0)
    # Above the auto-approve ceiling, a person still looks.
    big = await withdrawn(api, user, method, settings.payout_auto_approve_max + 1)
    assert big["status"] == "review"


async def test_no_kyc_or_a_bounce_means_review(api: httpx.AsyncClient, fresh_db: Database,
                                               settings: Settings, sandbox: Sandbox) -> None:
    # Paid before, but no verified KYC.
    user, _, method = await ready(api, fresh_db, settings, 500_000, kyc=False)
    first = await withdrawn(api, user, method, 200_000)
    assert await pay(api, fresh_db, settings, first["id"]) == ["succeeded"]
    assert (await withdrawn(api, user, method, 50_000))["status"] == "review"

    # Paid before, then bounced.
    user, _, method = await ready(api, fresh_db, settings, 500_000)
    first = await withdrawn(api, user, method, 200_000)
    assert await pay(api, fresh_db, settings, first["id"]) == ["succeeded"]
    mine = (await api.get(f"/v1/me/withdrawals/{first['id']}", headers=as_user(user))).json()
    sent = await sandbox.settle(mine["disbursements"][0]["provider_ref"], "reversed")
    assert sent is not None
    headers, raw = sent
    r = await api.post("/v1/payouts/callbacks/sandbox", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    assert await run_jobs(fresh_db, settings) == ["reversed"]
    w = await withdrawn(api, user, method, 50_000)
    assert (w["status"], w["auto_approved"]) == ("review", False)
    assert await count(fresh_db, "procrastinate_jobs", "task_name = 'payouts.disburse'"
                       " AND status = 'todo'") == 0


async def test_two_approvals_from_two_admins(fresh_db: Database, settings: Settings) -> None:
    strict = settings.model_copy(update={"payout_two_approvals_above": 100_000})
    async with client_for(strict, fresh_db) as api:
        user, account, method = await ready(api, fresh_db, strict, 500_000)
        w = await withdrawn(api, user, method, 200_000)
        assert w["approvals_needed"] == 2
        first = await approve(api, w["id"], 2)
        assert (first.json()["status"], first.json()["approvals"]) == ("review", 1)
        assert_problem(await approve(api, w["id"], 2), 403, "maker_checker")
        second = await approve(api, w["id"], 3)
        assert (second.json()["status"], second.json()["approvals"]) == ("approved", 2)
        assert await run_jobs(fresh_db, strict) == ["succeeded"]
    assert await balance(fresh_db, account) == (300_000, 0)
    assert [action for action, _ in await audit_of(fresh_db, w["id"])] == [
        "payouts.withdrawal.approve", "payouts.withdrawal.approve"]


async def test_an_editor_cannot_approve_and_an_edit_resets_the_review(
        fresh_db: Database, settings: Settings) -> None:
    strict = settings.model_copy(update={"payout_two_approvals_above": 100_000})
    async with client_for(strict, fresh_db) as api:
        user, account, method = await ready(api, fresh_db, strict, 500_000)
        w = await withdrawn(api, user, method, 200_000)
        assert (await approve(api, w["id"], 4)).json()["approvals"] == 1
        path = f"/v1/admin/withdrawals/{w['id']}"
        higher = await api.patch(path, headers=as_admin(2),
                                 json={"amount": 250_000, "reason": "asked for more"})
        assert_problem(higher, 422, "withdrawal_amount_out_of_range", "amount")
        edited = await api.patch(path, headers=as_admin(2),
                                 json={"amount": 150_000, "reason": "partly disputed"})
        assert edited.status_code == 200, edited.text
        body = edited.json()
        assert (body["amount"], body["round"], body["approvals"], body["status"]) == (
            150_000, 2, 0, "review")
        assert await balance(fresh_db, account) == (500_000, 150_000)  # the hold replaced
        assert_problem(await approve(api, w["id"], 2), 403, "maker_checker")
        assert (await approve(api, w["id"], 3)).json()["approvals"] == 1
        # The approval given before the edit counts no more: the same admin approves again.
        assert (await approve(api, w["id"], 4)).json()["status"] == "approved"
        assert await run_jobs(fresh_db, strict) == ["succeeded"]
        late = await api.patch(path, headers=as_admin(2), json={"amount": 100_000,
                                                                "reason": "too late"})
        assert_problem(late, 409, "invalid_withdrawal_transition")
    assert await balance(fresh_db, account) == (350_000, 0)
    assert await platform_posted(fresh_db, "payout_clearing") == 150_000
    entries = await audit_of(fresh_db, w["id"])
    assert [a for a, _ in entries] == ["payouts.withdrawal.approve", "payouts.withdrawal.edit",
                                       "payouts.withdrawal.approve",
                                       "payouts.withdrawal.approve"]
    assert entries[1][1]["reason"] == "partly disputed"
    assert [after["decision_reason"] for a, after in entries if a.endswith("approve")] == [
        "checked and fine"] * 3


async def test_cancel_by_the_owner(api: httpx.AsyncClient, fresh_db: Database,
                                   settings: Settings) -> None:
    user, account, method = await ready(api, fresh_db, settings, 500_000)
    w = await withdrawn(api, user, method, 100_000)
    r = await api.post(f"/v1/me/withdrawals/{w['id']}/cancel", headers=as_user(user))
    assert (r.status_code, r.json()["status"]) == (200, "cancelled")
    assert await balance(fresh_db, account) == (500_000, 0)
    again = await api.post(f"/v1/me/withdrawals/{w['id']}/cancel", headers=as_user(user))
    assert_problem(again, 409, "invalid_withdrawal_transition")
    approved = await withdrawn(api, user, method, 100_000)
    assert (await approve(api, approved["id"], 2)).json()["status"] == "approved"
    r = await api.post(f"/v1/me/withdrawals/{approved['id']}/cancel", headers=as_user(user))
    assert_problem(r, 409, "invalid_withdrawal_transition")
    assert await balance(fresh_db, account) == (500_000, 100_000)
    assert await run_jobs(fresh_db, settings) == ["succeeded"]


async def test_a_rejection_is_audited_with_its_reason(api: httpx.AsyncClient,
                                                      fresh_db: Database,
                                                      settings: Settings) -> None:
    user, _, method = await ready(api, fresh_db, settings, 500_000)
    w = await withdrawn(api, user, method, 100_000)
    r = await api.post(f"/v1/admin/withdrawals/{w['id']}/reject", headers=as_admin(2),
                       json={"reason": "Cashback under investigation"})
    assert r.json()["status"] == "rejected"
    [(action, after)] = await audit_of(fresh_db, w["id"])
    assert action == "payouts.withdrawal.reject"
    assert (after["status"], after["decision_reason"]) == (
        "rejected", "Cashback under investigation")
    async with fresh_db.engine.connect() as conn:
        actor = await conn.scalar(text("SELECT actor_id FROM audit_log WHERE entity_id = :e"),
                                  {"e": w["id"]})
    assert actor == uuid.UUID(int=2)


async def test_queue_oldest_first_and_mine_newest_first(api: httpx.AsyncClient,
                                                        fresh_db: Database,
                                                        settings: Settings) -> None:
    ann, _, ann_method = await ready(api, fresh_db, settings, 500_000)
    ben, _, ben_method = await ready(api, fresh_db, settings, 500_000)
    made = []
    for user, method in ((ann, ann_method), (ben, ben_method), (ann, ann_method),
                         (ben, ben_method), (ann, ann_method)):
        made.append((user, (await withdrawn(api, user, method, 20_000))["id"]))
    done = made.pop(1)[1]  # Ben's first, rejected: out of the queue
    await api.post(f"/v1/admin/withdrawals/{done}/reject", headers=as_admin(2),
                   json={"reason": "duplicate"})
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"status": "review", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/v1/admin/withdrawals", headers=as_admin(3, "payouts.read"),
                              params=params)).json()
        seen += [w["id"] for w in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [w for _, w in made] and pages == 2
    mine = (await api.get("/v1/me/withdrawals", headers=as_user(ann))).json()
    assert [w["id"] for w in mine["items"]] == [w for u, w in reversed(made) if u == ann]
    assert mine["next_cursor"] is None


async def test_an_edit_to_the_same_amount_keeps_one_hold(api: httpx.AsyncClient,
                                                         fresh_db: Database,
                                                         settings: Settings) -> None:
    user, account, method = await ready(api, fresh_db, settings, 500_000)
    w = await withdrawn(api, user, method, 200_000)
    r = await api.patch(f"/v1/admin/withdrawals/{w['id']}", headers=as_admin(2),
                        json={"amount": 200_000, "reason": "amount confirmed"})
    assert r.status_code == 200, r.text
    assert await balance(fresh_db, account) == (500_000, 200_000)
    assert await count(fresh_db, "ledger_holds", "status = 'pending'") == 1


async def test_a_method_change_keeps_the_hold(api: httpx.AsyncClient, fresh_db: Database,
                                              settings: Settings) -> None:
    user, account, method = await ready(api, fresh_db, settings, 500_000)
    other = (await add_bank(api, settings, user, number="50100055556666"))["id"]
    w = await withdrawn(api, user, method, 200_000)
    r = await api.patch(f"/v1/admin/withdrawals/{w['id']}", headers=as_admin(2),
                        json={"method_id": other, "reason": "the user asked"})
    assert (r.json()["method_id"], r.json()["round"], r.json()["amount"]) == (other, 2, 200_000)
    assert await balance(fresh_db, account) == (500_000, 200_000)
    assert await count(fresh_db, "ledger_holds", "status = 'pending'") == 1
    stranger = await make_user(fresh_db)
    theirs = (await add_bank(api, settings, stranger))["id"]
    r = await api.patch(f"/v1/admin/withdrawals/{w['id']}", headers=as_admin(2),
                        json={"method_id": theirs, "reason": "wrong one"})
    assert_problem(r, 404, "payout_method_not_found", "method_id")


async def test_a_paid_withdrawal_that_was_edited_counts_toward_trust(
        api: httpx.AsyncClient, fresh_db: Database, settings: Settings) -> None:
    user, _, method = await ready(api, fresh_db, settings, 500_000)
    first = await withdrawn(api, user, method, 200_000)
    r = await api.patch(f"/v1/admin/withdrawals/{first['id']}", headers=as_admin(3),
                        json={"amount": 150_000, "reason": "partly disputed"})
    assert r.status_code == 200, r.text
    assert await pay(api, fresh_db, settings, first["id"]) == ["succeeded"]
    # Verified KYC, one withdrawal paid, never a bounce: trusted, as documented.
    assert (await quote(api, user, 50_000))["auto_approve"] is True


async def test_fees_and_tax_are_users_not_merchants_settlements(fresh_db: Database,
                                                                 settings: Settings) -> None:
    charged = settings.model_copy(update={"payout_fee_flat": 500, "payout_tax_bps": 100})
    user, merchant = await make_user(fresh_db), uuid.uuid4()
    await fund(fresh_db, user, 500_000)
    await fund(fresh_db, merchant, 500_000, owner="merchant")
    async with unit_of_work(fresh_db) as session:
        mine = await withdrawals.quote(session, charged, "user", user, QuoteIn(amount=200_000))
        theirs = await withdrawals.quote(session, charged, "merchant", merchant,
                                         QuoteIn(amount=200_000))
    assert (mine.fee, mine.tax, mine.net) == (500, 2_000, 197_500)
    assert (theirs.fee, theirs.tax, theirs.net) == (0, 0, 200_000)
