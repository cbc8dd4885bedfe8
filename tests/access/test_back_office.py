"""The back office on users: finding them, suspending and re-activating, KYC review, and
wallet adjustments through the ledger."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import clock
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetIn
from gullak.ledger.verify import verify
from gullak.settings import Settings
from tests.helpers.admins import admin_with
from tests.helpers.problems import assert_problem
from tests.helpers.state import changed, fingerprint
from tests.helpers.users import SignedIn, last_code, sign_in

PAN = {"document_type": "pan", "document_number": "ABCDE1234F"}


async def profile(client: httpx.AsyncClient, user: SignedIn, **changes: Any) -> dict[str, Any]:
    r = await client.patch("/v1/me", headers=user.headers, json=changes)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_find_users_by_phone_email_username_or_referral_code(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        settings: Settings) -> None:
    clerk = await admin_with(client, session, settings, "users.read")
    alice = await sign_in(client, connection)
    bob = await sign_in(client, connection)
    a = await profile(client, alice, email="alice.k@example.com", username="alice_k")
    b = await profile(client, bob, email="bob@example.com", username="bobby")

    async def find(query: str | None) -> list[str]:
        r = await client.get("/v1/admin/users", headers=clerk.headers,
                             params={"query": query} if query is not None else {})
        assert r.status_code == 200, r.text
        return [u["id"] for u in r.json()]

    for query in (alice.phone, alice.phone.removeprefix("+91"), "Alice.K@Example.com",
                  "ALICE_K", a["referral_code"], a["referral_code"].lower()):
        assert await find(query) == [a["id"]], query
    for query in (bob.phone, "bob@example.com", "Bobby", b["referral_code"]):
        assert await find(query) == [b["id"]], query
    for query in ("nobody@example.com", "+919999999990", "ZZZZZZZZ", "' OR 1=1 --"):
        assert await find(query) == [], query
    assert {a["id"], b["id"]} <= set(await find(None))
    r = await client.get(f"/v1/admin/users/{a['id']}", headers=clerk.headers)
    assert r.status_code == 200 and r.json()["email"] == "alice.k@example.com"
    assert_problem(await client.get(f"/v1/admin/users/{uuid.uuid4()}", headers=clerk.headers),
                   404, "user_not_found")


async def sign_in_again(client: httpx.AsyncClient, connection: AsyncConnection,
                        phone: str) -> httpx.Response:
    clock.advance(dt.timedelta(seconds=31))  # past the resend cooldown
    r = await client.post("/v1/auth/otp", json={"phone": phone})
    assert r.status_code == 202, r.text
    code = await last_code(connection, phone)
    return await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": code})


async def test_suspend_block_and_reactivate(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        settings: Settings) -> None:
    manager = await admin_with(client, session, settings, "users.manage", "users.read")
    alice = await sign_in(client, connection)
    uid = alice.user["id"]
    status_url = f"/v1/admin/users/{uid}/status"

    before = await fingerprint(connection)
    for status in ("suspended", "blocked", "deactivated"):
        for body in ({"status": status}, {"status": status, "reason": None}):
            r = await client.post(status_url, headers=manager.headers, json=body)
            assert assert_problem(r, 422, "invalid_input")["field"] == "reason"
    r = await client.post(status_url, headers=manager.headers,
                          json={"status": "suspended", "reason": ""})
    assert_problem(r, 422, "validation_error")
    r = await client.post(status_url, headers=manager.headers,
                          json={"status": "banished", "reason": "x"})
    assert_problem(r, 422, "validation_error")
    r = await client.post(f"/v1/admin/users/{uuid.uuid4()}/status", headers=manager.headers,
                          json={"status": "suspended", "reason": "x"})
    assert_problem(r, 404, "user_not_found")
    assert changed(before, await fingerprint(connection)) == []
    assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200

    for status, reason in (("suspended", "chargeback review"), ("blocked", "fraud ring")):
        r = await client.post(status_url, headers=manager.headers,
                              json={"status": status, "reason": reason})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["status_reason"]) == (status, reason)
        # Every session of the user ends at once.
        assert (await client.get("/v1/me", headers=alice.headers)).status_code == 401
        r = await client.post("/v1/auth/refresh", json={"refresh_token": alice.refresh})
        assert r.status_code == 401
        open_sessions = await connection.scalar(text(
            "SELECT count(*) FROM auth_sessions WHERE subject_id = :u AND status = 'active'"),
            {"u": uuid.UUID(uid)})
        assert open_sessions == 0
        # Signing in again is refused as long as the status holds.
        assert_problem(await sign_in_again(client, connection, alice.phone), 403,
                       "account_unavailable")

        r = await client.post(status_url, headers=manager.headers, json={"status": "active"})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["status_reason"]) == ("active", None)
        r = await sign_in_again(client, connection, alice.phone)
        assert r.status_code == 200, r.text
        assert r.json()["user"]["id"] == uid and r.json()["created"] is False
        alice = SignedIn(alice.phone, r.json()["user"], r.json()["access_token"],
                         r.json()["refresh_token"])
        assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200


async def test_kyc_review(client: httpx.AsyncClient, session: AsyncSession,
                          connection: AsyncConnection, settings: Settings) -> None:
    reviewer = await admin_with(client, session, settings, "kyc.review")
    alice = await sign_in(client, connection)
    bob = await sign_in(client, connection)
    records = {}
    for person in (alice, bob):
        r = await client.post("/v1/me/kyc", headers=person.headers, json=PAN)
        assert r.status_code == 201, r.text
        records[person.phone] = r.json()["id"]

    r = await client.get("/v1/admin/kyc", headers=reviewer.headers)
    assert r.status_code == 200
    pending = {k["id"]: k for k in r.json()}
    assert set(records.values()) <= pending.keys()
    assert all(k["status"] == "pending" for k in pending.values())
    # The reviewer sees the number masked, never in full.
    assert "ABCDE1234F" not in r.text
    assert pending[records[alice.phone]]["document_number"].endswith("234F")

    def review(record: str, **body: Any) -> Any:
        return client.post(f"/v1/admin/kyc/{record}/review", headers=reviewer.headers, json=body)

    r = await review(records[alice.phone], decision="verify")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "verified" and r.json()["reviewed_at"] is not None

    before = await fingerprint(connection)
    for body in ({"decision": "reject"}, {"decision": "reject", "reason": None}):
        r = await review(records[bob.phone], **body)
        assert assert_problem(r, 422, "invalid_input")["field"] == "reason"
    assert_problem(await review(records[bob.phone], decision="maybe"), 422, "validation_error")
    for body in ({"decision": "verify"}, {"decision": "reject", "reason": "changed my mind"}):
        assert_problem(await review(records[alice.phone], **body), 409, "kyc_reviewed")
    assert_problem(await review(str(uuid.uuid4()), decision="verify"), 404, "not_found")
    assert changed(before, await fingerprint(connection)) == []

    r = await review(records[bob.phone], decision="reject", reason="blurry photo")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reason"]) == ("rejected", "blurry photo")
    assert_problem(await review(records[bob.phone], decision="verify"), 409, "kyc_reviewed")

    still = {k["id"] for k in (await client.get("/v1/admin/kyc", headers=reviewer.headers)).json()}
    assert not still & set(records.values())
    verified = (await client.get("/v1/admin/kyc", headers=reviewer.headers,
                                 params={"status": "verified"})).json()
    assert records[alice.phone] in {k["id"] for k in verified}
    mine = (await client.get("/v1/me/kyc", headers=bob.headers)).json()
    assert [(k["status"], k["reason"]) for k in mine] == [("rejected", "blurry photo")]


async def test_wallet_adjustments(client: httpx.AsyncClient, session: AsyncSession,
                                  connection: AsyncConnection, settings: Settings) -> None:
    await ledger.create_asset(session, AssetIn(code="COIN", name="Coins", kind="coin", scale=0))
    issuance = await ledger.platform_account(session, "COIN", "issuance")
    finance = await admin_with(client, session, settings, "wallet.adjust")
    alice = await sign_in(client, connection)
    uid = alice.user["id"]
    url = f"/v1/admin/users/{uid}/wallet/adjustments"

    def adjust(amount: Any, key: str | None, reason: str = "goodwill",
               asset: str = "COIN", target: str = url) -> Any:
        headers = {**finance.headers, **({"idempotency-key": key} if key else {})}
        return client.post(target, headers=headers,
                           json={"asset_code": asset, "amount": amount, "reason": reason})

    async def available() -> int:
        r = await client.get("/v1/me/wallet", headers=alice.headers)
        assert r.status_code == 200, r.text
        return sum(w["available"] for w in r.json() if w["asset_code"] == "COIN")

    r = await adjust(100, "credit-1", reason="missed cashback on order 42")
    assert r.status_code == 201, r.text
    credit = r.json()
    wallet = credit["credit_account_id"]
    assert credit["debit_account_id"] == str(issuance.id)
    assert (credit["kind"], credit["amount"], credit["metadata"]) == (
        "adjust", 100, {"reason": "missed cashback on order 42"})
    assert (credit["reference_type"], credit["reference_id"]) == ("user", uid)
    assert await available() == 100

    r = await adjust(-30, "debit-1", reason="duplicate credit")
    assert r.status_code == 201, r.text
    debit = r.json()
    assert (debit["debit_account_id"], debit["credit_account_id"]) == (wallet, str(issuance.id))
    assert (debit["kind"], debit["amount"], debit["metadata"]) == (
        "adjust", 30, {"reason": "duplicate credit"})
    assert await available() == 70

    # The same key and body replays the first answer and moves nothing.
    r = await adjust(100, "credit-1", reason="missed cashback on order 42")
    assert r.status_code == 201 and r.json()["id"] == credit["id"]
    assert await available() == 70

    before = await fingerprint(connection)
    assert_problem(await adjust(0, "zero"), 422, "invalid_amount")
    assert_problem(await adjust(-71, "too-much"), 422, "insufficient_funds")
    assert_problem(await adjust(5, None), 422, "validation_error")
    assert_problem(await adjust("5", "text"), 422, "validation_error")
    assert_problem(await adjust(5.5, "fraction"), 422, "validation_error")
    assert_problem(await adjust(5, "no-reason", reason=""), 422, "validation_error")
    assert_problem(await adjust(5, "credit-1"), 409, "idempotency_key_reused")
    assert_problem(await adjust(5, "gem", asset="GEM"), 404, "asset_not_found")
    assert_problem(await adjust(5, "ghost", target=f"/v1/admin/users/{uuid.uuid4()}"
                                                    "/wallet/adjustments"), 404, "user_not_found")
    assert changed(before, await fingerprint(connection)) == []
    assert await available() == 70

    transfers = (await connection.execute(text(
        "SELECT kind, amount, metadata FROM ledger_transfers WHERE debit_account_id = :w"
        " OR credit_account_id = :w ORDER BY seq"), {"w": uuid.UUID(wallet)})).all()
    assert [tuple(t) for t in transfers] == [
        ("adjust", 100, {"reason": "missed cashback on order 42"}),
        ("adjust", 30, {"reason": "duplicate credit"})]
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]
