"""The hot read (active offers by city and category, cached and invalidated on every change)
and the search contract that discovery merges (full text, typos, prefixes, filters)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.catalog import service as catalog
from gullak.catalog.schemas import CategoryIn, CategoryPatch
from gullak.kit import clock
from gullak.kit.search import SearchQuery
from gullak.merchants import service as merchants
from gullak.offers import service
from gullak.offers.cache import ActiveOffersCache
from gullak.offers.schemas import AdminOfferPatch
from gullak.system import service as system
from tests.helpers.offers import DAY, HOUR, Shop, live_merchant, make_offer


async def titles(session: AsyncSession, city: str | None = None,
                 category: uuid.UUID | None = None, **kw: Any) -> list[str]:
    return [o.title for o in await service.active_offers(session, city, category, None, **kw)]


async def test_active_offers_by_city_and_category_boosted_and_featured_first(
        client: httpx.AsyncClient, shop: Shop, session: AsyncSession) -> None:
    food = uuid.uuid4()
    now = clock.now()
    await make_offer(session, shop.merchant_id, title="Plain", cities=["Mumbai"])
    await make_offer(session, shop.merchant_id, title="Everywhere")
    await make_offer(session, shop.merchant_id, title="Priority", display_priority=5,
                     category_id=str(food))
    await make_offer(session, shop.merchant_id, title="Featured", is_featured=True)
    await make_offer(session, shop.merchant_id, title="Boosted",
                     boosted_until=(now + DAY).isoformat())
    await make_offer(session, shop.merchant_id, title="Boost over",
                     boosted_until=(now - HOUR).isoformat(), display_priority=1)
    await make_offer(session, shop.merchant_id, title="Pune only", cities=["Pune"])
    await make_offer(session, shop.merchant_id, title="Paused", status="paused")
    await make_offer(session, shop.merchant_id, title="Draft", status="draft")
    await make_offer(session, shop.merchant_id, title="Tomorrow",
                     valid_from=(now + DAY).isoformat())
    assert await titles(session, "mumbai") == [
        "Boosted", "Featured", "Priority", "Boost over", "Everywhere", "Plain"]
    assert await titles(session, "Pune") == [
        "Boosted", "Featured", "Priority", "Boost over", "Pune only", "Everywhere"]
    assert await titles(session, None, food) == ["Priority"]
    assert await titles(session, "Mumbai", limit=2) == ["Boosted", "Featured"]
    public = (await client.get("/v1/offers", params={"city": "Mumbai", "limit": 3})).json()
    assert [(o["title"], o["boosted"]) for o in public] == [
        ("Boosted", True), ("Featured", False), ("Priority", False)]
    assert "status_reason" not in public[0]


@pytest.fixture
async def reader(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """Another session, as another request would have: the one that changes offers does not
    cache what it alone can see before it commits."""
    async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as s:
        yield s


async def test_the_cache_serves_reads_and_every_change_invalidates_it(
        shop: Shop, session: AsyncSession, reader: AsyncSession) -> None:
    offer = await make_offer(session, shop.merchant_id, title="Before")
    assert await titles(session, "Mumbai") == ["Before"]
    assert await titles(reader, "Mumbai") == ["Before"]
    # Behind the service's back: the cached list does not see it...
    await session.execute(text("UPDATE offers SET title = 'Sneaky' WHERE id = :id"),
                          {"id": offer.id})
    assert await titles(reader, "Mumbai") == ["Before"]
    # (The writer, with changes not yet committed, reads its own writes, not the cache.)
    session.expire_all()
    assert await titles(session, "Mumbai") == ["Sneaky"]
    # ...while any change through the service drops the cache.
    await service.update_offer(session, offer.id, AdminOfferPatch(display_priority=1), None)
    assert await titles(reader, "Mumbai") == ["Sneaky"]
    await make_offer(session, shop.merchant_id, title="New")
    assert await titles(reader, "Mumbai") == ["Sneaky", "New"]
    await service.transition(session, offer.id, "pause", None)
    assert await titles(reader, "Mumbai") == ["New"]


class FakeRedis:
    """The few Redis commands the cache uses, shared like one server."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def get(self, key: str) -> Any:
        return self.data.get(key)

    async def set(self, key: str, value: str, ex: int | None = None) -> None:
        self.data[key] = value.encode()

    async def incr(self, key: str) -> int:
        self.data[key] = int(self.data.get(key, 0)) + 1
        return int(self.data[key])


async def test_with_redis_every_process_sees_the_same_cache_and_invalidation(
        shop: Shop, session: AsyncSession, reader: AsyncSession,
        monkeypatch: pytest.MonkeyPatch) -> None:
    redis = FakeRedis()
    monkeypatch.setattr(system, "redis_client", lambda: redis)
    offer = await make_offer(session, shop.merchant_id, title="Shared")
    assert await titles(reader, "Mumbai") == ["Shared"]
    cached = [k for k in redis.data if k.startswith("gullak:offers:active:")]
    assert len(cached) == 1
    # Another process (its own local cache) reads the list from Redis, not the database.
    other = ActiveOffersCache()
    key = cached[0].split(":", 4)[4]
    hit = await other.get(redis, key)  # type: ignore[arg-type]
    assert [o["title"] for o in hit] == ["Shared"]
    # A change in this process bumps the generation in Redis: the other process misses.
    await service.transition(session, offer.id, "pause", None)
    assert await other.get(redis, key) is None  # type: ignore[arg-type]
    assert await titles(reader, "Mumbai") == []


async def test_search_finds_words_typos_and_filters(shop: Shop, session: AsyncSession) -> None:
    pizza = await make_offer(session, shop.merchant_id, title="Ten percent off pizzas",
                             description="Wood-fired, every evening.", tags=["dinner"],
                             cities=["Mumbai"])
    await make_offer(session, shop.merchant_id, title="Coffee and croissant combo",
                     tags=["breakfast"], type="coupon_code", coupon_code="MORNING5")
    await make_offer(session, shop.merchant_id, title="Pizza party for paused people",
                     status="paused")
    other_id, _ = await live_merchant(session)
    pune = await make_offer(session, other_id, title="Pizza lunch in Pune", cities=["Pune"],
                            tags=["lunch"])

    async def found(**q: Any) -> list[str]:
        return [h.title for h in await service.search(session, SearchQuery(**q))]

    assert set(await found(text="pizza")) == {"Ten percent off pizzas", "Pizza lunch in Pune"}
    assert set(await found(text="piza")) == {"Ten percent off pizzas", "Pizza lunch in Pune"}
    assert await found(text="wood fired") == ["Ten percent off pizzas"]
    assert await found(text="dinner") == ["Ten percent off pizzas"]  # a tag
    assert await found(text="morning5") == ["Coffee and croissant combo"]
    assert await found(text="pizza", city="mumbai") == ["Ten percent off pizzas"]
    assert await found(text="pizza", tags=("lunch",)) == ["Pizza lunch in Pune"]
    assert await found(text="pizza", at=clock.now() + 60 * DAY) == []
    assert set(await found()) == {"Ten percent off pizzas", "Coffee and croissant combo",
                                  "Pizza lunch in Pune"}
    hits = await service.search(session, SearchQuery(text="pizzas", city="Mumbai"))
    assert [(h.kind, h.id, h.merchant_id, h.subtitle) for h in hits] == [
        ("offer", pizza.id, shop.merchant_id, "10% off")]
    assert hits[0].score > 0 and hits[0].data["tags"] == ["dinner"]

    suggestions = await service.autocomplete(session, "piz", 10, None)
    assert {s.text for s in suggestions} == {"Ten percent off pizzas", "Pizza lunch in Pune"}
    assert all(s.kind == "offer" for s in suggestions)
    # Every word typed so far begins a word of the title: that one ranks first.
    assert (await service.autocomplete(session, "Pizza l", 10, None))[0].id == pune.id
    assert [s.text for s in await service.autocomplete(session, "piz", 10, "Mumbai")] == [
        "Ten percent off pizzas"]
    assert await service.autocomplete(session, "  !! ", 10, None) == []
    assert await service.autocomplete(session, "zzzq", 10, None) == []


async def test_a_category_holds_the_offers_of_its_subcategories(
        client: httpx.AsyncClient, shop: Shop, session: AsyncSession) -> None:
    async def category(slug: str, parent: uuid.UUID | None = None) -> uuid.UUID:
        return (await catalog.create_category(session, CategoryIn(
            name=slug.title(), slug=slug, parent_id=parent), None)).id

    food = await category("food")
    pizza = await category("pizza", food)
    thin = await category("thin-crust", pizza)
    drinks = await category("drinks")
    for title, category_id in (("Food fest", food), ("Pizza night", pizza),
                               ("Thin crust Tuesday", thin), ("Happy hour", drinks),
                               ("Uncategorised", None)):
        await make_offer(session, shop.merchant_id, title=title, cities=["Mumbai"],
                         category_id=str(category_id) if category_id else None)
    under_food = {"Food fest", "Pizza night", "Thin crust Tuesday"}
    assert set(await titles(session, "Mumbai", food)) == under_food
    assert set(await titles(session, None, pizza)) == {"Pizza night", "Thin crust Tuesday"}
    assert await titles(session, None, thin) == ["Thin crust Tuesday"]
    assert await titles(session, None, drinks) == ["Happy hour"]
    public = (await client.get("/v1/offers", params={"category_id": str(food)})).json()
    assert {o["title"] for o in public} == under_food

    async def found(**q: Any) -> set[str]:
        return {h.title for h in await service.search(session, SearchQuery(**q))}

    assert await found(category_id=food) == under_food  # no words
    assert await found(text="pizza", category_id=food) == {"Pizza night"}  # full text
    assert await found(text="tuesdy", category_id=food) == {"Thin crust Tuesday"}  # typo
    assert await found(text="tuesday", category_id=drinks) == set()
    # A category moved under another brings its offers along.
    await catalog.update_category(session, drinks, CategoryPatch(parent_id=food), None)
    assert "Happy hour" in await found(category_id=food)


def test_headlines_say_the_benefit() -> None:
    class Terms:
        type = "deal"
        title = "Denim deal"
        discount_kind, discount_value, max_discount = "percent", 2000, 15_000
        cashback_kind, cashback_value, max_cashback = "fixed", 5_000, None
        bogo_buy = bogo_get = freebie_item = None

    headline = service.headline(Terms())  # type: ignore[arg-type]
    assert headline == "20% off up to 150.00 + 50.00 cashback"
    Terms.discount_kind = Terms.cashback_kind = None
    assert service.headline(Terms()) == "Denim deal"  # type: ignore[arg-type]


async def test_a_suspended_merchants_offers_leave_every_listing_and_return(
        shop: Shop, session: AsyncSession) -> None:
    other_id, _ = await live_merchant(session)
    await make_offer(session, shop.merchant_id, title="Pizza at the shop")
    await make_offer(session, other_id, title="Pizza elsewhere")

    async def everywhere() -> tuple[set[str], set[str], set[str]]:
        listed = set(await titles(session))
        found = {h.title for h in await service.search(session, SearchQuery(text="pizza"))}
        suggested = {s.text for s in await service.autocomplete(session, "piz", 10, None)}
        return listed, found, suggested

    both = {"Pizza at the shop", "Pizza elsewhere"}
    assert await everywhere() == (both, both, both)
    await merchants.set_status(session, other_id, "suspended", "Unpaid commissions", None)
    only = {"Pizza at the shop"}
    assert await everywhere() == (only, only, only)
    await merchants.set_status(session, other_id, "live", None, None)
    assert await everywhere() == (both, both, both)


async def test_search_filters_by_the_merchants_rating(shop: Shop,
                                                      session: AsyncSession) -> None:
    rated_id, _ = await live_merchant(session)
    await session.execute(text("UPDATE merchants SET rating_avg = 4.5 WHERE id = :id"),
                          {"id": rated_id})
    await make_offer(session, shop.merchant_id, title="Pizza unrated")
    await make_offer(session, rated_id, title="Pizza well rated")
    found = await service.search(session, SearchQuery(text="pizza", min_rating=4.0))
    assert [h.title for h in found] == ["Pizza well rated"]
