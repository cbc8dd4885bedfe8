"""Demo data: one completed reward-shop order for the demo user, paid in coins alone."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import service as catalog
from gullak.kit.demo import DataSet, FailedRows
from gullak.kit.security import Subject
from gullak.merchants import service as merchants
from gullak.orders import flows
from gullak.orders.pricing import Policy
from gullak.orders.schemas import ItemIn, OrderIn

# The identity demo data's user (its welcome bonus pays) and the catalog's reward store.
DEMO_USER_ID = uuid.UUID("01900000-0000-7000-8000-00000000d3e0")
REWARD_STORE = "FitKart Rewards Store"
SKU = "FK-TOWEL"
PLATFORM = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000000d6"),
                   frozenset({"orders.manage"}))


async def load(session: AsyncSession) -> None:
    page = await merchants.list_merchants(session, limit=200)
    store = next((m.id for m in page.items if m.name == REWARD_STORE), None)
    if store is None:  # the merchants' demo data set may be smaller
        return
    products = await catalog.list_products(session, store, limit=100)
    towel = next((p for p in products.items if p.sku == SKU), None)
    if towel is None:
        raise FailedRows(f"the reward store has no {SKU}")
    order, _ = await flows.place_order(session, Subject("user", DEMO_USER_ID), OrderIn(
        merchant_id=store, items=[ItemIn(product_id=towel.id, quantity=1)]), Policy())
    for action in ("confirm", "ready", "complete"):
        await flows.advance(session, order.id, action, PLATFORM, "demo")


DATA_SETS = (DataSet(
    "orders", load, needs=("identity", "catalog"),
    notes=("Orders     a completed reward-shop order of the demo user: GET /v1/orders",)),)
