"""GET /v1/search: merchants, products and offers in one ranked answer, every search logged."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.discovery import service
from gullak.kit import clock
from tests.helpers.discovery import World, log_state, logged, names, product, search
from tests.helpers.problems import assert_problem
from tests.helpers.users import sign_in

MONDAY_NOON_IST = dt.datetime(2026, 11, 23, 6, 30, tzinfo=dt.UTC)


async def test_one_typo_finds_every_kind_ranked_and_logged(
        client: httpx.AsyncClient, world: World, connection: AsyncConnection) -> None:
    body = await search(client, q="biryni")  # "biryani" with a letter missing
    found = names(body, world)
    assert set(found) == {"blues", "paradise", "chicken", "veg", "hyderabadi", "flat20"}
    assert "pending" not in found  # a merchant not yet live is not found
    assert {h["kind"] for h in body["hits"]} == {"merchant", "product", "offer"}
    assert [h["position"] for h in body["hits"]] == list(range(1, len(found) + 1))
    scores = [h["score"] for h in body["hits"]]
    assert scores == sorted(scores, reverse=True)
    assert body["count"] == len(found) and body["query"] == "biryni"

    row = await logged(connection, body["query_id"])
    assert row["endpoint"] == "search" and row["query"] == "biryni"
    assert row["normalized_query"] == "biryni" and row["user_id"] is None
    assert row["client_hash"] and "127.0.0.1" not in row["client_hash"]
    assert row["results_count"] == len(found)
    assert row["results"] == [{"kind": h["kind"], "id": h["id"]} for h in body["hits"]]


async def test_an_exact_name_comes_first_whatever_its_kind(client: httpx.AsyncClient,
                                                           world: World) -> None:
    assert names(await search(client, q="Chicken Biryani"), world)[0] == "chicken"
    assert names(await search(client, q="paradise biryani"), world)[0] == "paradise"
    assert names(await search(client, q="masala chai"), world)[0] == "masala_chai"


async def test_kinds_and_limit(client: httpx.AsyncClient, world: World) -> None:
    body = await search(client, q="biryani", kinds="product")
    assert {h["kind"] for h in body["hits"]} == {"product"} and body["count"] == 3
    body = await search(client, q="biryani", kinds=["merchant", "offer"])
    assert set(names(body, world)) == {"blues", "paradise", "flat20"}
    body = await search(client, q="biryani", limit=2)
    assert body["count"] == 2 and len(body["hits"]) == 2


async def test_city_price_category_tag_and_rating_filters(client: httpx.AsyncClient,
                                                          world: World) -> None:
    body = await search(client, q="biryani", city="bengaluru")
    assert set(names(body, world)) == {"paradise", "hyderabadi"}
    # A price range asks for products; prices are in paise.
    body = await search(client, q="biryani", min_price=20_000, max_price=30_000)
    assert names(body, world) == ["chicken"]
    body = await search(client, city="Mumbai", max_price=5_000)  # no words: filters alone
    assert names(body, world) == ["masala_chai"]
    # The parent category finds products of its subcategories too.
    body = await search(client, q="biryani", category_id=str(world["food"]), kinds="product")
    assert set(names(body, world)) == {"chicken", "veg", "hyderabadi"}
    body = await search(client, q="biryani", tags="veg", kinds="product")
    assert names(body, world) == ["veg"]
    body = await search(client, q="biryani", kinds="merchant", min_rating=1)
    assert body["hits"] == []  # nobody has been rated yet


async def test_open_now_keeps_merchants_with_an_outlet_open(client: httpx.AsyncClient,
                                                            world: World) -> None:
    clock.freeze(MONDAY_NOON_IST)
    body = await search(client, q="biryani", kinds="merchant", open_now="true")
    # Paradise has no outlet at all; Biryani Blues has one open all week.
    assert names(body, world) == ["blues"]


async def test_a_signed_in_search_is_logged_as_the_users(
        client: httpx.AsyncClient, world: World, connection: AsyncConnection) -> None:
    alice = await sign_in(client, connection)
    r = await client.get("/v1/search", params={"q": "chai"}, headers=alice.headers)
    assert r.status_code == 200, r.text
    row = await logged(connection, r.json()["query_id"])
    assert str(row["user_id"]) == alice.user["id"] and row["client_hash"] is None


async def test_a_bad_token_is_refused_not_taken_for_anonymous(
        client: httpx.AsyncClient, world: World, connection: AsyncConnection) -> None:
    before = await log_state(connection)
    r = await client.get("/v1/search", params={"q": "chai"},
                         headers={"authorization": "Bearer not-a-token"})
    assert_problem(r, 401, "invalid_token")
    assert await log_state(connection) == before


async def test_results_are_cached_briefly_and_every_search_still_logged(
        client: httpx.AsyncClient, world: World, session: AsyncSession,
        connection: AsyncConnection) -> None:
    first = await search(client, q="chai", kinds="product")
    assert names(first, world) == ["masala_chai"]
    world.ids["latte"] = await product(session, world["chai"], "Chai Latte", 3_000)
    second = await search(client, q="chai", kinds="product")
    assert second["hits"] == first["hits"]  # the cached answer, for up to 30 seconds
    assert second["query_id"] != first["query_id"]
    await service.clear_caches()
    third = await search(client, q="chai", kinds="product")
    assert set(names(third, world)) == {"masala_chai", "latte"}
    count = await connection.scalar(text(
        "SELECT count(*) FROM search_queries WHERE query = 'chai'"))
    assert count == 3


async def test_a_search_that_finds_nothing_is_logged_with_zero_results(
        client: httpx.AsyncClient, world: World, connection: AsyncConnection) -> None:
    body = await search(client, q="xylophone repair")
    assert body["hits"] == [] and body["count"] == 0
    assert (await logged(connection, body["query_id"]))["results_count"] == 0
    assert uuid.UUID(body["query_id"]).version == 7
