"""Transfers made through the API record who made them, on the transfer row itself."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from gullak.kit import clock
from gullak.kit.security import Subject, current_subject
from gullak.ledger.schemas import AccountOut
from tests.helpers.http import strict_client
from tests.helpers.ledger import Book

ALL = frozenset({"ledger.read", "ledger.write"})


def as_subject(app: FastAPI, permissions: frozenset[str]) -> Subject:
    """From now on, requests to `app` come from a new service client."""
    subject = Subject(kind="service", id=uuid.uuid4(), permissions=permissions)

    async def authenticated() -> Subject:
        return subject

    app.dependency_overrides[current_subject] = authenticated
    return subject


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def transfer_body(debit: AccountOut, credit: AccountOut, amount: int) -> dict[str, Any]:
    return {"debit_account_id": str(debit.id), "credit_account_id": str(credit.id),
            "asset_code": debit.asset_code, "amount": amount, "kind": "spend"}


def hold_body(account: AccountOut, amount: int) -> dict[str, Any]:
    return {"account_id": str(account.id), "asset_code": account.asset_code, "amount": amount,
            "expires_at": (clock.now() + dt.timedelta(hours=1)).isoformat()}


async def funded(book: Book) -> AccountOut:
    account = await book.user()
    await book.fund(account, 100)
    return account


async def actors(book: Book) -> dict[uuid.UUID, tuple[str | None, uuid.UUID | None]]:
    rows = await book.session.execute(text("SELECT id, actor_type, actor_id FROM ledger_transfers"))
    return {r.id: (r.actor_type, r.actor_id) for r in rows}


async def test_every_transfer_of_a_service_client_names_it(book: Book, app: FastAPI) -> None:
    a, b = await funded(book), await book.user()
    subject = as_subject(app, ALL)
    me = ("service", subject.id)
    async with strict_client(app) as api:
        one = (await api.post("/v1/ledger/transfers", json=transfer_body(a, b, 10),
                              headers=key())).json()
        batch = (await api.post("/v1/ledger/transactions", headers=key(), json={
            "transfers": [transfer_body(a, b, 5), transfer_body(b, a, 2)]})).json()
        back = (await api.post(f"/v1/ledger/transfers/{one['id']}/reversals", headers=key(),
                               json={"reason": "mistake", "amount": 3})).json()
        hold = (await api.post("/v1/ledger/holds", json=hold_body(a, 20), headers=key())).json()
        captured = (await api.post(f"/v1/ledger/holds/{hold['id']}/capture", headers=key(),
                                   json={"credit_account_id": str(b.id)})).json()
    made = [one["id"], *(t["id"] for t in batch["transfers"]), back["id"],
            captured["transfer"]["id"]]
    recorded = await actors(book)
    assert [recorded[uuid.UUID(i)] for i in made] == [me] * 5
    # Transfers posted by services directly (the book's funding) name nobody.
    assert [v for k, v in recorded.items() if str(k) not in made] == [(None, None)]


async def test_a_replay_does_not_take_the_new_callers_name(book: Book, app: FastAPI) -> None:
    a, b = await funded(book), await book.user()
    first = as_subject(app, ALL)
    headers = key()
    async with strict_client(app) as api:
        r = await api.post("/v1/ledger/transfers", json=transfer_body(a, b, 10), headers=headers)
        assert r.status_code == 201, r.text
    # Keys are per subject: the same key from another client is another transfer.
    second = as_subject(app, ALL)
    async with strict_client(app) as api:
        again = await api.post("/v1/ledger/transfers", json=transfer_body(a, b, 10),
                               headers=headers)
        assert again.status_code == 201, again.text
    assert again.json()["id"] != r.json()["id"]
    recorded = await actors(book)
    assert recorded[uuid.UUID(r.json()["id"])] == ("service", first.id)
    assert recorded[uuid.UUID(again.json()["id"])] == ("service", second.id)


