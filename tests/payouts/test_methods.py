"""Payout methods: added only with a step-up proof, stored sealed and shown masked, verified by
the sandbox's penny drop against the KYC name, refused when malformed or added twice, usable
after the cooling-off, removed unless a withdrawal to them is open; merchants' methods from
the back office, with permissions and audit."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.payouts import methods
from gullak.payouts.models import PayoutMethod
from gullak.settings import Settings
from tests.helpers.merchants import new_merchant
from tests.helpers.problems import assert_problem
from tests.payouts.support_settlements import add_method
from tests.payouts.support import (
    add_bank,
    add_upi,
    as_admin,
    as_user,
    balance,
    client_for,
    count,
    fund,
    make_user,
    post_withdrawal,
    step_up,
    withdrawn,
)

NUMBER = "50100012345678"
UPI = "rahul.kumar@okicici"


def bank(settings: Settings, user: uuid.UUID, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "bank", "holder_name": "Rahul Kumar",
                            "account_number": NUMBER, "ifsc": "HDFC0001234",
                            "verification_token": step_up(settings, user)}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


async def put_channel(api: httpx.AsyncClient, code: str = "ID_BCA", *,
                      enabled: bool = True) -> None:
    r = await api.put(f"/v1/admin/bank-channels/{code}", headers=as_admin(), json={
        "code": code, "name": "Bank Central Asia", "type": "bank", "currency": "IDR",
        "aliases": ["BCA"], "enabled": enabled})
    assert r.status_code == 200, r.text


async def test_adding_needs_the_users_own_step_up(api: httpx.AsyncClient, fresh_db: Database,
                                                  settings: Settings) -> None:
    user, other = await make_user(fresh_db), await make_user(fresh_db)
    tokens = {"missing": None, "another user's": step_up(settings, other),
              "for kyc": step_up(settings, user, "kyc"), "garbage": "not-a-token"}
    for token in tokens.values():  # bank() leaves out a field given as None
        r = await api.post("/v1/me/payout-methods", headers=as_user(user),
                           json=bank(settings, user, verification_token=token))
        assert_problem(r, 403, "step_up_required", "verification_token")
    assert await count(fresh_db, "payout_methods") == 0


async def test_a_step_up_confirms_one_change_only(api: httpx.AsyncClient, fresh_db: Database,
                                                 settings: Settings) -> None:
    user = await make_user(fresh_db)
    token = step_up(settings, user)
    r = await api.post("/v1/me/payout-methods", headers=as_user(user),
                       json=bank(settings, user, verification_token=token))
    assert r.status_code == 201, r.text
    # The same confirmation again, for another account: refused, nothing added.
    r = await api.post("/v1/me/payout-methods", headers=as_user(user), json={
        "kind": "upi", "holder_name": "Rahul Kumar", "upi_id": UPI,
        "verification_token": token})
    problem = assert_problem(r, 403, "step_up_required", "verification_token")
    assert "used already" in problem["detail"]
    assert await count(fresh_db, "payout_methods") == 1
    # A fresh confirmation works.
    assert (await add_upi(api, settings, user, UPI))["kind"] == "upi"


async def test_bank_upi_and_channel_are_added_verified(
        api: httpx.AsyncClient, fresh_db: Database, settings: Settings) -> None:
    user = await make_user(fresh_db)
    added = await add_bank(api, settings, user)
    assert (added["kind"], added["status"], added["destination"], added["ifsc"]) == (
        "bank", "verified", "XXXX5678", "HDFC0001234")
    assert (added["registered_name"], added["name_score"], added["usable"]) == (
        "RAHUL KUMAR", 100, True)
    upi = await add_upi(api, settings, user, UPI)
    assert (upi["kind"], upi["status"], upi["destination"], upi["currency"]) == (
        "upi", "verified", "ra***@okicici", "INR")
    await put_channel(api)
    r = await api.post("/v1/me/payout-methods", headers=as_user(user), json={
        "kind": "bank_channel", "holder_name": "Rahul Kumar", "account_number": "8800123456",
        "channel_code": "ID_BCA", "verification_token": step_up(settings, user)})
    assert r.status_code == 201, r.text
    assert (r.json()["currency"], r.json()["channel_code"], r.json()["status"]) == (
        "IDR", "ID_BCA", "verified")
    listed = (await api.get("/v1/me/payout-methods", headers=as_user(user))).json()
    assert {m["kind"] for m in listed} == {"bank", "upi", "bank_channel"}
    assert NUMBER not in json.dumps(listed) and "rahul.kumar" not in json.dumps(listed)


async def test_numbers_are_sealed_and_never_shown(api: httpx.AsyncClient, fresh_db: Database,
                                                  settings: Settings) -> None:
    user = await make_user(fresh_db)
    answers = [await api.post("/v1/me/payout-methods", headers=as_user(user),
                              json=bank(settings, user)),
               await api.post("/v1/me/payout-methods", headers=as_user(user), json={
                   "kind": "upi", "holder_name": "Rahul Kumar", "upi_id": UPI,
                   "verification_token": step_up(settings, user)}),
               await api.get("/v1/me/payout-methods", headers=as_user(user))]
    for r in answers:
        assert r.status_code in (200, 201), r.text
        assert NUMBER not in r.text and UPI not in r.text and "rahul.kumar" not in r.text
    async with unit_of_work(fresh_db) as session:
        rows = {m.kind: m for m in await session.scalars(select(PayoutMethod))}
        assert NUMBER not in (rows["bank"].account_number or "")
        assert UPI not in (rows["upi"].upi_id or "")
        # Sealed, not lost: the provider is handed the clear values.
        assert methods.destination(settings, rows["bank"]).account_number == NUMBER
        assert methods.destination(settings, rows["upi"]).upi_id == UPI


async def test_the_same_destination_twice_is_refused(api: httpx.AsyncClient,
                                                     fresh_db: Database,
                                                     settings: Settings) -> None:
    user = await make_user(fresh_db)
    first = await add_bank(api, settings, user)
    r = await api.post("/v1/me/payout-methods", headers=as_user(user),
                       json=bank(settings, user, holder_name="RAHUL KUMAR"))
    assert_problem(r, 409, "payout_method_exists")
    await add_upi(api, settings, user, UPI)
    r = await api.post("/v1/me/payout-methods", headers=as_user(user), json={
        "kind": "upi", "holder_name": "Rahul Kumar", "upi_id": UPI.upper(),
        "verification_token": step_up(settings, user)})
    assert_problem(r, 409, "payout_method_exists")
    assert await count(fresh_db, "payout_methods") == 2
    # Once removed, the destination may be added again; another user may add it too.
    r = await api.delete(f"/v1/me/payout-methods/{first['id']}", headers=as_user(user))
    assert r.status_code == 204
    await add_bank(api, settings, user)
    other = await make_user(fresh_db)
    await add_bank(api, settings, other)


async def test_unknown_or_disabled_channel(api: httpx.AsyncClient, fresh_db: Database,
                                           settings: Settings) -> None:
    user = await make_user(fresh_db)
    await put_channel(api, "ID_MANDIRI", enabled=False)
    for code in ("ID_NOSUCH", "ID_MANDIRI"):
        r = await api.post("/v1/me/payout-methods", headers=as_user(user), json={
            "kind": "bank_channel", "holder_name": "Rahul Kumar", "account_number": "8800123456",
            "channel_code": code, "verification_token": step_up(settings, user)})
        assert_problem(r, 404, "bank_channel_not_found", "channel_code")
    assert await count(fresh_db, "payout_methods") == 0


INVALID: list[tuple[str, dict[str, Any]]] = [
    ("ifsc on a upi method", {"kind": "upi", "upi_id": UPI, "account_number": None}),
    ("no ifsc", {"ifsc": None}),
    ("five digits", {"account_number": "12345"}),
    ("letters in the number", {"account_number": "5010001234567X"}),
    ("lower-case ifsc", {"ifsc": "hdfc0001234"}),
    ("NUL in the name", {"holder_name": "Rahul\x00Kumar"}),
    ("a huge name", {"holder_name": "A" * 20_000}),
    ("a huge number", {"account_number": "1" * 20_000}),
    ("a huge upi id", {"kind": "upi", "upi_id": "a" * 20_000 + "@okicici", "ifsc": None,
                       "account_number": None}),
    ("a channel on a bank", {"channel_code": "ID_BCA"}),
    ("an unknown kind", {"kind": "cheque"}),
    ("an unknown field", {"owner_id": str(uuid.uuid4())}),
]


@pytest.mark.parametrize("fields", [f for _, f in INVALID], ids=[n for n, _ in INVALID])
async def test_malformed_methods_are_refused(api: httpx.AsyncClient, fresh_db: Database,
                                             settings: Settings, fields: dict[str, Any]) -> None:
    user = await make_user(fresh_db)
    r = await api.post("/v1/me/payout-methods", headers=as_user(user),
                       json=bank(settings, user, **fields))
    assert_problem(r, 422, "validation_error")
    assert await count(fresh_db, "payout_methods") == 0


async def test_a_lone_surrogate_is_refused(api: httpx.AsyncClient, fresh_db: Database,
                                           settings: Settings) -> None:
    user = await make_user(fresh_db)
    # json.dumps escapes it as \ud800, which is how a client would send it.
    raw = json.dumps(bank(settings, user, holder_name="Rahul \ud800 Kumar")).encode()
    r = await api.post("/v1/me/payout-methods", headers={**as_user(user),
                                                          "content-type": "application/json"},
                       content=raw)
    assert_problem(r, 422, "validation_error")
    assert await count(fresh_db, "payout_methods") == 0


async def test_the_sandbox_refuses_unknown_accounts_and_other_names(
        api: httpx.AsyncClient, fresh_db: Database, settings: Settings) -> None:
    user = await make_user(fresh_db)
    r = await api.post("/v1/me/payout-methods", headers=as_user(user),
                       json=bank(settings, user, account_number="50100012340000"))
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["detail"], r.json()["usable"]) == (
        "failed", "sandbox: no such account", False)
    r = await api.post("/v1/me/payout-methods", headers=as_user(user),
                       json=bank(settings, user, account_number="50100012341111"))
    assert (r.json()["status"], r.json()["registered_name"]) == ("failed", "SANDBOX OTHER PERSON")
    assert "does not match" in r.json()["detail"] and r.json()["name_score"] < 80
    # A failed method receives nothing.
    await fund(fresh_db, user, 100_000)
    r2 = await post_withdrawal(api, user, r.json()["id"], 20_000)
    assert_problem(r2, 422, "payout_method_not_usable", "method_id")


async def test_an_initial_matches_the_kyc_name(api: httpx.AsyncClient, fresh_db: Database,
                                               settings: Settings) -> None:
    user = await make_user(fresh_db, "Rahul Kumar")
    added = await add_bank(api, settings, user, holder="R. Kumar")
    assert (added["status"], added["registered_name"], added["name_score"]) == (
        "verified", "R. KUMAR", 90)


async def test_cooling_off(fresh_db: Database, settings: Settings) -> None:
    cautious = settings.model_copy(update={"payout_cooling_off_hours": 24})
    user = await make_user(fresh_db)
    account = await fund(fresh_db, user, 100_000)
    async with client_for(cautious, fresh_db) as api:
        method = await add_bank(api, cautious, user)
        assert (method["status"], method["usable"]) == ("verified", False)
        r = await post_withdrawal(api, user, method["id"], 20_000)
        assert_problem(r, 422, "payout_method_cooling_off", "method_id")
        assert await balance(fresh_db, account) == (100_000, 0)
        assert await count(fresh_db, "withdrawals") == 0
        clock.advance(dt.timedelta(hours=25))
        listed = (await api.get("/v1/me/payout-methods", headers=as_user(user))).json()
        assert [m["usable"] for m in listed] == [True]
        w = await withdrawn(api, user, method["id"], 20_000)
        assert w["status"] == "review"
        assert await balance(fresh_db, account) == (100_000, 20_000)


async def test_removing_a_method(api: httpx.AsyncClient, fresh_db: Database,
                                 settings: Settings) -> None:
    user = await make_user(fresh_db)
    await fund(fresh_db, user, 100_000)
    kept, gone = await add_bank(api, settings, user), await add_upi(api, settings, user, UPI)
    r = await api.delete(f"/v1/me/payout-methods/{gone['id']}", headers=as_user(user))
    assert r.status_code == 204
    listed = (await api.get("/v1/me/payout-methods", headers=as_user(user))).json()
    assert [m["id"] for m in listed] == [kept["id"]]
    assert_problem(await post_withdrawal(api, user, gone["id"], 20_000), 422,
                   "payout_method_not_usable")
    r = await api.delete(f"/v1/me/payout-methods/{gone['id']}", headers=as_user(user))
    assert_problem(r, 404, "payout_method_not_found")
    # Kept for the withdrawals that name it, never deleted.
    assert await count(fresh_db, "payout_methods", "status = 'removed'") == 1


async def test_a_method_with_an_open_withdrawal_stays(api: httpx.AsyncClient,
                                                      fresh_db: Database,
                                                      settings: Settings) -> None:
    user = await make_user(fresh_db)
    await fund(fresh_db, user, 100_000)
    method = await add_bank(api, settings, user)
    w = await withdrawn(api, user, method["id"], 20_000)
    r = await api.delete(f"/v1/me/payout-methods/{method['id']}", headers=as_user(user))
    assert_problem(r, 422, "payout_method_in_use")
    assert await count(fresh_db, "payout_methods", "status = 'verified'") == 1
    # Closed, the withdrawal no longer holds the method.
    r = await api.post(f"/v1/me/withdrawals/{w['id']}/cancel", headers=as_user(user))
    assert r.json()["status"] == "cancelled"
    r = await api.delete(f"/v1/me/payout-methods/{method['id']}", headers=as_user(user))
    assert r.status_code == 204


async def audited(db: Database, entity_id: str) -> list[tuple[str, str, Any]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT action, actor_id::text AS actor, after FROM audit_log"
            " WHERE entity_id = :e ORDER BY at, id"), {"e": entity_id})
        return [(r.action, r.actor, r.after) for r in rows]


async def test_a_merchants_settlements_go_to_its_verified_primary_account(
        fresh_db: Database, settings: Settings) -> None:
    async with unit_of_work(fresh_db) as session:
        merchant = (await new_merchant(session)).id
        assert await methods.merchant_method(session, settings, merchant) is None
    first = await add_method(fresh_db, settings, merchant, NUMBER)
    async with unit_of_work(fresh_db) as session:
        found = await methods.merchant_method(session, settings, merchant)
        assert found is not None
        assert (found.owner_type, found.status, found.verification_ref, found.last4) == (
            "merchant", "verified", str(first), NUMBER[-4:])
        assert NUMBER not in (found.account_number or "")
        assert methods.destination(settings, found).account_number == NUMBER
        again = await methods.merchant_method(session, settings, merchant)
        assert again is not None and again.id == found.id  # mirrored once
    # A new primary account is another destination: its own method, its own cooling-off.
    other = "50100098765432"
    await add_method(fresh_db, settings, merchant, other)
    async with unit_of_work(fresh_db) as session:
        newer = await methods.merchant_method(session, settings, merchant)
        assert newer is not None and newer.id != found.id and newer.last4 == other[-4:]
        assert len(await methods.list_methods(session, "merchant", merchant)) == 2


async def test_an_owner_keeps_at_most_ten_methods(api: httpx.AsyncClient, fresh_db: Database,
                                                  settings: Settings) -> None:
    user = await make_user(fresh_db)
    added = [await add_bank(api, settings, user, number=f"5010001234{n:04d}")
             for n in range(10)]
    r = await api.post("/v1/me/payout-methods", headers=as_user(user), json={
        "kind": "upi", "holder_name": "Rahul Kumar", "upi_id": "rahul@okaxis",
        "verification_token": step_up(settings, user)})
    assert_problem(r, 409, "payout_method_limit")
    assert await count(fresh_db, "payout_methods") == 10
    await api.delete(f"/v1/me/payout-methods/{added[0]['id']}", headers=as_user(user))
    r = await api.post("/v1/me/payout-methods", headers=as_user(user), json={
        "kind": "upi", "holder_name": "Rahul Kumar", "upi_id": "rahul@okaxis",
        "verification_token": step_up(settings, user)})
    assert r.status_code == 201, r.text
