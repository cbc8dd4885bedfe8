"""Bank accounts: sealed numbers, masked output, verification through the sandbox and through
Cashfree's API (against httpx.MockTransport), run by the worker after the account committed."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak import worker
from gullak.app import create_app
from gullak.db.engine import Database
from gullak.kit.errors import GullakError
from gullak.merchants import banking, jobs, service
from gullak.merchants.schemas import BankAccountIn, MerchantIn, MerchantUserIn, Role
from gullak.settings import Settings
from tests.helpers.http import http_client
from tests.helpers.merchants import PASSWORD, Actor, new_merchant, staff_of
from tests.helpers.problems import assert_problem
from tests.helpers.state import fingerprint

CHECK = banking.Check(account_number="026291800001191", ifsc="YESB0000262", holder="Anil Rao",
                      phone="9999999999")


# -- the sandbox ------------------------------------------------------------------------------

async def test_the_sandbox_is_deterministic_and_says_what_it_is() -> None:
    sandbox = banking.SandboxVerifier()
    ok = await sandbox.verify(CHECK)
    assert (ok.outcome, ok.provider, ok.name_at_bank) == ("verified", "sandbox", "ANIL RAO")
    bad = await sandbox.verify(banking.Check("123456780000", "HDFC0001234", "X"))
    assert (bad.outcome, bad.reason) == ("failed", "sandbox: INVALID_BANK_ACCOUNT")
    later = await sandbox.verify(banking.Check("123456781111", "HDFC0001234", "X"))
    assert later.outcome == "pending"


# -- Cashfree ---------------------------------------------------------------------------------

def cashfree(handler: Any) -> banking.CashfreeVerifier:
    return banking.CashfreeVerifier("cf-id", "cf-secret",
                                    base_url="https://sandbox.cashfree.com/verification/",
                                    transport=httpx.MockTransport(handler))


async def test_cashfree_request_and_a_valid_account() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={
            "reference_id": 23, "name_at_bank": "ANIL RAO", "bank_name": "YES BANK",
            "utr": "404223241811", "name_match_score": "90.00",
            "name_match_result": "GOOD_PARTIAL_MATCH", "account_status": "VALID",
            "account_status_code": "ACCOUNT_IS_VALID"})

    result = await cashfree(handler).verify(CHECK)
    assert result == banking.Result("verified", "cashfree", name_at_bank="ANIL RAO",
                                    reference="23")
    [request] = seen
    assert (request.method, str(request.url)) == (
        "POST", "https://sandbox.cashfree.com/verification/bank-account/sync")
    assert request.headers["x-client-id"] == "cf-id"
    assert request.headers["x-client-secret"] == "cf-secret"
    assert json.loads(request.content) == {"bank_account": "026291800001191",
                                           "ifsc": "YESB0000262", "name": "Anil Rao",
                                           "phone": "9999999999"}


@pytest.mark.parametrize("status,body,outcome,reason", [
    (200, {"reference_id": 7, "account_status": "INVALID",
           "account_status_code": "ACCOUNT_BLOCKED"}, "failed", "ACCOUNT_BLOCKED"),
    (200, {"reference_id": 8, "account_status": "RECEIVED"}, "pending", "RECEIVED"),
    (422, {"type": "validation_error", "code": "bank_account_invalid",
           "message": "bank_account : should contain only numbers"}, "failed",
     "bank_account_invalid"),
])
async def test_cashfree_final_and_pending_answers(status: int, body: dict[str, Any],
                                                  outcome: str, reason: str) -> None:
    result = await cashfree(lambda _: httpx.Response(status, json=body)).verify(CHECK)
    assert (result.outcome, result.reason) == (outcome, reason)


@pytest.mark.parametrize("response", [
    httpx.Response(500, json={"code": "internal_error"}),
    httpx.Response(401, json={"code": "authentication_failed"}),
    httpx.Response(429, text="slow down"),
])
async def test_cashfree_outages_are_errors_to_retry(response: httpx.Response) -> None:
    with pytest.raises(GullakError) as info:
        await cashfree(lambda _: response).verify(CHECK)
    assert info.value.code == "bank_verification_unavailable"


async def test_cashfree_network_errors_are_errors_to_retry() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with pytest.raises(GullakError) as info:
        await cashfree(handler).verify(CHECK)
    assert info.value.code == "bank_verification_unavailable"


def test_the_provider_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(banking.configured(), banking.SandboxVerifier)
    monkeypatch.setenv("GULLAK_BANK_VERIFICATION_PROVIDER", "cashfree")
    with pytest.raises(GullakError):
        banking.configured()  # no credentials
    monkeypatch.setenv("GULLAK_BANK_VERIFICATION_CASHFREE_CLIENT_ID", "id")
    monkeypatch.setenv("GULLAK_BANK_VERIFICATION_CASHFREE_CLIENT_SECRET", "secret")
    verifier = banking.configured()
    assert isinstance(verifier, banking.CashfreeVerifier)
    assert verifier.base_url == "https://api.cashfree.com/verification"


# -- accounts ---------------------------------------------------------------------------------

async def test_accounts_are_sealed_masked_and_one_is_primary(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession) -> None:
    merchant = await new_merchant(session)
    owner = await staff_of(client, session, merchant.id)
    body = {"account_holder": "Bombay Brew House", "account_number": "50100123456789",
            "ifsc": "hdfc0001234"}
    r = await client.post("/v1/merchant/bank-accounts", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["account_number"] == "XXXXXXXX6789" and first["ifsc"] == "HDFC0001234"
    assert (first["status"], first["primary"]) == ("pending", True)
    stored = await connection.scalar(text(
        "SELECT account_number FROM merchant_bank_accounts WHERE id = :i"), {"i": first["id"]})
    assert "50100123456789" not in stored and stored.startswith("v1.")
    jobs_written = (await connection.execute(text(
        "SELECT args FROM procrastinate_jobs WHERE task_name = 'merchants.verify_bank_account'"
    ))).scalars().all()
    assert jobs_written == [{"account_id": first["id"]}]
    r = await client.post("/v1/merchant/bank-accounts", headers=owner.headers,
                          json=body | {"account_number": "50100987654321"})
    listed = (await client.get("/v1/merchant/bank-accounts", headers=owner.headers)).json()
    assert [(a["id"], a["primary"]) for a in listed] == [(r.json()["id"], True),
                                                         (first["id"], False)]


async def test_invalid_accounts_are_refused_and_change_nothing(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        admin: Actor) -> None:
    merchant = await new_merchant(session)
    before = await fingerprint(connection)
    for fields, code, field in (
            ({"ifsc": "HDFC1001234"}, "invalid_ifsc", "ifsc"),
            ({"account_number": "12AB5678901"}, "invalid_bank_account", "account_number")):
        body = {"account_holder": "X", "account_number": "50100123456789",
                "ifsc": "HDFC0001234"} | fields
        r = await client.post(f"/v1/admin/merchants/{merchant.id}/bank-accounts", json=body,
                              headers=admin.headers)
        assert_problem(r, 422, code, field)
    assert await fingerprint(connection) == before


async def committed_account(db: Database, settings: Settings, number: str) -> uuid.UUID:
    async with db.sessionmaker() as session, session.begin():
        merchant = await service.create_merchant(session, MerchantIn(name="Payee"), None)
        account = await service.add_bank_account(session, settings, merchant.id, BankAccountIn(
            account_holder="Payee Traders", account_number=number, ifsc="HDFC0001234"), None)
    return account.id


async def test_verification_outside_the_transaction(fresh_db: Database,
                                                    settings: Settings) -> None:
    good = await committed_account(fresh_db, settings, "501001234567")
    bad = await committed_account(fresh_db, settings, "501001230000")
    sandbox = banking.SandboxVerifier()
    verified = await service.verify_bank_account(fresh_db, settings, good, sandbox)
    assert verified is not None
    assert (verified.status, verified.verified_name, verified.provider) == (
        "verified", "PAYEE TRADERS", "sandbox")
    assert verified.verified_at is not None
    failed = await service.verify_bank_account(fresh_db, settings, bad, sandbox)
    assert failed is not None
    assert (failed.status, failed.failure_reason) == ("failed", "sandbox: INVALID_BANK_ACCOUNT")
    # A decided account is not asked about again.
    assert await service.verify_bank_account(fresh_db, settings, good, sandbox) is None
    async with fresh_db.sessionmaker() as session:
        payout = await service.payout_account(session, verified.merchant_id)
        assert payout is not None and payout.id == good
        assert await service.payout_account(session, failed.merchant_id) is None
    async with fresh_db.engine.connect() as conn:
        actions = (await conn.scalars(text(
            "SELECT action FROM audit_log WHERE entity_type = 'merchant_bank_account'"
            " AND action <> 'merchant_bank_account.create' ORDER BY at, id"))).all()
    assert actions == ["merchant_bank_account.verified", "merchant_bank_account.failed"]


async def test_the_worker_verifies_a_new_account(fresh_db: Database, settings: Settings,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    app: FastAPI = create_app(settings, fresh_db)
    async with fresh_db.sessionmaker() as session, session.begin():
        merchant = await service.create_merchant(session, MerchantIn(name="Payee"), None)
        await service.create_merchant_user(session, merchant.id, MerchantUserIn(
            email="payee@example.com", name="Payee", role=Role.owner, password=PASSWORD), None)
    async with http_client(app) as c:
        r = await c.post("/v1/merchant/auth/login",
                         json={"email": "payee@example.com", "password": PASSWORD})
        headers = {"authorization": f"Bearer {r.json()['access_token']}"}
        r = await c.post("/v1/merchant/bank-accounts", headers=headers, json={
            "account_holder": "Payee", "account_number": "501001234567", "ifsc": "SBIN0000001"})
        assert r.status_code == 201, r.text
        account_id = r.json()["id"]
    monkeypatch.setattr(jobs, "get_settings", lambda: settings)
    await worker.run(fresh_db.url, concurrency=1, stop_after_idle=True)
    async with fresh_db.sessionmaker() as session:
        account = await service.get_bank_account(session, uuid.UUID(account_id))
    assert (account.status, account.provider) == ("verified", "sandbox")
