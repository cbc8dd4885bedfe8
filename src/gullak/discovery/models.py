"""Discovery tables: the search query log (ReZ `search_queries`), the results clicked, the
popular searches per city that a periodic job computes from the log, and the dictionary of
searchable words that misspelt queries are corrected against."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base
from gullak.kit.ids import uuid7


class SearchLog(Base):
    """One search or nearby request: what was asked, by whom, and what it answered."""

    __tablename__ = "search_queries"
    __table_args__ = (
        CheckConstraint("endpoint IN ('search', 'nearby')", name="endpoint"),
        CheckConstraint("results_count >= 0", name="results_count"),
        CheckConstraint("first_click_position >= 1", name="first_click_position"),
        Index("ix_search_queries_created_at", "created_at"),
        Index("ix_search_queries_city_created_at", "city", "created_at"),
        Index("ix_search_queries_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    endpoint: Mapped[str] = mapped_column(Text)  # search | nearby
    user_id: Mapped[uuid.UUID | None]
    # Anonymous searchers are told apart by a keyed hash of their address, never the address.
    client_hash: Mapped[str | None] = mapped_column(Text)
    query: Mapped[str | None] = mapped_column(Text)
    normalized_query: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)  # lower-cased
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # What was shown, in order ([{"kind", "id"}]): a click must name one of these.
    results: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    results_count: Mapped[int] = mapped_column(Integer)
    first_click_position: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class SearchClick(Base):
    __tablename__ = "search_clicks"
    __table_args__ = (
        UniqueConstraint("query_id", "kind", "result_id"),
        CheckConstraint("kind IN ('merchant', 'outlet', 'product', 'offer')", name="kind"),
        CheckConstraint("position >= 1", name="position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    query_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("search_queries.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    result_id: Mapped[uuid.UUID]
    position: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class PopularSearch(Base):
    """The most searched queries per city ('' for every city together), rebuilt by a job."""

    __tablename__ = "popular_searches"
    __table_args__ = (Index("ix_popular_searches_city_rank", "city", "rank"),)

    city: Mapped[str] = mapped_column(Text, primary_key=True)
    query: Mapped[str] = mapped_column(Text, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    searches: Mapped[int] = mapped_column(Integer)
    searchers: Mapped[int] = mapped_column(Integer)
    clicks: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[dt.datetime]


class SearchTerm(Base):
    """A word of the searchable catalogue (merchant names, product names, offer titles) and in
    how many of them it appears, rebuilt by a job: the dictionary that typos are corrected
    against. A few thousand words, so a trigram lookup here costs about a millisecond where
    one over every name costs tens."""

    __tablename__ = "search_terms"
    __table_args__ = (
        Index("ix_search_terms_trgm", "term", postgresql_using="gin",
              postgresql_ops={"term": "gin_trgm_ops"}),
    )

    term: Mapped[str] = mapped_column(Text, primary_key=True)
    documents: Mapped[int] = mapped_column(Integer)
