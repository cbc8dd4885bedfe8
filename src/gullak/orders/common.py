"""What the orders flows share: the ledger reference, who the domain acts as, the merchant's
accounts, who may touch an order, and the audit of moves."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountIn, AccountOut, OwnerType
from gullak.merchants import service as merchants
from gullak.orders import errors
from gullak.orders.models import Order

REFERENCE = "order"
ESCROW = "order_escrow"  # the platform account where payments keeps paid orders' money
# The orders domain acting on a coupon's redemption as the platform does.
ORDERS_ACTOR = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000000d5"),
                       frozenset({"redemptions.manage"}))


async def merchant_account(session: AsyncSession, merchant_id: uuid.UUID,
                           asset: str) -> AccountOut:
    return await ledger.open_account(session, AccountIn(
        asset_code=asset, owner_type=OwnerType.merchant, owner_id=merchant_id))


def scope(actor: Subject, order: Order) -> None:
    """Who may move an order: its merchant's users, the platform, and (to cancel) its user."""
    if actor.kind == "merchant_user" and merchants.merchant_of(actor) != order.merchant_id:
        raise errors.OrderNotFound()
    if actor.kind == "user" and actor.id != order.user_id:
        raise errors.OrderNotFound()


async def audit_move(session: AsyncSession, actor: Subject, action: str, order: Order,
                     before: str, **after: Any) -> None:
    """Merchant users', admins' and services' moves go to the audit log as well."""
    if audit.worth_auditing(actor):
        await audit.record(session, actor, f"order.{action}", "order", str(order.id),
                           before={"status": before}, after={"status": order.status, **after})
