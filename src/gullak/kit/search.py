"""What a searchable domain offers discovery: one query shape in, ranked hits out.

Merchants, catalog and offers each search their own tables (PostgreSQL full-text search with
pg_trgm for typos and prefixes) and answer with these shapes; `discovery` merges them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnClause, literal_column

Kind = Literal["merchant", "outlet", "product", "offer"]

# The text search configuration of each domain's SEARCH_TERMS (the words discovery's spelling
# dictionary learns): unstemmed, so corrections are words people type. A SQL literal, not a
# bound value, as the dictionary's job renders those queries into text for ts_stat.
SIMPLE: ColumnClause[Any] = literal_column("'simple'::regconfig")


@dataclass(frozen=True)
class SearchQuery:
    text: str | None = None
    city: str | None = None
    category_id: uuid.UUID | None = None
    tags: tuple[str, ...] = ()
    min_price: int | None = None  # minor units
    max_price: int | None = None
    min_rating: float | None = None
    open_now: bool = False
    at: dt.datetime | None = None  # "now" for open-now and validity windows
    limit: int = 20
    # Also match by trigram similarity (typos) when the words match too few. Discovery first
    # asks without it and corrects misspelt words against its dictionary, which costs a
    # fraction of a trigram scan of every name.
    fuzzy: bool = True
    # Match documents with any of the words rather than all of them (ranked by how well they
    # match): what discovery asks when all the words together found too little.
    any_word: bool = False


@dataclass(frozen=True)
class SearchHit:
    kind: Kind
    id: uuid.UUID
    title: str
    score: float  # higher is better; comparable across kinds only roughly
    merchant_id: uuid.UUID | None = None
    subtitle: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suggestion:
    kind: Kind
    id: uuid.UUID
    text: str
    score: float


@dataclass(frozen=True)
class NearbyHit:
    kind: Kind
    id: uuid.UUID
    merchant_id: uuid.UUID
    title: str
    distance_m: float
    latitude: float
    longitude: float
