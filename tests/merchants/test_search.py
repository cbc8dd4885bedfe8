"""The search contract over merchants: full text with typos, autocomplete, filters, and
nearby outlets by distance."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.errors import GullakError
from gullak.kit.search import SearchQuery
from gullak.merchants import service
from gullak.merchants.schemas import MerchantOut, MerchantPatch, Status
from tests.helpers.merchants import daily, live_merchant, new_merchant, outlet_in

# Tuesday 2026-11-24, 12:00 in India.
NOON_IST = dt.datetime(2026, 11, 24, 6, 30, tzinfo=dt.UTC)
BANDRA = (19.0553, 72.8301)


def haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


@pytest.fixture
async def shops(session: AsyncSession) -> dict[str, MerchantOut]:
    starbucks = await live_merchant(session, "Starbucks Reserve", city="Mumbai",
                                    tags=["coffee", "cafe"], description="Coffee and snacks")
    biryani = await live_merchant(session, "Behrouz Biryani", city="Bengaluru",
                                  tags=["biryani", "delivery"], description="Royal biryanis")
    blues = await live_merchant(session, "Biryani Blues", city="Mumbai", tags=["biryani"])
    hidden = await new_merchant(session, "Starbucks Pending", city="Mumbai")  # not live
    return {"starbucks": starbucks, "biryani": biryani, "blues": blues, "hidden": hidden}


async def names(session: AsyncSession, **query: Any) -> list[str]:
    return [h.title for h in await service.search(session, SearchQuery(**query))]


async def test_search_finds_live_merchants_by_words_and_prefixes(
        session: AsyncSession, shops: dict[str, MerchantOut]) -> None:
    assert await names(session, text="starbucks") == ["Starbucks Reserve"]
    assert await names(session, text="reser") == ["Starbucks Reserve"]  # a prefix
    assert await names(session, text="snacks") == ["Starbucks Reserve"]  # the description
    assert set(await names(session, text="biryani")) == {"Behrouz Biryani", "Biryani Blues"}
    assert await names(session, text="pizza") == []


async def test_search_tolerates_typos(session: AsyncSession, shops: dict[str, MerchantOut]) -> None:
    assert (await names(session, text="starbuks"))[0] == "Starbucks Reserve"
    assert (await names(session, text="behruz biriyani"))[0] == "Behrouz Biryani"
    assert (await names(session, text="biryani blus"))[0] == "Biryani Blues"


async def test_search_filters(session: AsyncSession, shops: dict[str, MerchantOut]) -> None:
    assert await names(session, text="biryani", city="mumbai") == ["Biryani Blues"]
    assert await names(session, tags=("Delivery",)) == ["Behrouz Biryani"]
    assert await names(session, tags=("biryani", "delivery")) == ["Behrouz Biryani"]
    assert await names(session, min_rating=0.1) == []  # nobody is rated yet
    blues = shops["blues"]
    category = uuid.UUID("01900000-0000-7000-8000-0000000000c1")
    await service.update_merchant(session, blues.id,
                                  MerchantPatch(category_id=category), None)
    assert await names(session, category_id=category) == ["Biryani Blues"]


async def test_search_open_now(session: AsyncSession, shops: dict[str, MerchantOut]) -> None:
    starbucks, blues = shops["starbucks"], shops["blues"]
    await service.add_outlet(session, starbucks.id, outlet_in(
        hours=daily("08:00", "23:00")), None)
    # Biryani Blues opens in the evening only, and past midnight.
    await service.add_outlet(session, blues.id, outlet_in(
        hours=daily("18:00", "02:00")), None)
    assert await names(session, open_now=True, at=NOON_IST) == ["Starbucks Reserve"]
    one_am = dt.datetime(2026, 11, 24, 19, 30, tzinfo=dt.UTC)  # Wednesday 01:00 IST
    assert await names(session, open_now=True, at=one_am) == ["Biryani Blues"]


async def test_autocomplete_by_prefix(session: AsyncSession, shops: dict[str, MerchantOut]) -> None:
    texts = [s.text for s in await service.autocomplete(session, "bir", 10, None)]
    assert texts[0] == "Biryani Blues"  # the name starts with it
    assert set(texts) == {"Biryani Blues", "Behrouz Biryani"}  # or a word of it does
    assert [s.text for s in await service.autocomplete(session, "STAR", 10, None)] == [
        "Starbucks Reserve"]
    assert [s.text for s in await service.autocomplete(session, "bir", 10, "Bengaluru")] == [
        "Behrouz Biryani"]
    assert [s.text for s in await service.autocomplete(session, "starbx", 10, None)] == [
        "Starbucks Reserve"]  # a near miss
    assert await service.autocomplete(session, "%", 10, None) == []
    assert await service.autocomplete(session, "zzz", 10, None) == []


async def test_nearby_outlets_sorted_by_distance_within_the_radius(
        session: AsyncSession, shops: dict[str, MerchantOut]) -> None:
    starbucks, blues, hidden = shops["starbucks"], shops["blues"], shops["hidden"]
    places = {
        "Bandra": BANDRA,  # at the point
        "Khar": (19.0728, 72.8365),  # ~2.0 km
        "Juhu": (19.1075, 72.8263),  # ~5.8 km
        "Colaba": (18.9067, 72.8147),  # ~16.6 km
    }
    ids = {}
    for name, (lat, lon) in places.items():
        merchant = blues if name == "Khar" else starbucks
        out = await service.add_outlet(session, merchant.id, outlet_in(
            lat, lon, name=name), None)
        ids[out.id] = name
    await service.add_outlet(session, hidden.id, outlet_in(*BANDRA, name="Hidden"), None)
    await service.add_outlet(session, starbucks.id, outlet_in(
        *BANDRA, name="Shut", active=False), None)
    hits = await service.nearby(session, *BANDRA, 6000, 10, SearchQuery())
    assert [ids[h.id] for h in hits] == ["Bandra", "Khar", "Juhu"]
    for hit in hits:
        expected = haversine(BANDRA, places[ids[hit.id]])
        assert hit.distance_m == pytest.approx(expected, rel=1e-6, abs=0.01)
        assert hit.distance_m <= 6000
    assert hits[1].merchant_id == blues.id and hits[1].title == "Biryani Blues, Khar"
    # The radius is a circle, not the box around it; the limit keeps the nearest.
    assert [ids[h.id] for h in await service.nearby(session, *BANDRA, 2100, 10,
                                                    SearchQuery())] == ["Bandra", "Khar"]
    assert [ids[h.id] for h in await service.nearby(session, *BANDRA, 50_000, 2,
                                                    SearchQuery())] == ["Bandra", "Khar"]
    assert [ids[h.id] for h in await service.nearby(
        session, *BANDRA, 50_000, 10, SearchQuery(text="biryani"))] == ["Khar"]


async def test_nearby_respects_open_now_and_suspension(session: AsyncSession,
                                                       shops: dict[str, MerchantOut]) -> None:
    starbucks, blues = shops["starbucks"], shops["blues"]
    day = await service.add_outlet(session, starbucks.id, outlet_in(
        *BANDRA, name="Day", hours=daily("09:00", "17:00")), None)
    night = await service.add_outlet(session, blues.id, outlet_in(
        19.06, 72.83, name="Night", hours=daily("19:00", "03:00")), None)
    at_noon = SearchQuery(open_now=True, at=NOON_IST)
    assert [h.id for h in await service.nearby(session, *BANDRA, 5000, 10, at_noon)] == [day.id]
    await service.set_status(session, starbucks.id, Status.suspended, "audit", None)
    assert await service.nearby(session, *BANDRA, 5000, 10, at_noon) == []
    late = SearchQuery(open_now=True, at=NOON_IST + dt.timedelta(hours=14))  # 02:00 IST
    assert [h.id for h in await service.nearby(session, *BANDRA, 5000, 10, late)] == [night.id]


async def test_nearby_across_the_antimeridian(session: AsyncSession) -> None:
    fiji = await live_merchant(session, "Suva Surf", city="Suva")
    east = await service.add_outlet(session, fiji.id, outlet_in(
        -16.0, 179.99, city="Suva", timezone="Pacific/Fiji"), None)
    west = await service.add_outlet(session, fiji.id, outlet_in(
        -16.0, -179.99, city="Suva", timezone="Pacific/Fiji"), None)
    hits = await service.nearby(session, -16.0, 179.995, 5000, 10, SearchQuery())
    assert {h.id for h in hits} == {east.id, west.id}


async def test_nearby_refuses_impossible_points(session: AsyncSession) -> None:
    with pytest.raises(GullakError) as info:
        await service.nearby(session, 95.0, 72.8, 1000, 10, SearchQuery())
    assert info.value.code == "invalid_coordinates"
