"""Cashback over HTTP: networks and their secrets, postbacks verified by token or HMAC, the
lifecycle (pending, confirmed, rejected) with duplicates, out-of-order and unknown clicks, and
every balance read back from the ledger."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.ledger.verify import verify
from tests.cashback.support import (
    KEY,
    TOKEN,
    balances,
    click,
    network,
    post,
    receivable,
    shop,
    signed,
)
from tests.helpers.offers import Actors
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.usefixtures("assets")
MANAGE = ("cashback.manage", "cashback.read")


async def count(session: AsyncSession, table: str) -> int:
    return int(await session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


async def test_a_network_secret_shows_once_and_bad_tokens_are_only_counted(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    admin = actors.admin(*MANAGE)
    r = await client.post("/v1/admin/cashback/networks", headers=admin, json={
        "code": "cuelinks", "name": "Cuelinks", "auth_mode": "token",
        "status_map": {"Approved": "confirmed"}})
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    assert len(secret) == 64 and r.json()["secret_hint"].endswith(secret[-4:])
    for path in ("/v1/admin/cashback/networks", "/v1/admin/cashback/networks/cuelinks"):
        r = await client.get(path, headers=admin)
        assert r.status_code == 200 and secret not in r.text
    r = await client.patch("/v1/admin/cashback/networks/cuelinks", headers=admin,
                           json={"name": "Cuelinks India"})
    assert r.status_code == 200 and secret not in r.text
    audit = await session.scalar(text(
        "SELECT string_agg(coalesce(before::text, '') || after::text, ' ') FROM audit_log"
        " WHERE entity_type = 'cashback_network'"))
    assert audit and secret not in audit

    body = {"transaction_id": "T1", "amount": 10_000, "status": "Approved"}
    for token in ("wrong-token-000000000000", None):
        r = await post(client, "cuelinks", body, token=token)
        assert_problem(r, 401, "postback_signature_invalid")
        assert secret not in r.text
    r = await client.get("/v1/admin/cashback/networks/cuelinks", headers=admin)
    assert r.json()["refused_postbacks"] == 2
    assert await count(session, "cashback_events") == 0
    assert await count(session, "cashbacks") == 0
    # The token in a header of that name proves as well as in the query.
    r = await client.post("/v1/cashback/postbacks/cuelinks", json=body,
                          headers={"token": secret})
    assert r.status_code == 200 and r.json()["outcome"] == "unmatched", r.text

    r = await client.post("/v1/admin/cashback/networks", headers=actors.admin("cashback.read"),
                          json={"code": "other", "name": "Other", "auth_mode": "hmac"})
    assert_problem(r, 403, "forbidden")
    r = await post(client, "nosuch", body)
    assert_problem(r, 404, "cashback_network_not_found")


async def test_hmac_postbacks_good_bad_and_missing(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    code = await network(session, "admitad", "hmac", signature_header="X-Admitad-Sig")
    body = {"transaction_id": "H1", "amount": 50_000, "status": "open"}
    r = await signed(client, code, body, header="X-Admitad-Sig")
    assert r.status_code == 200 and r.json()["outcome"] == "unmatched", r.text
    r = await signed(client, code, body, key="not-the-key-0123456789", header="X-Admitad-Sig")
    assert_problem(r, 401, "postback_signature_invalid")
    r = await signed(client, code, body, key=None)
    assert_problem(r, 401, "postback_signature_invalid")
    r = await signed(client, code, body)  # signed, in the wrong header
    assert_problem(r, 401, "postback_signature_invalid")
    assert KEY not in r.text
    # A token is no signature: the key itself in the query proves nothing to an HMAC network.
    r = await post(client, code, body, token=KEY)
    assert_problem(r, 401, "postback_signature_invalid")
    assert await count(session, "cashback_events") == 1


async def test_pending_then_confirmed_credits_the_main_account_once(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    s = await shop(session)
    user = uuid.uuid4()
    clicked = await click(session, s.offer_id, user)
    code = await network(session)
    pending = {"transaction_id": "ORD-1", "click_id": str(clicked), "amount": 150_000,
               "commission": 30_000, "status": "open"}
    r = await post(client, code, pending)
    assert r.status_code == 200, r.text
    assert (r.json()["outcome"], r.json()["status"]) == ("applied", "pending")
    cashback_id = r.json()["cashback_id"]
    # 10 % of ₹1,500 is ₹150: pending, not available.
    assert await balances(session, user) == (15_000, 0)
    assert await receivable(session) == -15_000
    me = actors.user(user)
    r = await client.get("/v1/me/cashback/summary", headers=me)
    assert r.json() == {"currency": "INR", "pending": 15_000, "confirmed": 0, "rejected": 0,
                        "count": 1}

    # A copy has one effect.
    transfers = await count(session, "ledger_transfers")
    r = await post(client, code, pending)
    assert r.json()["outcome"] == "duplicate"
    assert await count(session, "ledger_transfers") == transfers

    # A new amount while pending moves the difference; then the network approves.
    r = await post(client, code, {**pending, "amount": 100_000})
    assert r.json()["outcome"] == "applied"
    assert await balances(session, user) == (10_000, 0)
    confirmed = {**pending, "amount": 100_000, "status": "approved"}
    r = await post(client, code, confirmed)
    assert (r.json()["outcome"], r.json()["status"]) == ("applied", "confirmed")
    assert await balances(session, user) == (0, 10_000)
    for late in (confirmed, pending, {**pending, "status": "declined"}):
        r = await post(client, code, late)
        assert r.json()["outcome"] in ("duplicate", "ignored")
    assert await balances(session, user) == (0, 10_000)
    assert await receivable(session) == -10_000

    items = (await client.get("/v1/me/cashback", headers=me)).json()["items"]
    assert [(i["id"], i["status"], i["amount"], i["merchant_id"]) for i in items] == [
        (cashback_id, "confirmed", 10_000, str(s.merchant_id))]
    assert items[0]["merchant_name"]
    r = await client.get("/v1/me/cashback/summary", headers=me)
    assert (r.json()["pending"], r.json()["confirmed"]) == (0, 10_000)
    events = (await client.get("/v1/admin/cashback/events", headers=actors.admin(*MANAGE),
                               params={"cashback_id": cashback_id})).json()["items"]
    assert [e["outcome"] for e in reversed(events)] == [
        "applied", "duplicate", "applied", "applied", "duplicate", "ignored", "ignored"]
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]


async def test_out_of_order_confirmed_first_and_a_late_pending_changes_nothing(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    s = await shop(session)
    user = uuid.uuid4()
    clicked = await click(session, s.offer_id, user)
    code = await network(session)
    body = {"transaction_id": "OOO-1", "click_id": str(clicked), "amount": 500_000}
    r = await post(client, code, {**body, "status": "approved"})
    assert r.json()["status"] == "confirmed"
    # 10 % of ₹5,000 is ₹500, capped by the offer at ₹200.
    assert await balances(session, user) == (0, 20_000)
    r = await post(client, code, {**body, "status": "open"})
    assert (r.json()["outcome"], r.json()["status"]) == ("ignored", "confirmed")
    assert await balances(session, user) == (0, 20_000)


async def test_rejected_moves_the_pending_cashback_back(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    s = await shop(session)
    user = uuid.uuid4()
    clicked = await click(session, s.offer_id, user)
    code = await network(session)
    body = {"transaction_id": "R-1", "click_id": str(clicked), "amount": "40000"}
    await post(client, code, {**body, "status": "open"})
    assert await balances(session, user) == (4_000, 0)
    r = await post(client, code, {**body, "status": "declined"})
    assert r.json()["status"] == "rejected"
    assert await balances(session, user) == (0, 0)
    assert await receivable(session) == 0
    r = await client.get("/v1/me/cashback/summary", headers=actors.user(user))
    assert (r.json()["pending"], r.json()["rejected"]) == (0, 4_000)


async def test_an_unknown_click_is_kept_for_review_then_assigned_or_dismissed(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    s = await shop(session)
    code = await network(session)
    admin = actors.admin(*MANAGE)
    lost = {"transaction_id": "U-1", "click_id": str(uuid.uuid4()), "amount": 60_000}
    r = await post(client, code, {**lost, "status": "open"})
    assert (r.json()["outcome"], r.json()["reason"]) == ("unmatched", "unknown_click")
    unmatched_id = r.json()["cashback_id"]
    # The network approves it meanwhile: kept, still for review.
    r = await post(client, code, {**lost, "status": "approved"})
    assert r.json()["outcome"] == "unmatched"
    r = await post(client, code, {"transaction_id": "U-2", "amount": 1, "status": "open"})
    assert r.json()["reason"] == "no_click"
    other_id = r.json()["cashback_id"]
    page = (await client.get("/v1/admin/cashback", headers=admin,
                             params={"status": "unmatched"})).json()["items"]
    assert {i["id"] for i in page} == {unmatched_id, other_id}

    user = uuid.uuid4()
    clicked = await click(session, s.offer_id, user)
    r = await client.post(f"/v1/admin/cashback/{unmatched_id}/assign", headers=admin,
                          json={"click_id": str(uuid.uuid4())})
    assert_problem(r, 422, "cashback_assignment_invalid", "click_id")
    r = await client.post(f"/v1/admin/cashback/{unmatched_id}/assign", headers=admin,
                          json={"click_id": str(clicked)})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["user_id"], r.json()["amount"]) == (
        "confirmed", str(user), 6_000)
    assert await balances(session, user) == (0, 6_000)
    r = await client.post(f"/v1/admin/cashback/{unmatched_id}/assign", headers=admin,
                          json={"click_id": str(clicked)})
    assert_problem(r, 422, "cashback_not_unmatched")

    r = await client.post(f"/v1/admin/cashback/{other_id}/dismiss", headers=admin,
                          json={"reason": "test order"})
    assert r.json()["status"] == "dismissed"
    r = await post(client, code, {"transaction_id": "U-2", "amount": 1, "status": "approved"})
    assert (r.json()["outcome"], r.json()["status"]) == ("ignored", "dismissed")
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]


@pytest.mark.parametrize("amount", [125.5, "125.50", 100.0, True, -5, "1e3", 2**70])
async def test_amounts_must_be_whole_minor_units(
        client: httpx.AsyncClient, session: AsyncSession, amount: object) -> None:
    code = await network(session)
    r = await post(client, code, {"transaction_id": "D-1", "amount": amount, "status": "open"})
    assert_problem(r, 422, "postback_invalid", "amount")
    assert await count(session, "cashbacks") == 0
    # Refused, but kept as received.
    row = (await session.execute(text(
        "SELECT outcome, reason, convert_from(raw, 'UTF8') FROM cashback_events"))).one()
    assert row[0] == "invalid" and row[1].startswith("amount_")
    assert "D-1" in row[2]


async def test_unreadable_postbacks_are_refused_and_kept(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    code = await network(session)
    for body, reason in ((b"[1, 2]", "malformed_body"), (b"{nope", "malformed_body"),
                         (b'{"transaction_id": "X", "amount": 1, "status": "weird"}',
                          "unknown_status"),
                         (b'{"transaction_id": "X\\u0000", "amount": 1, "status": "open"}',
                          "invalid_text"),
                         (b'{"transaction_id": "X", "amount": 1, "status": "open",'
                          b' "currency": "USD"}', "unsupported_currency")):
        r = await client.post(f"/v1/cashback/postbacks/{code}", params={"token": TOKEN},
                              content=body, headers={"content-type": "application/json"})
        assert_problem(r, 422, "postback_invalid")
        assert r.json()["reason"] == reason
    assert await count(session, "cashback_events") == 5
    assert await count(session, "cashbacks") == 0
