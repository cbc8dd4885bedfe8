"""The ledger over HTTP: /v1/ledger/... with problem+json errors and stable codes.

Every refusal is checked to change nothing, and no request may end in a 5xx.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.security import Subject, current_subject
from gullak.ledger import service
from gullak.ledger.api import router
from gullak.ledger.schemas import MAX_AMOUNT, AccountOut, HoldIn, TransferIn
from gullak.ledger.verify import verify
from tests.helpers.http import http_client, strict_client
from tests.helpers.ledger import Book
from tests.helpers.problems import PROBLEM, assert_problem

ALL = frozenset({"ledger.read", "ledger.write", "ledger.admin"})
BAD_AMOUNTS: list[object] = [0, -5, 1.5, "10", True, 2**63]


def as_subject(app: FastAPI, permissions: frozenset[str]) -> Subject:
    """From now on, requests to `app` come from a new service client with `permissions`."""
    subject = Subject(kind="service", id=uuid.uuid4(), permissions=permissions)

    async def authenticated() -> Subject:
        return subject

    app.dependency_overrides[current_subject] = authenticated
    return subject


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for a service subject holding every ledger permission."""
    as_subject(app, ALL)
    async with strict_client(app) as c:
        yield c


async def state(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a ledger request could change."""
    queries = {
        "assets": "SELECT code FROM ledger_assets ORDER BY 1",
        "accounts": "SELECT id, frozen_reason, daily_limit, monthly_limit FROM ledger_accounts"
                    " ORDER BY 1",
        "balances": "SELECT account_id, shard, balance, held, frozen FROM ledger_balances"
                    " ORDER BY 1, 2",
        "transfers": "SELECT id FROM ledger_transfers ORDER BY seq",
        "holds": "SELECT id, status, captured FROM ledger_holds ORDER BY 1",
        "keys": "SELECT key FROM ledger_idempotency ORDER BY 1",
    }
    return {k: [tuple(r) for r in await session.execute(text(q))] for k, q in queries.items()}


async def refused(session: AsyncSession, client: httpx.AsyncClient, method: str, url: str,
                  status: int, code: str, **kw: Any) -> dict[str, Any]:
    """Send a request that must be refused with `status`/`code` and change nothing."""
    before = await state(session)
    body = assert_problem(await client.request(method, url, **kw), status, code)
    assert await state(session) == before
    return body


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def transfer_body(debit: AccountOut, credit: AccountOut, amount: object,
                  kind: str = "spend", **kw: Any) -> dict[str, Any]:
    return {"debit_account_id": str(debit.id), "credit_account_id": str(credit.id),
            "asset_code": debit.asset_code, "amount": amount, "kind": kind, **kw}


def hold_body(account: AccountOut, amount: object,
              expires_in: dt.timedelta = dt.timedelta(hours=1)) -> dict[str, Any]:
    return {"account_id": str(account.id), "asset_code": account.asset_code, "amount": amount,
            "expires_at": (clock.now() + expires_in).isoformat()}


async def balance(client: httpx.AsyncClient, account: AccountOut) -> dict[str, Any]:
    r = await client.get(f"/v1/ledger/accounts/{account.id}/balance")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def assert_verified(session: AsyncSession) -> None:
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]


async def funded(book: Book, amount: int = 100) -> AccountOut:
    account = await book.user()
    await book.fund(account, amount)
    return account


# -- authentication and permissions --------------------------------------------------------

async def valid_requests(book: Book) -> dict[tuple[str, str], dict[str, Any]]:
    """For every ledger endpoint, a request that would succeed for a permitted subject."""
    a, b = await funded(book), await book.user()
    earn = await service.transfer(book.session, TransferIn(
        debit_account_id=book.issuance.id, credit_account_id=b.id, asset_code="COIN",
        amount=10, kind="earn"))
    to_capture, to_release = [await service.place_hold(book.session, HoldIn(
        account_id=a.id, asset_code="COIN", amount=10,
        expires_at=clock.now() + dt.timedelta(hours=1))) for _ in range(2)]
    acc, h, t = a.id, to_capture.id, earn.id
    move = transfer_body(a, b, 5)
    return {
        ("GET", "/v1/ledger/assets"): {},
        ("POST", "/v1/ledger/assets"): {"json": {"code": "NEW", "name": "New", "kind": "coin",
                                                 "scale": 0}},
        ("GET", "/v1/ledger/assets/COIN"): {},
        ("POST", "/v1/ledger/accounts"): {"json": {"asset_code": "COIN", "owner_type": "user",
                                                   "owner_id": str(uuid.uuid4())}},
        ("GET", f"/v1/ledger/accounts/{acc}"): {},
        ("GET", f"/v1/ledger/accounts/{acc}/balance"): {},
        ("GET", f"/v1/ledger/accounts/{acc}/balance-at"): {
            "params": {"at": clock.now().isoformat()}},
        ("GET", f"/v1/ledger/accounts/{acc}/history"): {},
        ("POST", f"/v1/ledger/accounts/{acc}/freeze"): {"json": {"reason": "fraud"}},
        ("POST", f"/v1/ledger/accounts/{acc}/unfreeze"): {},
        ("PUT", f"/v1/ledger/accounts/{acc}/limits"): {"json": {"daily_limit": 1000}},
        ("POST", "/v1/ledger/transfers"): {"json": move, "headers": key()},
        ("POST", "/v1/ledger/transactions"): {"json": {"transfers": [move]}, "headers": key()},
        ("GET", f"/v1/ledger/transfers/{t}"): {},
        ("POST", f"/v1/ledger/transfers/{t}/reversals"): {"json": {"reason": "x"},
                                                          "headers": key()},
        ("POST", "/v1/ledger/holds"): {"json": hold_body(a, 5), "headers": key()},
        ("GET", f"/v1/ledger/holds/{h}"): {},
        ("POST", f"/v1/ledger/holds/{h}/capture"): {"json": {"credit_account_id": str(b.id)},
                                                    "headers": key()},
        ("POST", f"/v1/ledger/holds/{to_release.id}/release"): {"headers": key()},
    }


def route_of(method: str, url: str) -> tuple[str, str]:
    for route in router.routes:
        assert isinstance(route, APIRoute)
        if method in route.methods and route.path_regex.match(url):
            return method, route.path
    raise AssertionError(f"no route for {method} {url}")


async def test_every_endpoint_answers_401_without_a_subject(
        book: Book, client: httpx.AsyncClient) -> None:
    requests = await valid_requests(book)
    covered = {route_of(method, url) for method, url in requests}
    every = {(m, r.path) for r in router.routes if isinstance(r, APIRoute) for m in r.methods}
    assert covered == every  # a new endpoint must be added here too
    for (method, url), kw in requests.items():
        await refused(book.session, client, method, url, 401, "unauthorized", **kw)


async def test_every_endpoint_answers_a_permitted_subject(
        book: Book, api: httpx.AsyncClient) -> None:
    # The same requests that are refused above without a subject or a permission.
    for (method, url), kw in (await valid_requests(book)).items():
        r = await api.request(method, url, **kw)
        assert r.status_code in (200, 201), (method, url, r.text)
    await assert_verified(book.session)


async def test_missing_permission_answers_403(book: Book, app: FastAPI) -> None:
    requests = await valid_requests(book)
    needs = {"GET": "ledger.read", "POST": "ledger.write", "PUT": "ledger.admin"}
    admin_only = {("POST", "/v1/ledger/assets"),
                  ("POST", "/v1/ledger/accounts/{account_id}/freeze"),
                  ("POST", "/v1/ledger/accounts/{account_id}/unfreeze")}
    async with http_client(app) as c:
        for (method, url), kw in requests.items():
            need = "ledger.admin" if route_of(method, url) in admin_only else needs[method]
            # Every other permission, but not the one this endpoint needs.
            as_subject(app, ALL - {need})
            body = await refused(book.session, c, method, url, 403, "forbidden", **kw)
            assert body["permission"] == need


# -- assets and accounts ----------------------------------------------------------------

async def test_create_asset_and_open_accounts(book: Book, api: httpx.AsyncClient) -> None:
    r = await api.post("/v1/ledger/assets", json={"code": "REZ", "name": "ReZ coins",
                                                  "kind": "coin", "scale": 0})
    assert r.status_code == 201, r.text
    assert (r.json()["code"], r.json()["expires"]) == ("REZ", False)
    assert (await api.get("/v1/ledger/assets/REZ")).json()["name"] == "ReZ coins"
    assert "REZ" in [a["code"] for a in (await api.get("/v1/ledger/assets")).json()]
    await refused(book.session, api, "POST", "/v1/ledger/assets", 409, "asset_exists",
                  json={"code": "REZ", "name": "Again", "kind": "coin", "scale": 0})
    body = await refused(book.session, api, "POST", "/v1/ledger/assets", 422, "invalid_input",
                         json={"code": "FLASH", "name": "Flash", "kind": "coin", "scale": 0,
                               "expires": True})
    assert body["field"] == "lifetime_days"

    owner = str(uuid.uuid4())
    opened = await api.post("/v1/ledger/accounts", json={"asset_code": "REZ",
                                                         "owner_type": "user", "owner_id": owner})
    assert opened.status_code == 201, opened.text
    again = await api.post("/v1/ledger/accounts", json={"asset_code": "REZ",
                                                        "owner_type": "user", "owner_id": owner})
    assert again.json()["id"] == opened.json()["id"]
    platform = await api.post("/v1/ledger/accounts", json={
        "asset_code": "REZ", "owner_type": "platform", "purpose": "issuance"})
    assert (platform.json()["allow_negative"], platform.json()["shards"]) == (
        True, service.PLATFORM_SHARDS)
    got = await api.get(f"/v1/ledger/accounts/{opened.json()['id']}")
    assert got.json() == opened.json()


async def test_unknown_asset_and_account_are_404(book: Book, api: httpx.AsyncClient) -> None:
    a = await funded(book)
    ghost = uuid.uuid4()
    await refused(book.session, api, "GET", "/v1/ledger/assets/NOPE", 404, "asset_not_found")
    await refused(book.session, api, "POST", "/v1/ledger/accounts", 404, "asset_not_found",
                  json={"asset_code": "NOPE", "owner_type": "user",
                        "owner_id": str(uuid.uuid4())})
    for method, url in (("GET", f"/v1/ledger/accounts/{ghost}"),
                        ("GET", f"/v1/ledger/accounts/{ghost}/balance"),
                        ("GET", f"/v1/ledger/accounts/{ghost}/history")):
        await refused(book.session, api, method, url, 404, "account_not_found")
    for body in (transfer_body(a, AccountOut.model_construct(id=ghost, asset_code="COIN"), 5),
                 transfer_body(AccountOut.model_construct(id=ghost, asset_code="COIN"), a, 5)):
        await refused(book.session, api, "POST", "/v1/ledger/transfers", 404,
                      "account_not_found", json=body, headers=key())
    await refused(book.session, api, "POST", f"/v1/ledger/holds/{ghost}/capture", 404,
                  "hold_not_found", json={"credit_account_id": str(a.id)}, headers=key())
    await refused(book.session, api, "POST", f"/v1/ledger/transfers/{ghost}/reversals", 404,
                  "transfer_not_found", json={"reason": "x"}, headers=key())


async def test_hold_on_unknown_account_is_404(book: Book, api: httpx.AsyncClient) -> None:
    ghost = AccountOut.model_construct(id=uuid.uuid4(), asset_code="COIN")
    await refused(book.session, api, "POST", "/v1/ledger/holds", 404, "account_not_found",
                  json=hold_body(ghost, 5), headers=key())


# -- transfers and idempotency ------------------------------------------------------------

async def test_transfer_with_idempotency_key(book: Book, api: httpx.AsyncClient) -> None:
    a, b = await funded(book), await book.user()
    headers = key()
    body = transfer_body(a, b, 30, reference_type="order", reference_id="ORD-1")
    first = await api.post("/v1/ledger/transfers", json=body, headers=headers)
    assert first.status_code == 201, first.text
    posted = first.json()
    assert (posted["amount"], posted["debit_balance_after"], posted["credit_balance_after"]) == (
        30, 70, 30)
    # Same key and body: the original answer, and nothing moves again.
    after = await state(book.session)
    replay = await api.post("/v1/ledger/transfers", json=body, headers=headers)
    assert (replay.status_code, replay.json()) == (201, posted)
    assert await state(book.session) == after
    await refused(book.session, api, "POST", "/v1/ledger/transfers", 409,
                  "idempotency_key_reused", json={**body, "amount": 31}, headers=headers)
    assert ((await balance(api, a))["posted"], (await balance(api, b))["posted"]) == (70, 30)
    await assert_verified(book.session)


async def test_idempotency_keys_belong_to_their_subject(
        book: Book, app: FastAPI) -> None:
    a, b = await funded(book), await book.user()
    headers = {"Idempotency-Key": "order-1"}
    async with http_client(app) as c:
        as_subject(app, ALL)
        first = await c.post("/v1/ledger/transfers", json=transfer_body(a, b, 10),
                             headers=headers)
        as_subject(app, ALL)  # another service client, with the same key
        second = await c.post("/v1/ledger/transfers", json=transfer_body(a, b, 20),
                              headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert (await service.balance(book.session, b.id)).posted == 30


async def test_missing_idempotency_key_is_a_validation_error(
        book: Book, api: httpx.AsyncClient) -> None:
    a, b = await funded(book), await book.user()
    hold = await service.place_hold(book.session, HoldIn(
        account_id=a.id, asset_code="COIN", amount=10,
        expires_at=clock.now() + dt.timedelta(hours=1)))
    for url, body in (("/v1/ledger/transfers", transfer_body(a, b, 5)),
                      ("/v1/ledger/transactions", {"transfers": [transfer_body(a, b, 5)]}),
                      ("/v1/ledger/holds", hold_body(a, 5)),
                      (f"/v1/ledger/holds/{hold.id}/release", None)):
        problem = await refused(book.session, api, "POST", url, 422, "validation_error",
                                json=body)
        assert problem["field"] == "Idempotency-Key"


async def test_batch_transaction_is_all_or_nothing(book: Book, api: httpx.AsyncClient) -> None:
    a, b, c = await funded(book), await book.user(), await book.user()
    r = await api.post("/v1/ledger/transactions", headers=key(), json={"transfers": [
        transfer_body(a, b, 60), transfer_body(b, c, 25)]})
    assert r.status_code == 201, r.text
    tx = r.json()
    assert [t["transaction_id"] for t in tx["transfers"]] == [tx["transaction_id"]] * 2
    await refused(book.session, api, "POST", "/v1/ledger/transactions", 422,
                  "insufficient_funds", headers=key(), json={"transfers": [
                      transfer_body(a, c, 40), transfer_body(b, c, 36)]})
    body = await refused(book.session, api, "POST", "/v1/ledger/transactions", 422,
                         "validation_error", headers=key(), json={"transfers": [
                             transfer_body(a, c, 5), transfer_body(b, c, 0)]})
    assert body["field"] == "transfers.1.amount"
    await refused(book.session, api, "POST", "/v1/ledger/transactions", 422,
                  "validation_error", headers=key(), json={"transfers": []})
    assert [(await balance(api, x))["posted"] for x in (a, b, c)] == [40, 35, 25]
    await assert_verified(book.session)


async def test_get_transfer(book: Book, api: httpx.AsyncClient) -> None:
    a, b = await funded(book), await book.user()
    posted = (await api.post("/v1/ledger/transfers", json=transfer_body(a, b, 5),
                             headers=key())).json()
    r = await api.get(f"/v1/ledger/transfers/{posted['id']}")
    assert (r.status_code, r.json()) == (200, posted)


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
async def test_bad_amount_is_a_validation_error(book: Book, api: httpx.AsyncClient,
                                                amount: object) -> None:
    a, b = await funded(book), await book.user()
    earn = await service.transfer(book.session, TransferIn(
        debit_account_id=book.issuance.id, credit_account_id=b.id, asset_code="COIN",
        amount=10, kind="earn"))
    hold = await service.place_hold(book.session, HoldIn(
        account_id=a.id, asset_code="COIN", amount=10,
        expires_at=clock.now() + dt.timedelta(hours=1)))
    for url, body in (
        ("/v1/ledger/transfers", transfer_body(a, b, amount)),
        ("/v1/ledger/holds", hold_body(a, amount)),
        (f"/v1/ledger/holds/{hold.id}/capture", {"credit_account_id": str(b.id),
                                                 "amount": amount}),
        (f"/v1/ledger/transfers/{earn.id}/reversals", {"reason": "x", "amount": amount}),
    ):
        problem = await refused(book.session, api, "POST", url, 422, "validation_error",
                                json=body, headers=key())
        assert problem["field"] == "amount", url
    problem = await refused(book.session, api, "PUT", f"/v1/ledger/accounts/{a.id}/limits",
                            422, "validation_error", json={"daily_limit": amount})
    assert problem["field"] == "daily_limit"


async def test_refusals_have_stable_codes(book: Book, api: httpx.AsyncClient) -> None:
    a, b = await funded(book), await book.user()
    rupees = await book.user("INR")
    await refused(book.session, api, "POST", "/v1/ledger/transfers", 422, "asset_mismatch",
                  json=transfer_body(a, rupees, 5), headers=key())
    await refused(book.session, api, "POST", "/v1/ledger/transfers", 422, "asset_mismatch",
                  json={**transfer_body(a, b, 5), "asset_code": "INR"}, headers=key())
    await refused(book.session, api, "POST", "/v1/ledger/transfers", 422, "same_account",
                  json=transfer_body(a, a, 5), headers=key())
    await refused(book.session, api, "POST", "/v1/ledger/transfers", 422, "insufficient_funds",
                  json=transfer_body(a, b, 101), headers=key())
    await refused(book.session, api, "POST", "/v1/ledger/transfers", 422, "insufficient_funds",
                  json=transfer_body(b, a, 1), headers=key())
    await refused(book.session, api, "POST", "/v1/ledger/holds", 422, "insufficient_funds",
                  json=hold_body(a, 101), headers=key())
    assert ((await balance(api, a))["posted"], (await balance(api, b))["posted"]) == (100, 0)


async def test_balance_beyond_2_63_minus_1_is_a_client_error(
        book: Book, app: FastAPI) -> None:
    a = await funded(book, MAX_AMOUNT)
    as_subject(app, ALL)
    async with http_client(app) as c:
        before = await state(book.session)
        r = await c.post("/v1/ledger/transfers", headers=key(),
                         json=transfer_body(book.issuance, a, 1, kind="earn"))
    # Both amounts are valid; the sum is not. That is the client's request, not an outage.
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"] == PROBLEM
    assert await state(book.session) == before


async def test_frozen_account_refuses_debits(book: Book, api: httpx.AsyncClient) -> None:
    a, b = await funded(book), await book.user()
    r = await api.post(f"/v1/ledger/accounts/{a.id}/freeze", json={"reason": "kyc pending"})
    assert (r.status_code, r.json()["frozen_reason"]) == (200, "kyc pending")
    await refused(book.session, api, "POST", "/v1/ledger/transfers", 422, "account_frozen",
                  json=transfer_body(a, b, 5), headers=key())
    await refused(book.session, api, "POST", "/v1/ledger/holds", 422, "account_frozen",
                  json=hold_body(a, 5), headers=key())
    credit = await api.post("/v1/ledger/transfers", headers=key(),
                            json=transfer_body(book.issuance, a, 1, kind="earn"))
    assert credit.status_code == 201, credit.text
    r = await api.post(f"/v1/ledger/accounts/{a.id}/unfreeze")
    assert (r.status_code, r.json()["frozen_reason"]) == (200, None)
    assert (await api.post("/v1/ledger/transfers", json=transfer_body(a, b, 5),
                           headers=key())).status_code == 201
    assert ((await balance(api, a))["posted"], (await balance(api, b))["posted"]) == (96, 5)
    await assert_verified(book.session)


async def test_spend_limit_is_refused(book: Book, api: httpx.AsyncClient) -> None:
    a, b = await funded(book), await book.user()
    r = await api.put(f"/v1/ledger/accounts/{a.id}/limits", json={"daily_limit": 50})
    assert (r.status_code, r.json()["daily_limit"]) == (200, 50)
    assert (await api.post("/v1/ledger/transfers", json=transfer_body(a, b, 50),
                           headers=key())).status_code == 201
    await refused(book.session, api, "POST", "/v1/ledger/transfers", 422,
                  "spend_limit_exceeded", json=transfer_body(a, b, 1), headers=key())


# -- holds and reversals ------------------------------------------------------------------

async def test_hold_capture_and_release(book: Book, api: httpx.AsyncClient) -> None:
    a, shop = await funded(book), await book.user()
    r = await api.post("/v1/ledger/holds", json=hold_body(a, 60), headers=key())
    assert r.status_code == 201, r.text
    hold = r.json()
    assert hold["status"] == "pending"
    assert (await balance(api, a))["available"] == 40
    assert (await api.get(f"/v1/ledger/holds/{hold['id']}")).json() == hold
    capture_url = f"/v1/ledger/holds/{hold['id']}/capture"
    await refused(book.session, api, "POST", capture_url, 422, "capture_exceeds_hold",
                  json={"credit_account_id": str(shop.id), "amount": 61}, headers=key())
    headers = key()
    done = await api.post(capture_url, json={"credit_account_id": str(shop.id), "amount": 45},
                          headers=headers)
    assert done.status_code == 200, done.text
    assert (done.json()["hold"]["status"], done.json()["hold"]["captured"]) == ("captured", 45)
    assert done.json()["transfer"]["hold_id"] == hold["id"]
    replay = await api.post(capture_url, json={"credit_account_id": str(shop.id),
                                               "amount": 45}, headers=headers)
    assert replay.json() == done.json()
    assert (await balance(api, a))["posted"] == 55
    assert (await balance(api, a))["held"] == 0
    assert (await balance(api, shop))["posted"] == 45

    other = (await api.post("/v1/ledger/holds", json=hold_body(a, 20), headers=key())).json()
    released = await api.post(f"/v1/ledger/holds/{other['id']}/release", headers=key())
    assert (released.status_code, released.json()["status"]) == (200, "released")
    await refused(book.session, api, "POST", f"/v1/ledger/holds/{other['id']}/capture", 409,
                  "hold_not_pending", json={"credit_account_id": str(shop.id)}, headers=key())
    await refused(book.session, api, "POST", f"/v1/ledger/holds/{other['id']}/release", 409,
                  "hold_not_pending", headers=key())
    assert (await balance(api, a))["available"] == 55
    await assert_verified(book.session)


async def test_capture_of_an_expired_hold_is_refused(book: Book, api: httpx.AsyncClient) -> None:
    a, shop = await funded(book), await book.user()
    hold = (await api.post("/v1/ledger/holds", json=hold_body(a, 60, dt.timedelta(minutes=5)),
                           headers=key())).json()
    clock.advance(dt.timedelta(minutes=10))
    await refused(book.session, api, "POST", f"/v1/ledger/holds/{hold['id']}/capture", 409,
                  "hold_expired", json={"credit_account_id": str(shop.id)}, headers=key())
    await service.expire_holds(book.session)
    await refused(book.session, api, "POST", f"/v1/ledger/holds/{hold['id']}/capture", 409,
                  "hold_not_pending", json={"credit_account_id": str(shop.id)}, headers=key())
    assert (await balance(api, a))["available"] == 100


async def test_reversal(book: Book, api: httpx.AsyncClient) -> None:
    a, b = await funded(book), await book.user()
    spent = (await api.post("/v1/ledger/transfers", json=transfer_body(a, b, 50),
                            headers=key())).json()
    url = f"/v1/ledger/transfers/{spent['id']}/reversals"
    r = await api.post(url, json={"reason": "refund", "amount": 30}, headers=key())
    assert r.status_code == 201, r.text
    back = r.json()
    assert (back["reverses_id"], back["amount"], back["kind"]) == (spent["id"], 30, "reversal")
    assert (back["debit_account_id"], back["credit_account_id"]) == (str(b.id), str(a.id))
    body = await refused(book.session, api, "POST", url, 422, "reversal_exceeds_original",
                         json={"reason": "again", "amount": 21}, headers=key())
    assert body["field"] == "amount"
    rest = await api.post(url, json={"reason": "rest"}, headers=key())
    assert rest.json()["amount"] == 20
    assert ((await balance(api, a))["posted"], (await balance(api, b))["posted"]) == (100, 0)
    await assert_verified(book.session)


# -- reads --------------------------------------------------------------------------------

async def test_balance_and_history_pages(book: Book, api: httpx.AsyncClient) -> None:
    clock.freeze(dt.datetime(2030, 1, 10, 12, 0, tzinfo=dt.UTC))
    a, b = await funded(book, 1000), await book.user()
    await service.place_hold(book.session, HoldIn(
        account_id=a.id, asset_code="COIN", amount=100,
        expires_at=clock.now() + dt.timedelta(hours=1)))
    for i in range(11):
        clock.advance(dt.timedelta(minutes=1))
        r = await api.post("/v1/ledger/transfers", headers=key(), json=transfer_body(
            a, b, i + 1, reference_type="order", reference_id=f"ORD-{i}"))
        assert r.status_code == 201
    bal = await balance(api, a)
    assert (bal["posted"], bal["held"], bal["available"], bal["expiring_soon"]) == (
        934, 100, 834, 0)

    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 4}
    while True:
        r = await api.get(f"/v1/ledger/accounts/{a.id}/history", params=params)
        assert r.status_code == 200, r.text
        seen.extend(r.json()["entries"])
        if r.json()["next_cursor"] is None:
            break
        params["cursor"] = r.json()["next_cursor"]
    assert [e["amount"] for e in seen] == [-(i + 1) for i in reversed(range(11))] + [1000]
    assert len({e["transfer_id"] for e in seen}) == 12
    assert seen[0]["balance_after"] == 934

    filtered = await api.get(f"/v1/ledger/accounts/{a.id}/history",
                             params={"reference_type": "order", "reference_id": "ORD-3"})
    assert [e["amount"] for e in filtered.json()["entries"]] == [-4]
    at = await api.get(f"/v1/ledger/accounts/{a.id}/balance-at",
                       params={"at": seen[-3]["created_at"]})
    assert at.json()["balance"] == 1000 - 1 - 2
    for bad in ({"limit": 0}, {"limit": 501}, {"cursor": "abc"}, {"cursor": "1" * 20}):
        await refused(book.session, api, "GET", f"/v1/ledger/accounts/{a.id}/history", 422,
                      "validation_error", params=bad)
