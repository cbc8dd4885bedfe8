"""Catalog test tools: its assets, merchants and their users, and its tables' state."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.catalog.schemas import ProductIn
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetIn, AssetKind
from gullak.merchants import service as merchants
from gullak.merchants.schemas import MerchantUserIn
from tests.helpers import merchants as merchant_factory
from tests.helpers.merchants import PASSWORD

CATALOG_TABLES = ("categories", "products", "product_images", "product_variants", "inventory",
                  "inventory_reservations", "product_feed_imports", "product_feed_sources",
                  "catalog_events", "audit_log")


async def ensure_assets(session: AsyncSession) -> None:
    for code, kind, scale in (("INR", AssetKind.cash, 2), ("FITCOIN", AssetKind.coin, 0)):
        try:
            await ledger.get_asset(session, code)
        except Exception:
            await ledger.create_asset(session, AssetIn(code=code, name=code, kind=kind,
                                                       scale=scale))


async def new_merchant(session: AsyncSession, name: str = "Chai Point",
                       city: str | None = "Bengaluru", *, live: bool = True) -> uuid.UUID:
    """A merchant, taken live through its onboarding unless `live` is False (pending): the
    public sees only live merchants' products."""
    out = await merchant_factory.new_merchant(session, name, city=city)
    if live:
        await merchant_factory.go_live(session, out.id)
    return out.id


async def merchant_subject(session: AsyncSession, merchant_id: uuid.UUID,
                           role: str = "manager", *, real: bool = False) -> Subject:
    """A merchant user of `merchant_id`, with the permissions the merchants domain gives its
    role. `real` creates the user (its password hash is slow); otherwise only the subject."""
    if not real:
        return Subject("merchant_user", uuid.uuid4(), frozenset(
            {f"merchant:{merchant_id}", *merchants.ROLE_PERMISSIONS[role]}))
    user = await merchants.create_merchant_user(session, merchant_id, MerchantUserIn(
        email=f"{uuid.uuid4().hex[:10]}@example.com", name="Staff", role=role,
        password=PASSWORD), None)
    permissions = await merchants.merchant_user_permissions(session, user.id)
    assert permissions is not None
    return Subject("merchant_user", user.id, frozenset(permissions))


def admin(*permissions: str) -> Subject:
    """An admin holding `permissions` (every one if none is given), with no sign-in."""
    return Subject("admin", uuid.uuid4(), frozenset(permissions or {"*"}))


async def state(connection: AsyncConnection) -> dict[str, list[str]]:
    """Every row of the catalog's tables (and the audit log), as text."""
    out = {}
    for table in CATALOG_TABLES:
        rows = await connection.scalars(text(f'SELECT t::text FROM "{table}" t'))
        out[table] = sorted(rows.all())
    return out


def product_in(sku: str = "SKU-1", **values: Any) -> ProductIn:
    return ProductIn(**{"sku": sku, "name": f"Product {sku}", "price": 10_000, **values})
