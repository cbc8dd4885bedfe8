"""Bad input: a problem+json with a stable code and the field at fault; nothing logged."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.helpers.discovery import World, log_state
from tests.helpers.problems import assert_problem

LONG = "x" * 201
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("/v1/search", {}, "query_required", "q"),
    ("/v1/search", {"q": "  \t "}, "query_required", "q"),
    ("/v1/search", {"open_now": "true"}, "query_required", "q"),
    ("/v1/search", {"q": LONG}, "query_too_long", "q"),
    ("/v1/search", {"q": "tea", "kinds": "shops"}, "invalid_kind", "kinds"),
    ("/v1/search", {"q": "tea", "kinds": "merchant,outlet"}, "invalid_kind", "kinds"),
    ("/v1/search", {"q": "tea", "min_price": -1}, "invalid_price_range", "min_price"),
    ("/v1/search", {"q": "tea", "max_price": 10**16}, "invalid_price_range", "max_price"),
    ("/v1/search", {"q": "tea", "min_price": 500, "max_price": 100}, "invalid_price_range",
     "max_price"),
    ("/v1/search", {"q": "tea", "min_price": "cheap"}, "validation_error", "min_price"),
    ("/v1/search", {"q": "tea", "min_rating": 6}, "invalid_rating", "min_rating"),
    ("/v1/search", {"q": "tea", "min_rating": "nan"}, "invalid_rating", "min_rating"),
    ("/v1/search", {"q": "tea", "min_rating": -0.5}, "invalid_rating", "min_rating"),
    ("/v1/search", {"q": "tea", "tags": "a" * 51}, "invalid_tag", "tags"),
    ("/v1/search", {"q": "tea", "tags": ",".join(f"t{i}" for i in range(21))}, "invalid_tag",
     "tags"),
    ("/v1/search", {"q": "tea", "city": "c" * 101}, "invalid_city", "city"),
    ("/v1/search", {"q": "tea", "category_id": "food"}, "validation_error", "category_id"),
    ("/v1/search", {"q": "tea", "category_id": "01900000-0000-7000-8000-0000000000ff"},
     "unknown_category", "category_id"),
    ("/v1/search", {"q": "tea", "limit": 0}, "invalid_limit", "limit"),
    ("/v1/search", {"q": "tea", "limit": 51}, "invalid_limit", "limit"),
    ("/v1/search", {"q": "tea", "limit": 10**30}, "invalid_limit", "limit"),
    ("/v1/search", {"q": "tea", "open_now": "perhaps"}, "validation_error", "open_now"),
    ("/v1/search/autocomplete", {}, "query_required", "q"),
    ("/v1/search/autocomplete", {"q": " "}, "query_required", "q"),
    ("/v1/search/autocomplete", {"q": "x" * 101}, "query_too_long", "q"),
    ("/v1/search/autocomplete", {"q": "te", "limit": 21}, "invalid_limit", "limit"),
    ("/v1/search/popular", {"limit": 0}, "invalid_limit", "limit"),
    ("/v1/search/popular", {"city": "c" * 101}, "invalid_city", "city"),
    ("/v1/nearby", {"lng": 72.8}, "validation_error", "lat"),
    ("/v1/nearby", {"lat": "north", "lng": 72.8}, "validation_error", "lat"),
    ("/v1/nearby", {"lat": 90.5, "lng": 72.8}, "invalid_coordinates", "lat"),
    ("/v1/nearby", {"lat": -91, "lng": 72.8}, "invalid_coordinates", "lat"),
    ("/v1/nearby", {"lat": "nan", "lng": 72.8}, "invalid_coordinates", "lat"),
    ("/v1/nearby", {"lat": 19.0, "lng": 180.01}, "invalid_coordinates", "lng"),
    ("/v1/nearby", {"lat": 19.0, "lng": "-inf"}, "invalid_coordinates", "lng"),
    ("/v1/nearby", {"lat": 19.0, "lng": 72.8, "radius_m": 0}, "invalid_radius", "radius_m"),
    ("/v1/nearby", {"lat": 19.0, "lng": 72.8, "radius_m": -5}, "invalid_radius", "radius_m"),
    ("/v1/nearby", {"lat": 19.0, "lng": 72.8, "radius_m": 50_001}, "invalid_radius",
     "radius_m"),
    ("/v1/nearby", {"lat": 19.0, "lng": 72.8, "radius_m": "inf"}, "invalid_radius",
     "radius_m"),
    ("/v1/nearby", {"lat": 19.0, "lng": 72.8, "limit": 101}, "invalid_limit", "limit"),
    ("/v1/nearby", {"lat": 19.0, "lng": 72.8, "q": LONG}, "query_too_long", "q"),
]


async def test_bad_input_is_refused_and_nothing_is_logged(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    before = await log_state(connection)
    for path, params, code, field in CASES:
        response = await client.get(path, params=params)
        try:
            assert_problem(response, 422, code, field)
        except AssertionError as exc:
            raise AssertionError(f"{path} {params}: {exc}") from exc
    assert await log_state(connection) == before


async def test_the_edges_of_the_ranges_are_accepted(client: httpx.AsyncClient,
                                                    world: World) -> None:
    for params in ({"lat": 90, "lng": 180, "radius_m": 50_000, "limit": 100},
                   {"lat": -90, "lng": -180, "radius_m": 0.5, "limit": 1}):
        r = await client.get("/v1/nearby", params=params)
        assert r.status_code == 200, r.text
    r = await client.get("/v1/search", params={"q": "x" * 200, "limit": 50, "min_rating": 5,
                                               "min_price": 0, "max_price": 10**15})
    assert r.status_code == 200, r.text
