"""Discovery request and response shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field

from gullak.kit.schemas import Coordinate, In, MultilineText, Out, Real, Text

ResultKind = Literal["merchant", "outlet", "product", "offer"]


class SearchParams(In):
    """A search as the client asked for it; the service checks it (bad input -> 422)."""

    # What was typed or pasted: tabs and line breaks are only spaces to a search.
    q: MultilineText | None = None
    kinds: list[Text] = Field(default_factory=list)
    city: Text | None = None
    category_id: uuid.UUID | None = None
    tags: list[Text] = Field(default_factory=list)
    min_price: int | None = None
    max_price: int | None = None
    min_rating: Real | None = None
    open_now: bool = False
    limit: int = 20


class NearbyParams(In):
    lat: Coordinate
    lng: Coordinate
    radius_m: Real = 5000
    q: MultilineText | None = None
    open_now: bool = False
    limit: int = 20


class HitOut(Out):
    kind: ResultKind
    id: uuid.UUID
    title: str
    subtitle: str | None = None
    merchant_id: uuid.UUID | None = None
    score: float
    position: int
    data: dict[str, Any] = Field(default_factory=dict)


class SearchOut(Out):
    query_id: uuid.UUID = Field(description="Send it back with a click on one of the hits.")
    query: str | None
    corrected_query: str | None = Field(
        default=None, description="The query with misspelt words corrected, when the hits are "
                                  "for it rather than for the query as typed.")
    count: int
    hits: list[HitOut]


class SuggestionOut(Out):
    kind: Literal["merchant", "outlet", "product", "offer", "query"]
    id: uuid.UUID | None = Field(description="None for a popular search (kind 'query').")
    text: str
    score: float


class AutocompleteOut(Out):
    prefix: str
    suggestions: list[SuggestionOut]


class NearbyHitOut(Out):
    kind: ResultKind
    id: uuid.UUID
    merchant_id: uuid.UUID
    title: str
    distance_m: float
    latitude: float
    longitude: float
    position: int


class NearbyOut(Out):
    query_id: uuid.UUID
    count: int
    hits: list[NearbyHitOut]


class ClickIn(In):
    kind: ResultKind
    id: uuid.UUID
    position: int = Field(ge=1, le=1000, description="1 for the first hit shown.")


class ClickOut(Out):
    query_id: uuid.UUID
    kind: ResultKind
    id: uuid.UUID
    position: int
    created_at: dt.datetime


class PopularQueryOut(Out):
    query: str
    searches: int
    searchers: int
    clicks: int


class PopularOut(Out):
    city: str | None = Field(description="None: every city together (also the fallback when "
                                         "the city asked for has too few searches yet).")
    computed_at: dt.datetime | None
    queries: list[PopularQueryOut]


class LoggedClickOut(Out):
    kind: ResultKind
    result_id: uuid.UUID
    position: int
    created_at: dt.datetime


class LoggedSearchOut(Out):
    id: uuid.UUID
    endpoint: str
    user_id: uuid.UUID | None
    query: str | None
    city: str | None
    filters: dict[str, Any]
    results_count: int
    first_click_position: int | None
    created_at: dt.datetime
    clicks: list[LoggedClickOut]


class SearchLogPage(Out):
    entries: list[LoggedSearchOut]
    next_cursor: str | None
