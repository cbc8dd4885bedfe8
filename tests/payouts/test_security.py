"""Payouts security: nobody reaches another user's withdrawals or methods, the back office needs
its permissions, callbacks are verified before anything is stored, and account numbers and
UPI ids never leave the database in clear: not in logs, responses or the audit log."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import structlog

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import logging as app_logging
from gullak.payouts import methods
from gullak.payouts.providers.sandbox import Sandbox
from gullak.settings import Settings
from tests.helpers.merchants import new_merchant
from tests.helpers.problems import assert_problem
from tests.payouts.support_settlements import add_method as add_merchant_account
from tests.helpers.state import snapshot
from tests.payouts.support import (
    SANDBOX_SECRET,
    add_bank,
    add_upi,
    as_admin,
    as_user,
    balance,
    count,
    fund,
    make_user,
    post_withdrawal,
    run_jobs,
    withdrawn,
)

CALLBACK = "/v1/payouts/callbacks/sandbox"


async def test_another_users_withdrawals_and_methods_are_out_of_reach(
        api: httpx.AsyncClient, fresh_db: Database, settings: Settings) -> None:
    bob, alice = await make_user(fresh_db, "Bob Mathew"), await make_user(fresh_db)
    account = await fund(fresh_db, bob, 500_000)
    await fund(fresh_db, alice, 500_000)
    method = (await add_bank(api, settings, bob, holder="Bob Mathew"))["id"]
    w = await withdrawn(api, bob, method, 100_000)
    a = as_user(alice)
    missing = str(uuid.uuid4())
    for thing in (w["id"], missing):  # Bob's answers exactly as nothing does
        assert_problem(await api.get(f"/v1/me/withdrawals/{thing}", headers=a), 404,
                       "withdrawal_not_found")
        assert_problem(await api.post(f"/v1/me/withdrawals/{thing}/cancel", headers=a), 404,
                       "withdrawal_not_found")
    for thing in (method, missing):
        assert_problem(await post_withdrawal(api, alice, thing, 20_000), 404,
                       "payout_method_not_found", "method_id")
        assert_problem(await api.delete(f"/v1/me/payout-methods/{thing}", headers=a), 404,
                       "payout_method_not_found")
        assert_problem(await api.post(f"/v1/me/payout-methods/{thing}/verify", headers=a),
                       404, "payout_method_not_found")
    mine = await api.get("/v1/me/withdrawals", headers=a)
    assert mine.json() == {"items": [], "next_cursor": None}
    assert (await api.get("/v1/me/payout-methods", headers=a)).json() == []
    # Bob's things are as they were.
    his = (await api.get(f"/v1/me/withdrawals/{w['id']}", headers=as_user(bob))).json()
    assert his["status"] == "review"
    assert await balance(fresh_db, account) == (500_000, 100_000)
    assert await count(fresh_db, "withdrawals") == 1
    assert await count(fresh_db, "payout_methods", "status = 'verified'") == 1


async def test_back_office_routes_need_their_permission(api: httpx.AsyncClient,
                                                        fresh_db: Database,
                                                        settings: Settings) -> None:
    user = await make_user(fresh_db)
    await fund(fresh_db, user, 500_000)
    method = (await add_bank(api, settings, user))["id"]
    w = (await withdrawn(api, user, method, 100_000))["id"]
    reason = {"reason": "looks fine"}
    channel = {"code": "ID_NEWBANK", "name": "New Bank", "type": "bank", "currency": "IDR"}
    routes: list[tuple[str, str, dict[str, Any] | None, str]] = [
        ("GET", "/v1/admin/withdrawals", None, "payouts.read"),
        ("GET", f"/v1/admin/withdrawals/{w}", None, "payouts.read"),
        ("GET", "/v1/admin/bank-channels", None, "payouts.read"),
        ("POST", f"/v1/admin/withdrawals/{w}/approve", reason, "payouts.review"),
        ("POST", f"/v1/admin/withdrawals/{w}/reject", reason, "payouts.review"),
        ("PATCH", f"/v1/admin/withdrawals/{w}", {"amount": 50_000, **reason},
         "payouts.manage"),
        ("PUT", "/v1/admin/bank-channels/ID_NEWBANK", channel, "payouts.manage"),
        ("POST", "/v1/admin/payouts/sandbox/sandbox_pout_x?outcome=succeeded", None,
         "payouts.manage"),
    ]
    every = {"payouts.read", "payouts.review", "payouts.manage"}
    for method_, path, body, needed in routes:
        others = ",".join(sorted(every - {needed}))
        for headers in (as_admin(5, others), as_user(user)):
            r = await api.request(method_, path, headers=headers, json=body)
            assert_problem(r, 403, "forbidden")
    # Nothing moved: the withdrawal is in review with its hold, no channel, no method.
    his = (await api.get(f"/v1/me/withdrawals/{w}", headers=as_user(user))).json()
    assert (his["status"], his["amount"], his["round"]) == ("review", 100_000, 1)
    assert await count(fresh_db, "withdrawal_decisions") == 0
    assert await count(fresh_db, "bank_channels", "code = 'ID_NEWBANK'") == 0
    assert await count(fresh_db, "payout_methods", "owner_type = 'merchant'") == 0
    # The permission alone is enough (the same admin, who made nothing).
    for method_, path, body, needed in routes[:4]:  # three reads, then an approval
        r = await api.request(method_, path, headers=as_admin(5, needed), json=body)
        assert r.status_code == 200, (path, r.text)


def signed(raw: bytes, secret: str = SANDBOX_SECRET) -> dict[str, str]:
    return {"x-sandbox-signature": hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest(),
            "content-type": "application/json"}


async def test_callbacks_are_verified_before_anything_is_stored(
        api: httpx.AsyncClient, fresh_db: Database) -> None:
    raw = json.dumps({"event_id": "evt_1", "ref": "sandbox_pout_1", "status": "succeeded",
                      "amount": 100}).encode()
    for headers in (signed(raw, "not-the-secret"), {"content-type": "application/json"},
                    {**signed(raw), "x-sandbox-signature": signed(raw)["x-sandbox-signature"]
                     .upper()}):
        r = await api.post(CALLBACK, content=raw, headers=headers)
        assert_problem(r, 401, "invalid_signature")
    # Signed, but not an event of the sandbox.
    for body in (b"not json", b"[1, 2]", b"{}", b'{"ref": "x", "status": "succeeded"}',
                 b'{"event_id": 7, "ref": "x", "status": "succeeded"}', b"\xff\xfe"):
        r = await api.post(CALLBACK, content=body, headers=signed(body))
        assert_problem(r, 422, "invalid_callback")
    r = await api.post("/v1/payouts/callbacks/paypal", content=raw, headers=signed(raw))
    assert_problem(r, 404, "unknown_payout_provider")
    assert await count(fresh_db, "payout_events") == 0
    assert await count(fresh_db, "procrastinate_jobs",
                       "task_name = 'payouts.process_event'") == 0


@pytest.fixture
def log_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """The logs as production writes them (JSON, debug level, redaction included), and the
    events as logged before redaction, and anything printed: all of it, as text."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    app_logging.configure("debug", "json")
    buffer = io.StringIO()
    rendered = logging.StreamHandler(buffer)
    rendered.setFormatter(root.handlers[0].formatter)
    raw = logging.StreamHandler(buffer)  # str() of the event itself, before any processor
    raw.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root.handlers[:] = [*handlers, rendered, raw]

    def read() -> str:
        out = capsys.readouterr()
        return buffer.getvalue() + out.out + out.err

    try:
        yield read
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**saved)


NUMBERS = {"bank account": "50100098765432", "slow account": "50100098763333",
           "failing account": "50100098762222", "merchant account": "60200011112222",
           "upi id": "anita.desai@okaxis", "upi name": "anita.desai"}


async def test_account_numbers_stay_sealed_everywhere(
        api: httpx.AsyncClient, fresh_db: Database, settings: Settings, sandbox: Sandbox,
        log_lines: Callable[[], str]) -> None:
    bodies: list[str] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        bodies.append(response.text)

    api.event_hooks["response"].append(keep)
    user = await make_user(fresh_db, "Anita Desai")
    await fund(fresh_db, user, 1_000_000)
    n = NUMBERS
    bank = await add_bank(api, settings, user, n["bank account"], "Anita Desai")
    slow = await add_bank(api, settings, user, n["slow account"], "Anita Desai")
    failing = await add_bank(api, settings, user, n["failing account"], "Anita Desai")
    upi = await add_upi(api, settings, user, n["upi id"], "Anita Desai")
    r = await api.post("/v1/me/payout-methods", headers=as_user(user), json={
        "kind": "bank", "holder_name": "Anita Desai", "account_number": n["bank account"],
        "ifsc": "HDFC0001234"})  # no step-up: refused
    assert_problem(r, 403, "step_up_required")
    for method in (bank, slow, failing, upi):
        w = await withdrawn(api, user, method["id"], 100_000)
        r = await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(2),
                           json={"reason": "fine"})
        assert r.status_code == 200, r.text
    assert sorted(await run_jobs(fresh_db, settings)) == [
        "failed", "processing", "succeeded", "succeeded"]
    slow_w = (await api.get("/v1/me/withdrawals", headers=as_user(user))).json()["items"][2]
    ref = (await api.get(f"/v1/me/withdrawals/{slow_w['id']}",
                         headers=as_user(user))).json()["disbursements"][0]["provider_ref"]
    r = await api.post(f"/v1/admin/payouts/sandbox/{ref}", params={"outcome": "succeeded"},
                       headers=as_admin(2))
    assert r.json()["duplicate"] is False
    assert await run_jobs(fresh_db, settings) == ["succeeded"]
    async with unit_of_work(fresh_db) as session:
        merchant = (await new_merchant(session)).id
    await add_merchant_account(fresh_db, settings, merchant, n["merchant account"])
    async with unit_of_work(fresh_db) as session:
        assert await methods.merchant_method(session, settings, merchant) is not None
    await api.get("/v1/me/payout-methods", headers=as_user(user))
    await api.get("/v1/admin/withdrawals", headers=as_admin(2))

    logs = log_lines()
    # The capture works: the flow above was logged, callbacks and payouts included.
    assert "payout_callback_received" in logs and "sandbox_payout" in logs
    async with fresh_db.engine.connect() as conn:
        stored = json.dumps(await snapshot(conn))
    assert len(bodies) > 15 and "audit_log" in stored and "payouts.withdrawal.approve" in stored
    for what, value in NUMBERS.items():
        assert value not in logs, f"the {what} is in the logs"
        for body in bodies:
            assert value not in body, f"the {what} is in a response: {body}"
        # Nowhere in the database either: not the audit log, events, jobs or the sandbox.
        assert value not in stored, f"the {what} is stored in clear"
