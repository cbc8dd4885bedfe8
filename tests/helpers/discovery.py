"""A small world for discovery: merchants, outlets, products and offers in Mumbai and
Bengaluru, built through the merchants, catalog and offers services; and discovery's log."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.catalog import service as catalog
from gullak.catalog.schemas import CategoryIn, ProductIn
from gullak.kit import clock
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetIn, AssetKind
from gullak.merchants import service as merchants
from gullak.merchants.schemas import OutletIn
from gullak.offers import service as offers
from gullak.offers.schemas import OfferIn
from tests.helpers.merchants import live_merchant, new_merchant

# Nearby tests measure from here (Mumbai); 1 km of latitude is 0.008993 degrees.
CENTER = (19.0760, 72.8777)
KM_LAT = 0.008993
KM_LNG = 0.009510  # at 19 degrees north
ALL_WEEK = {day: [{"open": "00:00", "close": "24:00"}]
            for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@dataclass
class World:
    ids: dict[str, uuid.UUID] = field(default_factory=dict)

    def __getitem__(self, name: str) -> uuid.UUID:
        return self.ids[name]

    def name_of(self, id_: uuid.UUID | str) -> str:
        return next(k for k, v in self.ids.items() if str(v) == str(id_))


async def outlet(session: AsyncSession, merchant_id: uuid.UUID, name: str, city: str,
                 km_north: float = 0.0, km_east: float = 0.0,
                 hours: dict[str, Any] | None = None) -> uuid.UUID:
    out = await merchants.add_outlet(session, merchant_id, OutletIn(
        name=name, address=f"{name} Road", city=city,
        latitude=CENTER[0] + km_north * KM_LAT, longitude=CENTER[1] + km_east * KM_LNG,
        hours=ALL_WEEK if hours is None else hours), None)
    return out.id


async def product(session: AsyncSession, merchant_id: uuid.UUID, name: str, price: int,
                  **fields: Any) -> uuid.UUID:
    sku = name.upper().replace(" ", "-")
    out = await catalog.create_product(session, merchant_id, ProductIn(
        sku=sku, name=name, price=price, **fields), None)
    return out.id


async def offer(session: AsyncSession, merchant_id: uuid.UUID, title: str,
                **fields: Any) -> uuid.UUID:
    now = clock.now()
    data = OfferIn(type="discount_percent", title=title, discount_kind="percent",
                   discount_value=2000, valid_from=now - dt.timedelta(hours=1),
                   valid_until=now + dt.timedelta(days=30), **fields)
    created = await offers.create_offer(session, merchant_id, data, None)
    for action in ("submit", "approve"):
        await offers.transition(session, created.id, action, None)
    return created.id


async def build_world(session: AsyncSession) -> World:
    w = World()
    try:
        await ledger.get_asset(session, "INR")
    except Exception:
        await ledger.create_asset(session, AssetIn(code="INR", name="Rupee", kind=AssetKind.cash,
                                                   scale=2))
    food = await catalog.create_category(session, CategoryIn(name="Food", slug="food"), None)
    rice = await catalog.create_category(session, CategoryIn(
        name="Rice dishes", slug="rice-dishes", parent_id=food.id), None)
    w.ids.update(food=food.id, rice=rice.id)

    async def live(name: str, city: str, **fields: Any) -> uuid.UUID:
        return (await live_merchant(session, name, city=city, **fields)).id

    w.ids["blues"] = await live("Biryani Blues", "Mumbai", tags=["family", "non-veg"],
                                category_id=food.id)
    w.ids["paradise"] = await live("Paradise Biryani", "Bengaluru", tags=["family"])
    w.ids["chai"] = await live("Chai Point", "Mumbai", tags=["budget"])
    w.ids["pending"] = (await new_merchant(session, "Biryani Pending House")).id

    w.ids["chai_1km"] = await outlet(session, w["chai"], "Chai Point Bandra", "Mumbai", 1.0)
    w.ids["blues_2km"] = await outlet(session, w["blues"], "Biryani Blues Worli", "Mumbai",
                                      km_east=2.0)
    w.ids["chai_3km"] = await outlet(session, w["chai"], "Chai Point Dadar", "Mumbai", -3.0)
    w.ids["chai_8km"] = await outlet(session, w["chai"], "Chai Point Andheri", "Mumbai", 8.0)
    # Open only on Sundays: closed for "open now" on any other day.
    w.ids["blues_sunday"] = await outlet(session, w["blues"], "Biryani Blues Juhu", "Mumbai",
                                         km_north=4.0,
                                         hours={"sun": [{"open": "00:00", "close": "24:00"}]})

    w.ids["chicken"] = await product(session, w["blues"], "Chicken Biryani", 25_000,
                                     city="Mumbai", category_id=rice.id, tags=["non-veg"])
    w.ids["veg"] = await product(session, w["blues"], "Veg Biryani", 18_000, city="Mumbai",
                                 category_id=rice.id, tags=["veg"])
    w.ids["hyderabadi"] = await product(session, w["paradise"], "Hyderabadi Biryani", 32_000,
                                        city="Bengaluru", category_id=rice.id)
    w.ids["masala_chai"] = await product(session, w["chai"], "Masala Chai", 2_000,
                                         city="Mumbai", tags=["veg"])

    w.ids["flat20"] = await offer(session, w["blues"], "Flat 20% off on biryani",
                                  cities=["Mumbai"], tags=["weekend"])
    w.ids["free_chai"] = await offer(session, w["chai"], "Free chai with every samosa",
                                     cities=["Mumbai"])
    return w


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await client.get("/v1/search", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def names(body: dict[str, Any], world: World) -> list[str]:
    """The world's names of a search's hits, in order."""
    return [world.name_of(h["id"]) for h in body["hits"]]


async def log_state(connection: AsyncConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Everything discovery writes."""
    queries = {
        "queries": "SELECT id, first_click_position FROM search_queries ORDER BY id",
        "clicks": "SELECT query_id, kind, result_id, position FROM search_clicks ORDER BY id",
        "popular": "SELECT city, query, rank FROM popular_searches ORDER BY city, rank",
    }
    return {k: [tuple(r) for r in await connection.execute(text(q))]
            for k, q in queries.items()}


async def logged(connection: AsyncConnection, query_id: str) -> dict[str, Any]:
    row = (await connection.execute(text(
        "SELECT * FROM search_queries WHERE id = :id"), {"id": query_id})).mappings().one()
    return dict(row)
