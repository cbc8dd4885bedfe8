"""GET /v1/nearby (nearest first, within the radius) and GET /v1/search/autocomplete."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.discovery import service
from gullak.discovery.ranking import words
from gullak.kit import clock
from tests.helpers.discovery import CENTER, World, log_state, logged

MONDAY_NOON_IST = dt.datetime(2026, 11, 23, 6, 30, tzinfo=dt.UTC)


async def nearby(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await client.get("/v1/nearby", params={"lat": CENTER[0], "lng": CENTER[1], **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_nearby_is_sorted_by_distance_within_the_radius(
        client: httpx.AsyncClient, world: World, connection: AsyncConnection) -> None:
    body = await nearby(client, radius_m=5000)
    assert [world.name_of(h["id"]) for h in body["hits"]] == [
        "chai_1km", "blues_2km", "chai_3km", "blues_sunday"]
    for hit, km in zip(body["hits"], (1, 2, 3, 4), strict=True):
        assert abs(hit["distance_m"] - km * 1000) < 20, hit
        assert hit["kind"] == "outlet"
    assert [h["position"] for h in body["hits"]] == [1, 2, 3, 4]
    assert {h["merchant_id"] for h in body["hits"]} == {str(world["chai"]), str(world["blues"])}

    wider = await nearby(client, radius_m=10_000)
    assert [world.name_of(h["id"]) for h in wider["hits"]][-1] == "chai_8km"
    assert len(wider["hits"]) == 5
    tight = await nearby(client, radius_m=1500)
    assert [world.name_of(h["id"]) for h in tight["hits"]] == ["chai_1km"]
    two = await nearby(client, radius_m=10_000, limit=2)
    assert [world.name_of(h["id"]) for h in two["hits"]] == ["chai_1km", "blues_2km"]

    row = await logged(connection, body["query_id"])
    assert row["endpoint"] == "nearby" and row["results_count"] == 4
    # The point is kept to about 100 m: enough for analysis, not a home address.
    assert row["filters"] == {"lat": round(CENTER[0], 3), "lng": round(CENTER[1], 3),
                              "radius_m": 5000.0, "limit": 20}


async def test_nearby_with_words_and_open_now(client: httpx.AsyncClient, world: World) -> None:
    body = await nearby(client, radius_m=10_000, q="chai")
    assert [world.name_of(h["id"]) for h in body["hits"]] == [
        "chai_1km", "chai_3km", "chai_8km"]
    clock.freeze(MONDAY_NOON_IST)
    body = await nearby(client, radius_m=5000, open_now="true")
    assert "blues_sunday" not in [world.name_of(h["id"]) for h in body["hits"]]
    assert len(body["hits"]) == 3


async def test_nearby_far_from_everything_is_empty(client: httpx.AsyncClient,
                                                   world: World) -> None:
    r = await client.get("/v1/nearby", params={"lat": 28.6139, "lng": 77.2090})
    assert r.status_code == 200 and r.json()["hits"] == []


async def autocomplete(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/v1/search/autocomplete", params=params)
    assert r.status_code == 200, r.text
    suggestions: list[dict[str, Any]] = r.json()["suggestions"]
    scores = [s["score"] for s in suggestions]
    assert scores == sorted(scores, reverse=True)
    return suggestions


async def test_autocomplete_completes_a_prefix_across_kinds_without_logging(
        client: httpx.AsyncClient, world: World, connection: AsyncConnection) -> None:
    before = await log_state(connection)
    suggestions = await autocomplete(client, q="biry")
    assert {s["text"] for s in suggestions} >= {
        "Biryani Blues", "Paradise Biryani", "Chicken Biryani", "Veg Biryani",
        "Hyderabadi Biryani", "Flat 20% off on biryani"}
    assert "Biryani Pending House" not in {s["text"] for s in suggestions}
    for s in suggestions:
        assert any(w.startswith("biry") for w in words(s["text"])), s
        assert world.name_of(s["id"]) and s["kind"] in ("merchant", "product", "offer")
    # Names that start with what was typed come before names that merely contain it.
    assert suggestions[0]["text"] == "Biryani Blues"
    assert await log_state(connection) == before  # keystrokes are not searches


async def test_autocomplete_by_city_limit_and_typo(client: httpx.AsyncClient,
                                                   world: World) -> None:
    texts = {s["text"] for s in await autocomplete(client, q="biry", city="Bengaluru")}
    assert texts == {"Paradise Biryani", "Hyderabadi Biryani"}
    assert len(await autocomplete(client, q="biry", limit=2)) == 2
    texts = {s["text"] for s in await autocomplete(client, q="paradse")}  # 'i' missing
    assert "Paradise Biryani" in texts


async def test_autocomplete_offers_popular_searches(
        client: httpx.AsyncClient, world: World, session: AsyncSession) -> None:
    for address in ("10.0.0.1", "10.0.0.2"):
        who = service.Searcher(client_hash=address)
        for q in ("chai point", "chai"):
            await service.search(session, service.SearchParams(q=q), who)
    await service.refresh_popular(session)
    suggestions = await autocomplete(client, q="cha")
    popular = [s for s in suggestions if s["kind"] == "query"]
    assert {s["text"] for s in popular} == {"chai"}  # "chai point" reads like the merchant
    assert all(s["id"] is None for s in popular)
    assert "Chai Point" in {s["text"] for s in suggestions}
    # One letter is answered from popular searches alone.
    assert [(s["kind"], s["text"]) for s in await autocomplete(client, q="c")] == [
        ("query", "chai"), ("query", "chai point")]
