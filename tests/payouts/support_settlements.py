"""Settlement test support: an app whose requests come from admins, users or merchant users by
header, a shop with a commission rate, orders bought from the wallet and moved on by the
platform, refunds, and the settlement tables read back."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from fastapi import FastAPI, Request
from sqlalchemy import text

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import SessionDep, unit_of_work
from gullak.kit import clock
from gullak.kit.security import Subject, current_subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountIn, OwnerType
from gullak.merchants import service as merchants
from gullak.merchants.banking import Result
from gullak.merchants.schemas import BankAccountIn, CommissionIn
from gullak.orders import flows
from gullak.orders.pricing import Policy
from gullak.orders.schemas import ItemIn, OrderIn
from gullak.settings import Settings
from tests.orders.support import Shop, fund, make_shop

RATE_BPS = 1_000  # 10% commission
PLATFORM = Subject("service", uuid.UUID(int=77), frozenset({"orders.refund"}))
NO_FEES = Policy(tax_bps=0, delivery_fee=0, free_delivery_from=None)
SETTLE = "payouts.settle,payouts.read,payouts.review,payouts.manage"


def settlements_app(settings: Settings, db: Database) -> FastAPI:
    """x-admin (permissions, comma-separated) with x-admin-id (default uuid(int=1)); x-merchant
    (a merchant id) for a merchant user of that merchant; x-user for a user."""
    app = create_app(settings, db)

    async def subject(request: Request, session: SessionDep) -> Subject:
        headers = request.headers
        if "x-admin" in headers:
            admin = uuid.UUID(headers.get("x-admin-id", str(uuid.UUID(int=1))))
            return Subject("admin", admin, frozenset(headers["x-admin"].split(",")))
        if "x-merchant" in headers:
            return Subject("merchant_user", uuid.UUID(int=500), frozenset(
                {f"merchant:{headers['x-merchant']}", "merchant.read"}))
        return Subject("user", uuid.UUID(headers["x-user"]))

    app.dependency_overrides[current_subject] = subject
    return app


def as_admin(number: int = 1, permissions: str = SETTLE) -> dict[str, str]:
    return {"x-admin": permissions, "x-admin-id": str(uuid.UUID(int=number))}


def as_merchant(merchant_id: uuid.UUID | str) -> dict[str, str]:
    return {"x-merchant": str(merchant_id)}


def at_noon(weekday: int | None = None) -> dt.date:
    """Freeze the clock at noon (UTC) of a day to come (tomorrow, or the first `weekday` from
    tomorrow on), so that no test straddles a midnight; that day. Ledger times only move
    forward, as they must."""
    day = clock.now().date() + dt.timedelta(days=1)
    if weekday is not None:
        day += dt.timedelta(days=(weekday - day.weekday()) % 7)
    clock.freeze(dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC))
    return day


def next_day() -> dt.date:
    clock.advance(dt.timedelta(days=1))
    return clock.now().date()


async def shop(db: Database, rate_bps: int = RATE_BPS) -> Shop:
    async with unit_of_work(db) as session:
        found = await make_shop(session)
        await merchants.add_commission(session, found.merchant_id, CommissionIn(
            rate_bps=rate_bps, valid_from=clock.now() - dt.timedelta(days=1)), None)
        return found


async def buyer(db: Database, amount: int = 1_000_000) -> uuid.UUID:
    user = uuid.uuid4()
    async with unit_of_work(db) as session:
        await fund(session, user, "INR", amount)
    return user


async def buy(db: Database, found: Shop, user: uuid.UUID, quantity: int = 1,
              *actions: str) -> uuid.UUID:
    """An order of dosas paid from the wallet, moved on by the platform through `actions`."""
    async with unit_of_work(db) as session:
        order, _ = await flows.place_order(session, Subject("user", user), OrderIn(
            merchant_id=found.merchant_id, outlet_id=found.outlet_id,
            items=[ItemIn(product_id=found.dosa, quantity=quantity)]), NO_FEES)
    await move(db, order.id, *actions)
    return order.id


async def move(db: Database, order_id: uuid.UUID, *actions: str) -> None:
    for action in actions:
        async with unit_of_work(db) as session:
            await flows.advance(session, order_id, action, PLATFORM)


COMPLETE = ("confirm", "ready", "complete")


async def refund(db: Database, order_id: uuid.UUID, amount: int) -> None:
    async with unit_of_work(db) as session:
        await flows.refund(session, order_id, amount, "cold dosa", PLATFORM)


async def merchant_money(db: Database, merchant_id: uuid.UUID) -> tuple[int, int]:
    """(posted, held) of the merchant's INR account."""
    async with unit_of_work(db) as session:
        account = await ledger.open_account(session, AccountIn(
            asset_code="INR", owner_type=OwnerType.merchant, owner_id=merchant_id))
        found = await ledger.balance(session, account.id)
        return found.posted, found.held


async def add_method(db: Database, settings: Settings, merchant_id: uuid.UUID,
                     number: str = "50100012345678") -> uuid.UUID:
    """The merchant's primary bank account, verified by the merchants domain's provider:
    what settlements pay to. Its id."""
    async with unit_of_work(db) as session:
        added = await merchants.add_bank_account(session, settings, merchant_id, BankAccountIn(
            account_holder="Order Cafe Pvt Ltd", account_number=number,
            ifsc="HDFC0001234"), None)
        await merchants.record_verification(session, added.id, Result(
            "verified", "sandbox", name_at_bank="ORDER CAFE PVT LTD", reference="test"))
        return added.id


async def settle(api: httpx.AsyncClient, merchant_id: uuid.UUID, first: dt.date,
                 last: dt.date | None = None, admin: int = 1,
                 status: int = 201) -> dict[str, Any]:
    answer = await api.post(f"/v1/admin/merchants/{merchant_id}/settlements",
                            headers=as_admin(admin), json={
                                "period_start": first.isoformat(),
                                "period_end": (last or first).isoformat()})
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


def kinds(settlement: dict[str, Any]) -> list[tuple[str, int]]:
    return sorted((line["kind"], line["amount"]) for line in settlement["lines"])


async def rows(db: Database, query: str, **params: Any) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(query), params)]
