"""Checking what was asked: query text, city, limit, kinds, tags and the search filters;
bad input raises a 422."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from gullak.discovery import errors
from gullak.discovery.common import SEARCH_KINDS
from gullak.discovery.ranking import normalize
from gullak.discovery.schemas import SearchParams
from gullak.kit.errors import InvalidInput
from gullak.kit.search import SearchQuery

MAX_QUERY = 200
MAX_PREFIX = 100
MAX_CITY = 100
MAX_TAGS = 20
MAX_TAG = 50
MAX_LIMIT = 50
MAX_PRICE = 10**15  # minor units; keeps every bound inside a bigint


def checked_text(raw: str | None, field: str, maximum: int) -> str | None:
    value = normalize(raw)
    if value is not None and len(value) > maximum:
        raise errors.QueryTooLong(f"At most {maximum} characters.", field=field)
    return value


def checked_city(raw: str | None) -> str | None:
    value = normalize(raw)
    if value is not None and len(value) > MAX_CITY:
        raise InvalidInput(f"A city name has at most {MAX_CITY} characters.",
                           code="invalid_city", field="city")
    return value


def checked_limit(value: int, maximum: int) -> int:
    if not 1 <= value <= maximum:
        raise errors.InvalidLimit(f"The limit is between 1 and {maximum}.", field="limit")
    return value


def _split(values: Sequence[str]) -> list[str]:
    """`a,b` and repeated parameters alike."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _kinds(raw: Sequence[str], priced: bool) -> tuple[str, ...]:
    kinds = [k.casefold() for k in _split(raw)]
    for kind in kinds:
        if kind not in SEARCH_KINDS:
            raise errors.InvalidKind(f"Kinds are {', '.join(SEARCH_KINDS)}; not {kind!r}.",
                                     field="kinds")
    if not kinds:
        # Only products have a price: a price range asks for products.
        return ("product",) if priced else SEARCH_KINDS
    return tuple(k for k in SEARCH_KINDS if k in kinds)


def _tags(raw: Sequence[str]) -> tuple[str, ...]:
    tags: list[str] = []
    for tag in _split(raw):
        value = normalize(tag)
        if value is None or len(value) > MAX_TAG:
            raise errors.InvalidTag(f"A tag has 1 to {MAX_TAG} characters.", field="tags")
        if value.casefold() not in tags:
            tags.append(value.casefold())
    if len(tags) > MAX_TAGS:
        raise errors.InvalidTag(f"At most {MAX_TAGS} tags.", field="tags")
    return tuple(tags)


def check_search(params: SearchParams, at: dt.datetime) -> tuple[SearchQuery, tuple[str, ...]]:
    """The query each domain is asked, and the kinds to ask; bad input raises a 422."""
    text_ = checked_text(params.q, "q", MAX_QUERY)
    for name in ("min_price", "max_price"):
        value = getattr(params, name)
        if value is not None and not 0 <= value <= MAX_PRICE:
            raise errors.InvalidPriceRange(f"A price is between 0 and {MAX_PRICE}.", field=name)
    if (params.min_price is not None and params.max_price is not None
            and params.min_price > params.max_price):
        raise errors.InvalidPriceRange("min_price is above max_price.", field="max_price")
    rating = params.min_rating
    if rating is not None and not (math.isfinite(rating) and 0 <= rating <= 5):
        raise errors.InvalidRating(field="min_rating")
    query = SearchQuery(
        text=text_, city=checked_city(params.city), category_id=params.category_id,
        tags=_tags(params.tags), min_price=params.min_price, max_price=params.max_price,
        min_rating=rating, open_now=params.open_now, at=at,
        limit=checked_limit(params.limit, MAX_LIMIT))
    filtered = (query.city, query.category_id, query.tags, query.min_price, query.max_price,
                query.min_rating)
    if query.text is None and not any(v not in (None, ()) for v in filtered):
        raise errors.QueryRequired(field="q")
    priced = query.min_price is not None or query.max_price is not None
    return query, _kinds(params.kinds, priced)
