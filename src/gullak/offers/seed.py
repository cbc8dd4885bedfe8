"""Demo data: live offers of every type for the demo merchants, valid for the next 90 days."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.demo import DataSet
from gullak.merchants import service as merchants
from gullak.offers import service
from gullak.offers.schemas import HoursWindow, OfferIn

# Merchant name: its offers (OfferIn fields, besides the validity window).
OFFERS: dict[str, list[dict[str, Any]]] = {
    "Bombay Brew House": [
        {"type": "discount_percent", "title": "20% off breakfast, up to ₹150",
         "description": "All-day breakfast menu, mornings only.", "discount_kind": "percent",
         "discount_value": 2000, "max_discount": 15_000, "min_order_value": 30_000,
         "hours": [HoursWindow(start="08:00", end="12:00")], "coins_earned": 20,
         "branded_coins_earned": 10, "tags": ["breakfast", "coffee"],
         "cities": ["Mumbai"], "per_user_limit": 4},
        {"type": "bogo", "title": "Buy 1 get 1 cold brew on weekends", "bogo_buy": 1,
         "bogo_get": 1, "weekdays": ["fri", "sat", "sun"], "coins_required": 50,
         "tags": ["coffee", "weekend"], "cities": ["Mumbai"], "total_limit": 500},
    ],
    "Koramangala Kitchen": [
        {"type": "discount_fixed", "title": "Flat ₹50 off on meals above ₹300",
         "discount_kind": "fixed", "discount_value": 5_000, "min_order_value": 30_000,
         "coins_earned": 10, "tags": ["lunch", "south indian"], "cities": ["Bengaluru"]},
        {"type": "freebie", "title": "A free filter coffee for 30 coins",
         "freebie_item": "filter coffee", "coins_required": 30, "segments": ["all"],
         "tags": ["coffee"], "cities": ["Bengaluru"], "per_user_limit": 2},
    ],
    "Masala Mart": [
        {"type": "cashback", "title": "10% cashback in coins on groceries",
         "cashback_kind": "percent", "cashback_value": 1000, "max_cashback": 20_000,
         "min_order_value": 50_000, "tags": ["grocery"], "segments": ["new_users"]},
    ],
    "Urban Threads": [
        {"type": "coupon_code", "title": "20% off your first order with THREADS20",
         "coupon_code": "THREADS20", "discount_kind": "percent", "discount_value": 2000,
         "max_discount": 50_000, "cashback_kind": "percent", "cashback_value": 600,
         "tags": ["fashion", "online"], "per_user_limit": 1},
        {"type": "sale", "title": "End of season sale: up to 50% off",
         "tags": ["fashion", "sale"]},
        {"type": "deal", "title": "Denim deal: flat ₹500 off above ₹2,499",
         "discount_kind": "fixed", "discount_value": 50_000, "min_order_value": 249_900,
         "tags": ["fashion", "denim"]},
    ],
}


async def load(session: AsyncSession) -> None:
    live = (await merchants.list_merchants(session, status="live", limit=200)).items
    by_name = {m.name: m for m in live}
    start = clock.now() - dt.timedelta(days=1)
    for name, offers in OFFERS.items():
        merchant = by_name.get(name)
        if merchant is None:
            continue
        for terms in offers:
            data = OfferIn(valid_from=start, valid_until=start + dt.timedelta(days=90), **terms)
            offer = await service.create_offer(session, merchant.id, data, None)
            await service.transition(session, offer.id, "submit", None)
            await service.transition(session, offer.id, "approve", None)


DATA_SETS = (DataSet(
    "offers", load, needs=("ledger", "merchants"),
    notes=("Offers     live demo offers of every type: GET /v1/offers?city=Mumbai",)),)
