"""Product search and autocomplete: full text, typos, prefixes and filters."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import errors, service
from gullak.catalog.schemas import CategoryIn, ProductPatch
from gullak.kit.search import SearchQuery
from gullak.merchants import reviews
from gullak.merchants import service as merchants
from gullak.merchants.schemas import OutletIn, Status, UserReviewIn
from tests.helpers.catalog import new_merchant, product_in

# Wednesday 12:00 in Bengaluru (UTC+5:30).
NOON = dt.datetime(2030, 3, 6, 6, 30, tzinfo=dt.UTC)
NINE_TO_NINE: dict[str, Any] = {day: [{"open": "09:00", "close": "21:00"}]
                for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
async def catalog(session: AsyncSession, merchant_id: uuid.UUID) -> dict[str, uuid.UUID]:
    sports = (await service.create_category(session, CategoryIn(name="Sports", slug="sports"),
                                            None)).id
    shoes = (await service.create_category(session, CategoryIn(
        name="Shoes", slug="shoes", parent_id=sports), None)).id
    grooming = (await service.create_category(session, CategoryIn(
        name="Grooming", slug="grooming"), None)).id
    elsewhere = await new_merchant(session, "Delhi Sports", city="Delhi")
    ids = {}
    for sku, name, price, category, tags, merchant, extra in [
        ("NIKE", "Nike running shoes", 4_999_00, shoes, ["running"], merchant_id, {}),
        ("ADI", "Adidas football boots", 3_499_00, sports, ["football"], merchant_id, {}),
        ("TRIM", "Philips beard trimmer", 1_999_00, grooming, [], merchant_id,
         {"description": "Cordless trimmer for a sharp beard"}),
        ("BAT", "Cricket bat", 2_500_00, sports, ["cricket"], elsewhere, {}),
        ("COIN", "Running cap", 800, sports, ["running"], merchant_id,
         {"asset_code": "FITCOIN"}),
    ]:
        out = await service.create_product(session, merchant, product_in(
            sku, name=name, price=price, category_id=category, tags=tags, **extra), None)
        ids[sku] = out.id
    ids.update(sports=sports, shoes=shoes, grooming=grooming)
    return ids


async def found(session: AsyncSession, **query: object) -> list[str]:
    hits = await service.search(session, SearchQuery(**query))  # type: ignore[arg-type]
    assert all(h.kind == "product" for h in hits)
    return [h.title for h in hits]


async def test_full_text_stems_and_ranks(session: AsyncSession,
                                         catalog: dict[str, uuid.UUID]) -> None:
    assert (await found(session, text="shoe"))[0] == "Nike running shoes"
    assert set(await found(session, text="running")) == {"Nike running shoes", "Running cap"}
    # The description counts, below the name.
    assert await found(session, text="cordless") == ["Philips beard trimmer"]


async def test_typos_still_find(session: AsyncSession, catalog: dict[str, uuid.UUID]) -> None:
    assert "Nike running shoes" in await found(session, text="runnig shoes")
    assert "Philips beard trimmer" in await found(session, text="trimer")
    assert await found(session, text="xylophone") == []


async def test_filters(session: AsyncSession, catalog: dict[str, uuid.UUID]) -> None:
    # A category includes its subcategories.
    assert set(await found(session, category_id=catalog["sports"])) == {
        "Nike running shoes", "Adidas football boots", "Cricket bat", "Running cap"}
    assert await found(session, category_id=catalog["shoes"]) == ["Nike running shoes"]
    # Price ranges are money: coin-priced products are out of them.
    assert set(await found(session, min_price=2_000_00, max_price=4_000_00)) == {
        "Adidas football boots", "Cricket bat"}
    assert set(await found(session, text="running", max_price=10_000_00)) == {
        "Nike running shoes"}
    assert set(await found(session, tags=("running",))) == {"Nike running shoes",
                                                            "Running cap"}
    assert "Cricket bat" not in await found(session, city="Bengaluru")
    assert await found(session, text="cricket", city="delhi") == ["Cricket bat"]
    with pytest.raises(errors.CategoryNotFound):
        await service.search(session, SearchQuery(category_id=uuid.uuid4()))


async def test_only_products_on_sale_are_found(session: AsyncSession,
                                               catalog: dict[str, uuid.UUID]) -> None:
    await service.update_product(session, catalog["NIKE"], ProductPatch(status="archived"),
                                 None)
    assert "Nike running shoes" not in await found(session, text="running shoes")
    suggestions = await service.autocomplete(session, "nik", 5, None)
    assert suggestions == []


async def test_autocomplete(session: AsyncSession, catalog: dict[str, uuid.UUID]) -> None:
    first = await service.autocomplete(session, "Run", 5, None)
    assert [s.text for s in first] == ["Running cap", "Nike running shoes"]  # name first
    # One or two letters: only names that start with them (no word-by-word scan).
    assert [s.text for s in await service.autocomplete(session, "ru", 5, None)] == [
        "Running cap"]
    assert [s.text for s in await service.autocomplete(session, "beard tr", 5, None)] == [
        "Philips beard trimmer"]
    assert [s.text for s in await service.autocomplete(session, "cri", 5, "Bengaluru")] == []
    assert await service.autocomplete(session, " %_ ", 5, None) == []
    assert len(await service.autocomplete(session, "r", 1, None)) == 1


async def test_only_products_of_live_merchants_are_found(
        session: AsyncSession, catalog: dict[str, uuid.UUID]) -> None:
    pending = await new_merchant(session, "Pending Sports", live=False)
    suspended = await new_merchant(session, "Suspended Sports")
    for merchant in (pending, suspended):
        await service.create_product(session, merchant, product_in(
            "SOCKS", name="Running socks", tags=["running"], category_id=catalog["sports"]),
            None)
    await merchants.set_status(session, suspended, Status.suspended, "fraud check", None)
    on_sale = {"Nike running shoes", "Running cap"}
    assert set(await found(session, text="running")) == on_sale
    assert set(await found(session, tags=("running",))) == on_sale  # no words: newest first
    assert "Running socks" not in await found(session, text="runing sokcs")  # typo: trigrams
    assert "Running socks" not in await found(session, category_id=catalog["sports"])
    suggestions = await service.autocomplete(session, "running", 5, None)
    assert [s.text for s in suggestions] == ["Running cap", "Nike running shoes"]
    assert await service.autocomplete(session, "socks", 5, None) == []  # a word inside
    # Not a stale list: a merchant going live shows at once.
    await merchants.set_status(session, suspended, Status.live, None, None)
    assert "Running socks" in await found(session, text="running")


async def test_min_rating_and_open_now_are_the_merchants(
        session: AsyncSession, catalog: dict[str, uuid.UUID]) -> None:
    # The catalog's own merchant has no outlet and no rating.
    rated = await new_merchant(session, "Rated Runners")
    await merchants.add_outlet(session, rated, OutletIn(
        name="Indiranagar", address="100 Feet Road", city="Bengaluru", latitude=12.97,
        longitude=77.64, hours=NINE_TO_NINE), None)
    await service.create_product(session, rated, product_in(
        "SOCKS", name="Running socks", tags=["running"]), None)
    await reviews.create_review(session, uuid.uuid4(), rated,
                                UserReviewIn(order_id="order-1", rating=4))
    running = {"Nike running shoes", "Running cap", "Running socks"}
    assert set(await found(session, tags=("running",))) == running
    assert await found(session, tags=("running",), min_rating=3.5) == ["Running socks"]
    assert await found(session, text="running", min_rating=4.5) == []
    assert await found(session, text="running", open_now=True, at=NOON) == ["Running socks"]
    night = NOON + dt.timedelta(hours=11)  # 23:00 in Bengaluru: closed
    assert await found(session, text="running", open_now=True, at=night) == []
    assert set(await found(session, text="running", at=night)) == running
