"""Orders test tools: a shop with INR, coins and a reward-shop coin, products with stock, funded
wallets, and everything an order could change, read back for before/after comparisons.
(Used by tests/orders only; it would sit in tests/helpers if another folder needed it.)"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.catalog import service as catalog
from gullak.catalog.schemas import ProductIn
from gullak.db.engine import Database
from gullak.db.uow import SessionDep
from gullak.kit.errors import NotFound
from gullak.kit.security import Subject, current_subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountIn, AssetIn, AssetKind, OwnerType, TransferIn
from gullak.orders import flows
from tests.helpers.admins import serial
from tests.helpers.offers import Actors, live_merchant

ASSETS = (("INR", AssetKind.cash, 2, False), ("REZ", AssetKind.coin, 0, False),
          ("PROMO", AssetKind.coin, 0, True), ("FITCOIN", AssetKind.coin, 0, False))
DOSA_PRICE = 20_000  # ₹200.00
MAT_PRICE = 500  # FITCOIN


@dataclass
class Shop:
    merchant_id: uuid.UUID
    outlet_id: uuid.UUID
    dosa: uuid.UUID  # INR 200.00, 10 in stock
    mat: uuid.UUID  # 500 FITCOIN, 5 in stock (the reward shop)
    tea: uuid.UUID  # INR 50.00, stock not counted


async def ensure_assets(session: AsyncSession) -> None:
    for code, kind, scale, expires in ASSETS:
        try:
            await ledger.get_asset(session, code)
        except NotFound:
            await ledger.create_asset(session, AssetIn(
                code=code, name=code, kind=kind, scale=scale, expires=expires,
                lifetime_days=90 if expires else None))


async def make_shop(session: AsyncSession) -> Shop:
    await ensure_assets(session)
    merchant_id, outlets = await live_merchant(session, f"Order Cafe {serial()}")
    dosa = await catalog.create_product(session, merchant_id, ProductIn(
        sku="DOSA", name="Masala dosa", price=DOSA_PRICE, stock=10), None)
    mat = await catalog.create_product(session, merchant_id, ProductIn(
        sku="MAT", name="Yoga mat", price=MAT_PRICE, asset_code="FITCOIN", stock=5), None)
    tea = await catalog.create_product(session, merchant_id, ProductIn(
        sku="TEA", name="Filter coffee", price=5_000), None)
    return Shop(merchant_id, outlets[0], dosa.id, mat.id, tea.id)


async def fund(session: AsyncSession, user_id: uuid.UUID, asset: str, amount: int) -> None:
    issuance = await ledger.platform_account(session, asset, "issuance")
    wallet = await ledger.user_account(session, user_id, asset)
    await ledger.transfer(session, TransferIn(
        debit_account_id=issuance.id, credit_account_id=wallet.id, asset_code=asset,
        amount=amount, kind="earn", reference_type="test", reference_id=str(user_id)))


async def wallet(session: AsyncSession, user_id: uuid.UUID, asset: str) -> tuple[int, int]:
    """(posted, held) of the user's account in `asset`."""
    account = await ledger.user_account(session, user_id, asset)
    balance = await ledger.balance(session, account.id)
    return balance.posted, balance.held


async def merchant_balance(session: AsyncSession, merchant_id: uuid.UUID, asset: str) -> int:
    account = await ledger.open_account(session, AccountIn(
        asset_code=asset, owner_type=OwnerType.merchant, owner_id=merchant_id))
    return (await ledger.balance(session, account.id)).posted


async def platform_balance(session: AsyncSession, asset: str, purpose: str) -> int:
    account = await ledger.platform_account(session, asset, purpose)
    return (await ledger.balance(session, account.id)).posted


async def stock(session: AsyncSession, product_id: uuid.UUID) -> tuple[int, int]:
    """(on hand, reserved)."""
    row = (await session.execute(text(
        "SELECT on_hand, reserved FROM inventory WHERE product_id = :p"),
        {"p": product_id})).one()
    return int(row.on_hand), int(row.reserved)


async def state(connection: AsyncConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Everything placing or moving an order could change."""
    queries = {
        "orders": "SELECT o::text FROM orders o ORDER BY id",
        "items": "SELECT i::text FROM order_items i ORDER BY id",
        "tenders": "SELECT t::text FROM order_tenders t ORDER BY id",
        "events": "SELECT e::text FROM order_events e ORDER BY id",
        "inventory": "SELECT i::text FROM inventory i ORDER BY id",
        "reservations": "SELECT r::text FROM inventory_reservations r ORDER BY id",
        "redemptions": "SELECT r::text FROM offer_redemptions r ORDER BY id",
        "balances": "SELECT account_id, shard, balance, held FROM ledger_balances ORDER BY 1, 2",
        "transfers": "SELECT id FROM ledger_transfers ORDER BY seq",
        "holds": "SELECT id, status FROM ledger_holds ORDER BY 1",
        "payments": "SELECT count(*) FROM payments",
    }
    return {k: [tuple(r) for r in await connection.execute(text(q))]
            for k, q in queries.items()}


def order_body(shop: Shop, *items: tuple[uuid.UUID, int], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"merchant_id": str(shop.merchant_id),
                            "items": [{"product_id": str(p), "quantity": q} for p, q in items]}
    body.update(extra)
    return body


def subjects_of(application: FastAPI, found: Actors | None = None) -> Actors:
    """`Test <key>` headers stand for subjects of any kind on `application`."""
    actors = found or Actors()

    async def subject(request: Request, session: SessionDep) -> Subject:
        header = request.headers.get("authorization", "")
        if header.startswith("Test "):
            return actors.subjects[header.removeprefix("Test ")]
        return await current_subject(request, session)

    application.dependency_overrides[current_subject] = subject
    return actors


async def run_refund_jobs(db: Database) -> int:
    """The orders.refund_gateway jobs, run as the worker runs them; how many."""
    async with db.engine.begin() as conn:
        jobs = (await conn.execute(text(
            "SELECT id, args FROM procrastinate_jobs WHERE task_name = 'orders.refund_gateway'"
            " AND status = 'todo' ORDER BY id"))).all()
    for job_id, args in jobs:
        await flows.refund_gateway(db, uuid.UUID(args["payment_id"]), args["amount"],
                                   args["key"])
        async with db.engine.begin() as conn:
            await conn.execute(text("UPDATE procrastinate_jobs SET status = 'succeeded'"
                                    " WHERE id = :id"), {"id": job_id})
    return len(jobs)
