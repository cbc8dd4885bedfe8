"""Demo data: a category tree, products of the demo merchants (gift cards with variants),
a coin-priced reward store loaded through a product feed, and two events."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import service
from gullak.catalog.schemas import CategoryIn, EventIn, ProductIn
from gullak.kit import clock
from gullak.kit.demo import DataSet, FailedRows
from gullak.merchants import service as merchants

# slug: (name, type, parent slug)
CATEGORIES: dict[str, tuple[str, str, str | None]] = {
    "food-drinks": ("Food & drinks", "both", None),
    "cafes": ("Cafes", "both", "food-drinks"),
    "restaurants": ("Restaurants", "both", "food-drinks"),
    "groceries": ("Groceries", "product", "food-drinks"),
    "fashion": ("Fashion", "both", None),
    "ethnic-wear": ("Ethnic wear", "both", "fashion"),
    "gift-cards": ("Gift cards", "product", None),
    "fitness": ("Fitness", "product", None),
    "fitness-gear": ("Gear", "product", "fitness"),
    "travel": ("Travel", "offer", None),
}

IMG = "https://images.gullak.example/demo"

# Merchant name: its products (ProductIn fields; `category` is a slug).
PRODUCTS: dict[str, list[dict[str, Any]]] = {
    "Bombay Brew House": [
        {"sku": "BBH-CB-500", "name": "Cold brew bottle 500 ml", "price": 35_000,
         "original_price": 40_000, "category": "cafes", "tags": ["coffee", "cold brew"],
         "stock": 48, "attributes": {"volume_ml": 500, "caffeine": "high"},
         "images": [{"url": f"{IMG}/cold-brew.jpg", "alt": "Cold brew bottle"}]},
        {"sku": "BBH-BEANS-250", "name": "Single-origin coffee beans 250 g", "price": 65_000,
         "category": "cafes", "tags": ["coffee", "beans"], "stock": 30,
         "description": "Medium roast from Chikmagalur estates, notes of cocoa and citrus.",
         "attributes": {"weight_g": 250, "roast": "medium"}},
    ],
    "Masala Mart": [
        {"sku": "MM-RICE-5KG", "name": "Aged basmati rice 5 kg", "price": 79_900,
         "original_price": 89_900, "category": "groceries", "tags": ["rice", "staples"],
         "stock": 120, "attributes": {"weight_kg": 5}},
        {"sku": "MM-SPICE-BOX", "name": "Masala dabba spice box", "price": 49_900,
         "category": "groceries", "tags": ["spices"], "stock": 25},
    ],
    "Urban Threads": [
        {"sku": "UT-KURTA-BLU", "name": "Indigo cotton kurta", "price": 129_900,
         "original_price": 179_900, "category": "ethnic-wear", "tags": ["kurta", "cotton"],
         "stock": 60, "attributes": {"sizes": ["S", "M", "L", "XL"], "fabric": "cotton"},
         "images": [{"url": f"{IMG}/kurta-front.jpg"}, {"url": f"{IMG}/kurta-back.jpg"}]},
        {"sku": "UT-GIFT", "name": "Urban Threads gift card", "price": 50_000,
         "category": "gift-cards", "tags": ["gift card"],
         "variants": [
             {"sku": "UT-GIFT-500", "name": "₹500", "cost_price": 47_500,
              "selling_price": 50_000, "face_value": 50_000, "stock": 200},
             {"sku": "UT-GIFT-1000", "name": "₹1,000", "cost_price": 95_000,
              "selling_price": 100_000, "face_value": 100_000, "stock": 100},
             {"sku": "UT-GIFT-2000", "name": "₹2,000", "cost_price": 190_000,
              "selling_price": 200_000, "face_value": 200_000, "stock": 50}]},
    ],
}

REWARD_STORE = "FitKart Rewards Store"  # a live merchant of the merchants' demo data
# The reward store's nightly feed, as its shop would send it: prices in REZ coins.
REWARD_FEED = """sku,name,price,asset_code,category,tags,stock,attr_brand
FK-MAT-6MM,Yoga mat 6 mm,1500,REZ,fitness-gear,yoga|mats,40,Boldfit
FK-BOTTLE-1L,Steel sipper bottle 1 l,800,REZ,fitness-gear,hydration,75,Milton
FK-BAND-SET,Resistance band set,1200,REZ,fitness-gear,strength,30,Strauss
FK-TOWEL,Quick-dry gym towel,450,REZ,fitness-gear,gym,100,Boldfit
"""


async def _merchant_ids(session: AsyncSession) -> dict[str, uuid.UUID]:
    page = await merchants.list_merchants(session, limit=200)
    return {m.name: m.id for m in page.items}


async def load(session: AsyncSession) -> None:
    categories: dict[str, uuid.UUID] = {}
    for order, (slug, (name, kind, parent)) in enumerate(CATEGORIES.items()):
        out = await service.create_category(session, CategoryIn(
            name=name, slug=slug, type=kind,  # type: ignore[arg-type]
            parent_id=categories[parent] if parent else None, display_order=order,
            seo_title=f"{name} deals and rewards"), None)
        categories[slug] = out.id

    merchant_ids = await _merchant_ids(session)
    for merchant_name, products in PRODUCTS.items():
        merchant_id = merchant_ids.get(merchant_name)
        if merchant_id is None:  # the merchants' demo data set may be smaller
            continue
        for item in products:
            values = {k: v for k, v in item.items() if k != "category"}
            await service.create_product(session, merchant_id, ProductIn.model_validate(
                {**values, "category_id": categories[item["category"]]}), None)

    report = await service.import_feed(session, merchant_ids[REWARD_STORE], REWARD_FEED, "csv",
                                       source="demo feed")
    if report.failed:
        raise FailedRows(f"the reward store's demo feed failed {report.failed} of {report.rows}"
                         f" rows: {report.errors}")

    now = clock.now().replace(minute=0, second=0, microsecond=0)
    featured = [merchant_ids[n] for n in ("Bombay Brew House", "Koramangala Kitchen")
                if n in merchant_ids]
    live = await service.create_event(session, EventIn(
        title="Weekend food fest", slug="weekend-food-fest", kind="event",
        description="Extra coins at the city's favourite cafes and kitchens.",
        starts_at=now - dt.timedelta(hours=1), ends_at=now + dt.timedelta(days=2),
        cities=["Mumbai", "Bengaluru"], segments=["all"], featured_merchant_ids=featured),
        None)
    await service.schedule_event(session, live.id, None)
    upcoming = await service.create_event(session, EventIn(
        title="Holi flash sale", slug="holi-flash-sale", kind="flash_sale",
        description="Four hours of colour: up to 40% off at featured stores.",
        starts_at=now + dt.timedelta(days=3), ends_at=now + dt.timedelta(days=3, hours=4),
        segments=["all"], discount_percent=40,
        featured_merchant_ids=[merchant_ids[n] for n in ("Urban Threads", "Masala Mart")
                               if n in merchant_ids]), None)
    await service.schedule_event(session, upcoming.id, None)


DATA_SETS = (DataSet(
    "catalog", load, needs=("ledger", "merchants"),
    notes=("Catalog    category tree, demo products and gift cards, the FitKart Rewards Store"
           " (REZ-priced, from a CSV feed), a live and an upcoming event",)),)
