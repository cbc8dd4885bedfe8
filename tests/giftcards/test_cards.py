"""Gift cards over HTTP: a bulk issue with its per-row report, the balance check, the claim
into the wallet, the lock after wrong PINs, the rate limit, voiding and the expiry sweep; every
balance read back from the ledger, and the ledger's own verification at the end."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.giftcards import common, service
from gullak.kit import clock
from gullak.ledger.verify import verify
from tests.giftcards.support import card_balance, card_row, issue
from tests.helpers.offers import Actors
from tests.helpers.problems import assert_problem
from tests.orders.support import platform_balance, wallet

pytestmark = pytest.mark.usefixtures("assets")
MANAGE = ("giftcards.manage", "giftcards.read")


async def snapshot(connection: AsyncConnection) -> dict[str, list[tuple[object, ...]]]:
    queries = {
        "balances": "SELECT account_id, shard, balance, held FROM ledger_balances ORDER BY 1, 2",
        "transfers": "SELECT id FROM ledger_transfers ORDER BY seq",
        "cards": "SELECT id, status, owner_id FROM gift_cards ORDER BY id",
    }
    return {k: [tuple(r) for r in await connection.execute(text(q))]
            for k, q in queries.items()}


async def test_a_batch_card_is_checked_and_claimed_through_the_ledger(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    admin = actors.admin(*MANAGE)
    r = await client.post("/v1/admin/gift-cards/batches", params={"name": "Diwali"},
                          content="amount\n50000\n20000\n",
                          headers={**admin, "content-type": "text/csv"})
    assert r.status_code == 201, r.text
    batch = r.json()
    assert (batch["issued"], batch["refused"], batch["source"]) == (2, 0, "admin")
    first = batch["rows"][0]
    code, pin = first["code"], first["pin"]
    assert len(code) == 16 and len(pin) == 6 and first["amount"] == 50_000
    # Issued from the platform's gift card funding account, one transfer per card.
    assert await platform_balance(session, "INR", "gift_card_funding") == -70_000
    assert await card_balance(session, uuid.UUID(first["card_id"])) == (50_000, 0)

    # The back office sees the code masked, never the PIN.
    r = await client.get(f"/v1/admin/gift-cards/{first['card_id']}", headers=admin)
    assert r.status_code == 200 and r.json()["code"] == "X" * 12 + code[-4:]
    assert pin not in r.text

    r = await client.post("/v1/gift-cards/check", json={"code": code.lower(), "pin": pin})
    assert r.status_code == 200, r.text
    assert (r.json()["balance"], r.json()["status"]) == (50_000, "active")

    user = uuid.uuid4()
    me = actors.user(user)
    r = await client.post("/v1/me/gift-cards/claim", json={"code": code, "pin": pin}, headers=me)
    assert r.status_code == 200, r.text
    assert (r.json()["amount"], r.json()["card"]["status"]) == (50_000, "claimed")
    assert await wallet(session, user, "INR") == (50_000, 0)
    assert await card_balance(session, uuid.UUID(first["card_id"])) == (0, 0)
    mine = (await client.get("/v1/me/gift-cards", headers=me)).json()["items"]
    assert [(c["id"], c["status"], c["pin"]) for c in mine] == [
        (first["card_id"], "claimed", None)]

    # Once only: the claimed card refuses a second claim and moves nothing.
    before = await wallet(session, user, "INR")
    r = await client.post("/v1/me/gift-cards/claim", json={"code": code, "pin": pin}, headers=me)
    assert_problem(r, 422, "gift_card_unusable", "code")
    assert await wallet(session, user, "INR") == before
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]


async def test_a_partner_batch_reports_every_row(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession,
        connection: AsyncConnection) -> None:
    _, existing, _ = await issue(session, 1_000)
    csv = ("code,pin,amount\n"
           "PARTNER-AAAA-0001,1234,10000\n"       # 2: issued
           "partneraaaa0001,9999,10000\n"         # 3: the same code, typed differently
           f"{existing},4321,10000\n"             # 4: a code that exists already
           "PARTNER-AAAA-0002,12,10000\n"         # 5: PIN too short
           ",5555,10000\n"                        # 6: a partner's row needs its code
           "PARTNER-AAAA-0003,5555,ten\n"         # 7: not an amount
           "PARTNER-AAAA-0004,,2500\n")           # 8: issued, PIN generated
    r = await client.post("/v1/admin/gift-cards/batches",
                          params={"name": "Partner drop", "partner": "GiftHub"},
                          content=csv, headers={**actors.admin(*MANAGE),
                                                "content-type": "text/csv"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert (out["source"], out["issued"], out["refused"]) == ("partner", 2, 5)
    assert [(row["row"], row["status"], row["reason"]) for row in out["rows"]] == [
        (2, "issued", None), (3, "refused", "duplicate_in_file"), (4, "refused", "code_exists"),
        (5, "refused", "invalid_pin"), (6, "refused", "code_required"),
        (7, "refused", "not_a_whole_number"), (8, "issued", None)]
    # A partner's own code is theirs to know: shown masked; only a generated PIN is shown.
    assert out["rows"][0]["code"] == "XXXXXXXXXXX0001" and out["rows"][0]["pin"] is None
    assert len(out["rows"][6]["pin"]) == 6
    r = await client.post("/v1/gift-cards/check",
                          json={"code": "partner aaaa 0001", "pin": "1234"})
    assert r.status_code == 200 and r.json()["balance"] == 10_000
    assert await platform_balance(session, "INR", "gift_card_funding") == -(1_000 + 12_500)

    bad = await client.post("/v1/admin/gift-cards/batches", params={"name": "x"},
                            content="value\n1\n", headers={**actors.admin(*MANAGE),
                                                           "content-type": "text/csv"})
    assert_problem(bad, 422, "invalid_gift_card_batch")
    # A header line the csv module cannot read (a bare carriage return) is refused the same.
    before = await snapshot(connection)
    bad = await client.post("/v1/admin/gift-cards/batches", params={"name": "x"},
                            content="amount\r1000\r", headers={**actors.admin(*MANAGE),
                                                                "content-type": "text/csv"})
    assert_problem(bad, 422, "invalid_gift_card_batch")
    assert await snapshot(connection) == before


async def test_wrong_pins_change_nothing_and_lock_the_card(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession,
        connection: AsyncConnection) -> None:
    card, code, pin = await issue(session, 30_000)
    await session.flush()
    wrong = "000000" if pin != "000000" else "111111"
    before = await snapshot(connection)
    attempts = common.rules().pin_attempts
    for n in range(1, attempts):
        r = await client.post("/v1/gift-cards/check", json={"code": code, "pin": wrong})
        problem = assert_problem(r, 422, "gift_card_invalid", "pin")
        assert code not in r.text and pin not in r.text and "retry_after" not in problem
        assert (await card_row(connection, card.id))["failed_attempts"] == n
    # A claim with a wrong PIN is refused alike and moves nothing.
    r = await client.post("/v1/gift-cards/check", json={"code": code, "pin": wrong})
    assert_problem(r, 403, "gift_card_locked", "pin")
    r = await client.post("/v1/gift-cards/check", json={"code": code, "pin": pin})
    assert_problem(r, 403, "gift_card_locked", "pin")  # the right PIN too, while locked
    r = await client.post("/v1/me/gift-cards/claim", json={"code": code, "pin": pin},
                          headers=actors.user(uuid.uuid4()))
    assert_problem(r, 403, "gift_card_locked", "pin")
    assert await snapshot(connection) == before
    # An unknown code answers as a wrong PIN does.
    r = await client.post("/v1/gift-cards/check", json={"code": "NOSUCHCARD42", "pin": pin})
    assert_problem(r, 422, "gift_card_invalid", "code")

    clock.advance(common.rules().lock + dt.timedelta(seconds=1))
    r = await client.post("/v1/gift-cards/check", json={"code": code, "pin": pin})
    assert r.status_code == 200 and r.json()["balance"] == 30_000


async def test_the_balance_check_is_rate_limited_per_client(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    _, code, pin = await issue(session, 1_000)
    limit = common.rules().checks_per_hour
    for _ in range(limit):
        r = await client.post("/v1/gift-cards/check", json={"code": code, "pin": pin})
        assert r.status_code == 200, r.text
    r = await client.post("/v1/gift-cards/check", json={"code": code, "pin": pin})
    problem = assert_problem(r, 429, "rate_limited")
    assert problem["retry_after"] > 0


async def test_expiry_moves_what_is_left_to_breakage(session: AsyncSession) -> None:
    spent, _, _ = await issue(session, 40_000, days=10)
    later, _, _ = await issue(session, 5_000, days=60)
    breakage = await platform_balance(session, "INR", "breakage")
    assert await service.expire_cards(session) == 0
    clock.advance(dt.timedelta(days=11))
    assert await service.expire_cards(session) == 1
    assert await card_balance(session, spent.id) == (0, 0)
    assert await card_balance(session, later.id) == (5_000, 0)
    assert await platform_balance(session, "INR", "breakage") == breakage + 40_000
    out = await service.get_card(session, spent.id)
    assert (out.status, out.closed_reason) == ("expired", "expired")
    assert await service.expire_cards(session) == 0  # once
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]


async def test_voiding_a_card_sends_its_balance_back_and_is_audited(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    card, code, pin = await issue(session, 8_000)
    await session.flush()
    funding = await platform_balance(session, "INR", "gift_card_funding")
    r = await client.post(f"/v1/admin/gift-cards/{card.id}/void",
                          json={"reason": "sold by mistake", "to": "funding"},
                          headers=actors.admin(*MANAGE))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["balance"]) == ("void", 0)
    assert await platform_balance(session, "INR", "gift_card_funding") == funding + 8_000
    audited = await session.scalar(text(
        "SELECT count(*) FROM audit_log WHERE action = 'gift_card.void' AND entity_id = :i"),
        {"i": str(card.id)})
    assert audited == 1
    r = await client.post("/v1/gift-cards/check", json={"code": code, "pin": pin})
    assert (r.json()["status"], r.json()["balance"]) == ("void", 0)
