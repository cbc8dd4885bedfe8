"""Discovery: one search over merchants, products and offers, autocomplete, nearby outlets,
the search query log with the results clicked, and popular searches per city.

Discovery owns no catalogue: it asks merchants, catalog and offers through their search
contract (gullak.kit.search) and merges the answers (ranking.py).

Hot reads are cached briefly (cache.py: in this process, and in Redis when configured):
- search results per exact query and filters, 30 s: discovery cannot see the other domains'
  writes, so the short TTL is what invalidates them (a change shows within 30 s); every
  search is still logged with its own query id, cached or not;
- autocomplete suggestions per prefix and city, 60 s, and cleared by `refresh_popular`
  (they include popular searches);
- popular searches per city, until the next `refresh_popular` (every 10 minutes) clears
  them, at most 5 minutes.
Nearby answers are not cached: every point is different.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import service as catalog
from gullak.discovery import errors, spelling
from gullak.discovery.cache import TtlCache
from gullak.discovery.models import PopularSearch, SearchClick, SearchLog
from gullak.discovery.ranking import merge_hits, merge_suggestions, normalize
from gullak.discovery.schemas import (
    AutocompleteOut,
    ClickIn,
    ClickOut,
    HitOut,
    LoggedClickOut,
    LoggedSearchOut,
    NearbyHitOut,
    NearbyOut,
    NearbyParams,
    PopularOut,
    PopularQueryOut,
    SearchLogPage,
    SearchOut,
    SearchParams,
    SuggestionOut,
)
from gullak.kit import clock
from gullak.kit.errors import InvalidInput, NotFound
from gullak.kit.ids import uuid7
from gullak.kit.search import SearchHit, SearchQuery, Suggestion
from gullak.kit.security import Subject
from gullak.merchants import service as merchants
from gullak.offers import service as offers
from gullak.settings import Settings

SEARCH_KINDS = ("merchant", "product", "offer")
MAX_QUERY = 200
MAX_PREFIX = 100
MAX_CITY = 100
MAX_TAGS = 20
MAX_TAG = 50
MAX_LIMIT = 50
MAX_SUGGESTIONS = 20
# One letter matches a good part of every catalogue: it is answered from popular searches
# alone, names are looked up from the second letter on.
NAMES_FROM = 2
MAX_NEARBY = 100
MAX_RADIUS_M = 50_000.0
MAX_PRICE = 10**15  # minor units; keeps every bound inside a bigint
POPULAR_WINDOW = dt.timedelta(days=7)
POPULAR_PER_CITY = 20
# A query is popular once this many different people searched it: one person repeating a
# query (or a script) cannot put it on everyone's screen.
MIN_SEARCHERS = 2
LOG_RETENTION = dt.timedelta(days=180)  # ReZ keeps search_queries for 180 days
PRUNE_BATCH = 5000

results_cache = TtlCache("search", 30)
suggestions_cache = TtlCache("suggest", 60)
popular_cache = TtlCache("popular", 300)


@dataclass(frozen=True)
class Searcher:
    """Who searched: a signed-in user, or an anonymous client told apart by a keyed hash."""

    user_id: uuid.UUID | None = None
    client_hash: str | None = None


def searcher(settings: Settings, subject: Subject | None, ip: str | None) -> Searcher:
    if subject is not None and subject.kind == "user":
        return Searcher(user_id=subject.id)
    if not ip:
        return Searcher()
    key = settings.secret("secret_key").encode()
    return Searcher(client_hash=hmac.new(key, ip.encode(), hashlib.sha256).hexdigest()[:32])


async def clear_caches() -> None:
    for cache in (results_cache, suggestions_cache, popular_cache):
        await cache.clear()


# -- checking what was asked ------------------------------------------------------------------

def _text(raw: str | None, field: str, maximum: int) -> str | None:
    value = normalize(raw)
    if value is not None and len(value) > maximum:
        raise errors.QueryTooLong(f"At most {maximum} characters.", field=field)
    return value


def _city(raw: str | None) -> str | None:
    value = normalize(raw)
    if value is not None and len(value) > MAX_CITY:
        raise InvalidInput(f"A city name has at most {MAX_CITY} characters.",
                           code="invalid_city", field="city")
    return value


def _limit(value: int, maximum: int) -> int:
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
    text_ = _text(params.q, "q", MAX_QUERY)
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
        text=text_, city=_city(params.city), category_id=params.category_id,
        tags=_tags(params.tags), min_price=params.min_price, max_price=params.max_price,
        min_rating=rating, open_now=params.open_now, at=at,
        limit=_limit(params.limit, MAX_LIMIT))
    filtered = (query.city, query.category_id, query.tags, query.min_price, query.max_price,
                query.min_rating)
    if query.text is None and not any(v not in (None, ()) for v in filtered):
        raise errors.QueryRequired(field="q")
    priced = query.min_price is not None or query.max_price is not None
    return query, _kinds(params.kinds, priced)


# -- search -----------------------------------------------------------------------------------

SOURCES: dict[str, Any] = {"merchant": merchants, "product": catalog, "offer": offers}
# Settings for this transaction only, set before the domains' queries run:
# - random_page_cost 1.1 instead of 4 (a spinning disk's): with the default, the planner
#   prefers scanning a whole table, computing trigram similarity for every row, over the
#   trigram and full-text indexes (bench/README.md has the plans and the figures);
# - pg_trgm's word similarity threshold: its default (0.6) misses a letter dropped from a word
#   of seven ("biryni" is 0.57 of "biryani"); 0.5 forgives one slip in any word of five
#   letters or more, but lets many more rows through the trigram indexes. So a search asks at
#   0.6 first, and again at 0.5 only when that found almost nothing (FORGIVE_BELOW).
_TUNE = text("SELECT set_config('random_page_cost', '1.1', true),"
             " set_config('pg_trgm.word_similarity_threshold', :threshold, true)")
STRICT, FORGIVING = "0.6", "0.5"
FORGIVE_BELOW = 3
# The log is analytics: a crash may lose its last few searches, so no search waits for the
# disk to flush them. A search's transaction writes nothing else.
_LOG_SETTINGS = text("SELECT set_config('synchronous_commit', 'off', true)")


async def tune(session: AsyncSession, *, forgiving: bool = False) -> None:
    """Set this transaction up for the domains' search queries (see above)."""
    await session.execute(_TUNE, {"threshold": FORGIVING if forgiving else STRICT})


async def search(session: AsyncSession, params: SearchParams, who: Searcher) -> SearchOut:
    """Search every kind asked, merge, and log the search (its id comes back to the client)."""
    query, kinds = check_search(params, clock.now())
    if query.category_id is not None:
        try:
            await catalog.get_category(session, query.category_id)
        except NotFound as exc:
            raise errors.UnknownCategory(field="category_id") from exc
    hits, corrected = await find(session, query, kinds)
    filters = {"kinds": list(kinds), "city": query.city, "category_id": query.category_id,
               "tags": list(query.tags) or None, "min_price": query.min_price,
               "max_price": query.max_price, "min_rating": query.min_rating,
               "open_now": query.open_now or None, "limit": query.limit}
    query_id = await _log(session, "search", who, query.text, query.city, filters,
                          [(h.kind, h.id) for h in hits])
    return SearchOut(query_id=query_id, query=query.text, corrected_query=corrected,
                     count=len(hits), hits=hits)


async def find(session: AsyncSession, query: SearchQuery,
               kinds: Sequence[str] = SEARCH_KINDS) -> tuple[list[HitOut], str | None]:
    """The merged, ranked hits of `query`, and the corrected query when misspelt words were
    replaced (cached for a short while; not logged).

    The words are asked first as they are (full text only). When that finds almost nothing,
    misspelt words are corrected against the dictionary and asked again; when that still
    finds almost nothing, each domain is asked with trigram matching, the slow way."""
    key = results_cache.key(query.text, list(kinds), query.city, query.category_id,
                            list(query.tags), query.min_price, query.max_price,
                            query.min_rating, query.open_now, query.limit)
    cached = await results_cache.get(key)
    if cached is not None:
        return [HitOut.model_validate(h) for h in cached["hits"]], cached["corrected"]
    enough = min(FORGIVE_BELOW, query.limit)
    answers = await _ask(session, query, kinds, forgiving=False)
    corrected = None
    if query.text and _count(answers) < enough:
        answers, corrected = await _rescue(session, query, kinds, answers, enough)
    ranked = merge_hits(corrected or query.text, answers, query.limit)
    hits = [HitOut(kind=hit.kind, id=hit.id, title=hit.title, subtitle=hit.subtitle,
                   merchant_id=hit.merchant_id, score=round(score, 4), position=i + 1,
                   data=dict(hit.data))
            for i, (score, hit) in enumerate(ranked)]
    await results_cache.put(key, {"hits": [h.model_dump(mode="json") for h in hits],
                                  "corrected": corrected})
    return hits, corrected


async def _rescue(session: AsyncSession, query: SearchQuery, kinds: Sequence[str],
                  answers: list[list[SearchHit]], enough: int,
                  ) -> tuple[list[list[SearchHit]], str | None]:
    """All the words found almost nothing. Try, cheapest first, until one finds enough: the
    misspelt words corrected; any of the (corrected) words rather than all; and last,
    trigram similarity in each domain."""
    text_ = query.text or ""
    corrected = await spelling.correct(session, text_)
    tries: list[tuple[SearchQuery, bool]] = []
    if corrected is not None:
        tries.append((replace(query, text=corrected), False))
    if len(text_.split()) > 1:
        tries.append((replace(query, text=corrected or text_, any_word=True), False))
    tries.append((query, True))
    best: tuple[list[list[SearchHit]], str | None] = (answers, None)
    for asked, forgiving in tries:
        found = await _ask(session, asked, kinds, forgiving=forgiving)
        if _count(found) > _count(best[0]):
            best = (found, asked.text if asked.text != text_ else None)
        if _count(best[0]) >= enough:
            break
    return best


def _count(answers: Sequence[Sequence[object]]) -> int:
    return sum(len(a) for a in answers)


async def _ask(session: AsyncSession, query: SearchQuery, kinds: Sequence[str], *,
               forgiving: bool) -> list[list[SearchHit]]:
    """Each kind's hits; `forgiving` adds trigram matching at the lower threshold."""
    await tune(session, forgiving=forgiving)
    query = replace(query, fuzzy=forgiving)
    return [list(await SOURCES[kind].search(session, query)) for kind in kinds]


async def _log(session: AsyncSession, endpoint: str, who: Searcher, query: str | None,
               city: str | None, filters: dict[str, Any],
               shown: Sequence[tuple[str, uuid.UUID]]) -> uuid.UUID:
    query_id = uuid7()
    await session.execute(_LOG_SETTINGS)
    await session.execute(insert(SearchLog).values(
        id=query_id, endpoint=endpoint, user_id=who.user_id, client_hash=who.client_hash,
        query=query, normalized_query=query.casefold() if query else None,
        city=city.casefold() if city else None,
        filters={k: (str(v) if isinstance(v, uuid.UUID) else v)
                 for k, v in filters.items() if v is not None},
        results=[{"kind": kind, "id": str(id_)} for kind, id_ in shown],
        results_count=len(shown), created_at=clock.now()))
    return query_id


# -- autocomplete -----------------------------------------------------------------------------

async def autocomplete(session: AsyncSession, prefix: str | None, city: str | None,
                       limit: int = 8) -> AutocompleteOut:
    """Names of merchants, products and offers, and popular searches, for what was typed so
    far (prefixes, and typos through trigram similarity in each domain)."""
    typed = _text(prefix, "q", MAX_PREFIX)
    if typed is None:
        raise errors.QueryRequired("Type at least one character.", field="q")
    city = _city(city)
    limit = _limit(limit, MAX_SUGGESTIONS)
    key = suggestions_cache.key(typed, city, limit)
    cached = await suggestions_cache.get(key)
    if cached is not None:
        return AutocompleteOut.model_validate(cached)
    answers: list[list[Suggestion]] = []
    if len(typed) >= NAMES_FROM:
        answers = await _names(session, typed, city, limit, forgiving=False)
        if _count(answers) < min(FORGIVE_BELOW, limit):
            # A typo: the corrected words if the dictionary knows them, else trigrams.
            corrected = await spelling.correct(session, typed)
            answers = await (_names(session, corrected, city, limit, forgiving=False)
                             if corrected else
                             _names(session, typed, city, limit, forgiving=True))
    popular = await _popular_with_prefix(session, typed, city, limit)
    suggestions = []
    for score, item in merge_suggestions(typed, answers, popular, limit):
        if isinstance(item, Suggestion):
            suggestions.append(SuggestionOut(kind=item.kind, id=item.id, text=item.text,
                                             score=round(score, 4)))
        else:
            suggestions.append(SuggestionOut(kind="query", id=None, text=item,
                                             score=round(score, 4)))
    out = AutocompleteOut(prefix=typed, suggestions=suggestions)
    await suggestions_cache.put(key, out.model_dump(mode="json"))
    return out


async def _names(session: AsyncSession, typed: str, city: str | None, limit: int, *,
                 forgiving: bool) -> list[list[Suggestion]]:
    await tune(session, forgiving=forgiving)
    return [list(await SOURCES[kind].autocomplete(session, typed, limit, city))
            for kind in SEARCH_KINDS]


async def _popular_with_prefix(session: AsyncSession, typed: str, city: str | None,
                               limit: int) -> list[tuple[str, int]]:
    cities = ["", city.casefold()] if city else [""]
    rows = await session.execute(
        select(PopularSearch.query, func.max(PopularSearch.searches))
        .where(PopularSearch.city.in_(cities),
               func.starts_with(PopularSearch.query, typed.casefold()))
        .group_by(PopularSearch.query)
        .order_by(func.max(PopularSearch.searches).desc(), PopularSearch.query)
        .limit(limit))
    return [(q, int(n)) for q, n in rows]


# -- nearby -----------------------------------------------------------------------------------

def _check_point(params: NearbyParams) -> None:
    lat, lng = params.lat, params.lng
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise errors.InvalidCoordinates(field="lat")
    if not (math.isfinite(lng) and -180 <= lng <= 180):
        raise errors.InvalidCoordinates(field="lng")
    radius = params.radius_m
    if not (math.isfinite(radius) and 0 < radius <= MAX_RADIUS_M):
        raise errors.InvalidRadius(f"The radius is above 0 and at most {MAX_RADIUS_M:,.0f} m.",
                                   field="radius_m")


async def nearby(session: AsyncSession, params: NearbyParams, who: Searcher) -> NearbyOut:
    """Outlets of live merchants within the radius, nearest first; logged like a search."""
    _check_point(params)
    found = await nearby_hits(session, params)
    filters = {"lat": round(params.lat, 3), "lng": round(params.lng, 3),  # about 100 m: enough
               "radius_m": params.radius_m, "open_now": params.open_now or None,
               "limit": params.limit}
    query_id = await _log(session, "nearby", who, normalize(params.q), None, filters,
                          [(h.kind, h.id) for h in found])
    return NearbyOut(query_id=query_id, count=len(found), hits=found)


async def nearby_hits(session: AsyncSession, params: NearbyParams) -> list[NearbyHitOut]:
    """The answer of `nearby` without the log."""
    _check_point(params)
    query = SearchQuery(text=_text(params.q, "q", MAX_QUERY), open_now=params.open_now,
                        at=clock.now(), limit=_limit(params.limit, MAX_NEARBY))
    await tune(session)
    found = await merchants.nearby(session, params.lat, params.lng, params.radius_m,
                                   query.limit, query)
    # The contract promises both; holding the line here keeps a client's assumptions true.
    inside = sorted((h for h in found if h.distance_m <= params.radius_m),
                    key=lambda h: h.distance_m)[:query.limit]
    return [NearbyHitOut(kind=h.kind, id=h.id, merchant_id=h.merchant_id, title=h.title,
                         distance_m=round(h.distance_m, 1), latitude=h.latitude,
                         longitude=h.longitude, position=i + 1)
            for i, h in enumerate(inside)]


# -- clicks -----------------------------------------------------------------------------------

async def record_click(session: AsyncSession, query_id: uuid.UUID, click: ClickIn,
                       who: Searcher) -> ClickOut:
    """Remember which result of a search was clicked (once per result: a second click on the
    same result answers the first)."""
    logged = await session.get(SearchLog, query_id)
    # A signed-in user's searches are theirs alone; an anonymous search's id is its key.
    if logged is None or (logged.user_id is not None and logged.user_id != who.user_id):
        raise errors.SearchNotFound()
    shown = logged.results
    expected = {"kind": click.kind, "id": str(click.id)}
    if click.position > len(shown) or shown[click.position - 1] != expected:
        raise errors.ClickNotInResults(field="position")
    row = (await session.execute(
        pg_insert(SearchClick)
        .values(id=uuid7(), query_id=query_id, kind=click.kind, result_id=click.id,
                position=click.position, user_id=who.user_id, created_at=clock.now())
        .on_conflict_do_nothing(index_elements=["query_id", "kind", "result_id"])
        .returning(SearchClick.created_at))).scalar_one_or_none()
    if row is None:
        row = await session.scalar(select(SearchClick.created_at).where(
            SearchClick.query_id == query_id, SearchClick.kind == click.kind,
            SearchClick.result_id == click.id))
    else:
        await session.execute(update(SearchLog).where(
            SearchLog.id == query_id, SearchLog.first_click_position.is_(None),
        ).values(first_click_position=click.position)
            .execution_options(synchronize_session=False))
    assert row is not None
    return ClickOut(query_id=query_id, kind=click.kind, id=click.id, position=click.position,
                    created_at=row)


# -- popular searches -------------------------------------------------------------------------

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


async def refresh_terms(session: AsyncSession) -> int:
    """Rebuild the spelling dictionary from every searchable domain's names."""
    return await spelling.refresh_terms(
        session, [SOURCES[kind].SEARCH_TERMS for kind in SEARCH_KINDS])


async def popular(session: AsyncSession, city: str | None, limit: int = 10) -> PopularOut:
    """The popular searches of `city` (of every city without one, or while the city has none)."""
    wanted = _city(city)
    limit = _limit(limit, MAX_LIMIT)
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


# -- the log for the back office, and its retention ------------------------------------------

async def search_log(session: AsyncSession, *, city: str | None = None,
                     user_id: uuid.UUID | None = None, zero_results: bool | None = None,
                     cursor: str | None = None, limit: int = 50) -> SearchLogPage:
    """Logged searches, newest first (zero_results=True: what people looked for in vain)."""
    limit = _limit(limit, 200)
    query = select(SearchLog).order_by(SearchLog.id.desc()).limit(limit)
    if city is not None:
        query = query.where(SearchLog.city == city.strip().casefold())
    if user_id is not None:
        query = query.where(SearchLog.user_id == user_id)
    if zero_results is not None:
        query = query.where((SearchLog.results_count == 0) if zero_results
                            else (SearchLog.results_count > 0))
    if cursor is not None:
        try:
            query = query.where(SearchLog.id < uuid.UUID(cursor))
        except ValueError as exc:
            raise InvalidInput("Malformed cursor.", code="invalid_cursor", field="cursor") from exc
    rows = list(await session.scalars(query))
    clicks: dict[uuid.UUID, list[LoggedClickOut]] = {}
    if rows:
        for click in await session.scalars(
                select(SearchClick).where(SearchClick.query_id.in_([r.id for r in rows]))
                .order_by(SearchClick.created_at, SearchClick.id)):
            clicks.setdefault(click.query_id, []).append(LoggedClickOut.model_validate(click))
    entries = [LoggedSearchOut(
        id=r.id, endpoint=r.endpoint, user_id=r.user_id, query=r.query, city=r.city,
        filters=r.filters, results_count=r.results_count,
        first_click_position=r.first_click_position, created_at=r.created_at,
        clicks=clicks.get(r.id, [])) for r in rows]
    return SearchLogPage(entries=entries,
                         next_cursor=str(rows[-1].id) if len(rows) == limit else None)


async def prune_log(session: AsyncSession, *, older_than: dt.timedelta = LOG_RETENTION,
                    limit: int = PRUNE_BATCH) -> int:
    """Delete up to `limit` logged searches older than `older_than` (their clicks go with
    them); returns how many. Batches keep each transaction short."""
    oldest = (select(SearchLog.id).where(SearchLog.created_at < clock.now() - older_than)
              .limit(limit).scalar_subquery())
    result = await session.execute(delete(SearchLog).where(SearchLog.id.in_(oldest))
                                   .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
