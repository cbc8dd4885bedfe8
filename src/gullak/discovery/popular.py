"""Popular searches per city, rebuilt from the log and read through a cache; those that start
with what was typed feed autocomplete."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.discovery.checks import MAX_LIMIT, checked_city, checked_limit
from gullak.discovery.common import popular_cache, suggestions_cache
from gullak.discovery.models import PopularSearch
from gullak.discovery.schemas import PopularOut, PopularQueryOut
from gullak.kit import clock

POPULAR_WINDOW = dt.timedelta(days=7)
POPULAR_PER_CITY = 20
# A query is popular once this many different people searched it: one person repeating a
# query (or a script) cannot put it on everyone's screen.
MIN_SEARCHERS = 2

_REFRESH = text("""
WITH recent AS (
    SELECT coalesce(city, '') AS city, normalized_query AS query,
           coalesce(user_id::text, client_hash, id::text) AS searcher,
           first_click_position IS NOT NULL AS clicked
    FROM search_queries
    WHERE endpoint = 'search' AND normalized_query IS NOT NULL AND results_count > 0
      AND created_at > :since AND created_at <= :now
), grouped AS (
    SELECT city, query, count(*) AS searches, count(DISTINCT searcher) AS searchers,
           count(*) FILTER (WHERE clicked) AS clicks
    FROM recent WHERE city <> '' GROUP BY city, query
    UNION ALL
    SELECT '', query, count(*), count(DISTINCT searcher), count(*) FILTER (WHERE clicked)
    FROM recent GROUP BY query
), ranked AS (
    SELECT *, row_number() OVER (PARTITION BY city
                                 ORDER BY searchers DESC, searches DESC, clicks DESC, query) AS rank
    FROM grouped WHERE searchers >= :min_searchers
)
INSERT INTO popular_searches (city, query, rank, searches, searchers, clicks, computed_at)
SELECT city, query, rank, searches, searchers, clicks, :now FROM ranked WHERE rank <= :per_city
""")


async def refresh_popular(session: AsyncSession, *, window: dt.timedelta = POPULAR_WINDOW,
                          per_city: int = POPULAR_PER_CITY) -> int:
    """Rebuild popular searches per city from the last `window` of the log; returns the rows.

    Only searches that found something count, ranked by how many different people searched."""
    now = clock.now()
    await session.execute(delete(PopularSearch).execution_options(synchronize_session=False))
    result = await session.execute(_REFRESH, {"since": now - window, "now": now,
                                              "min_searchers": MIN_SEARCHERS,
                                              "per_city": per_city})
    await popular_cache.clear()
    await suggestions_cache.clear()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def popular(session: AsyncSession, city: str | None, limit: int = 10) -> PopularOut:
    """The popular searches of `city` (of every city without one, or while the city has none)."""
    wanted = checked_city(city)
    limit = checked_limit(limit, MAX_LIMIT)
    key = popular_cache.key(wanted.casefold() if wanted else "", limit)
    cached = await popular_cache.get(key)
    if cached is not None:
        return PopularOut.model_validate(cached)
    out = None
    if wanted:
        out = await _popular_of(session, wanted.casefold(), limit)
    if out is None or not out.queries:
        out = await _popular_of(session, "", limit)
    await popular_cache.put(key, out.model_dump(mode="json"))
    return out


async def _popular_of(session: AsyncSession, city: str, limit: int) -> PopularOut:
    rows = list(await session.scalars(
        select(PopularSearch).where(PopularSearch.city == city)
        .order_by(PopularSearch.rank).limit(limit)))
    return PopularOut(city=city or None,
                      computed_at=rows[0].computed_at if rows else None,
                      queries=[PopularQueryOut.model_validate(r) for r in rows])


async def popular_with_prefix(session: AsyncSession, typed: str, city: str | None,
                              limit: int) -> list[tuple[str, int]]:
    """Popular searches, of the city and of everywhere, that start with what was typed, with
    how many searched each."""
    cities = ["", city.casefold()] if city else [""]
    rows = await session.execute(
        select(PopularSearch.query, func.max(PopularSearch.searches))
        .where(PopularSearch.city.in_(cities),
               func.starts_with(PopularSearch.query, typed.casefold()))
        .group_by(PopularSearch.query)
        .order_by(func.max(PopularSearch.searches).desc(), PopularSearch.query)
        .limit(limit))
    return [(q, int(n)) for q, n in rows]
