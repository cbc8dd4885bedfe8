"""Discovery commands and queries, the domain's public face: one search over merchants,
products and offers here; the checks of what was asked, autocomplete, nearby outlets, the search
query log with the results clicked, and popular searches per city in their own modules, all
re-exported here.

Discovery owns no catalogue: it asks merchants, catalog and offers through their search
contract (gullak.kit.search) and merges the answers (ranking.py). Hot reads are cached
briefly (common.py says for how long and what clears them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import service as catalog
from gullak.discovery import errors, spelling
from gullak.discovery.checks import (
    MAX_CITY,
    MAX_LIMIT,
    MAX_PREFIX,
    MAX_PRICE,
    MAX_QUERY,
    MAX_TAG,
    MAX_TAGS,
    check_search,
)
from gullak.discovery.common import (
    FORGIVE_BELOW,
    FORGIVING,
    SEARCH_KINDS,
    SOURCES,
    STRICT,
    Searcher,
    clear_caches,
    count,
    popular_cache,
    results_cache,
    searcher,
    suggestions_cache,
    tune,
)
from gullak.discovery.log import (
    LOG_RETENTION,
    PRUNE_BATCH,
    log_search,
    prune_log,
    record_click,
    search_log,
)
from gullak.discovery.nearby import MAX_NEARBY, MAX_RADIUS_M, nearby, nearby_hits
from gullak.discovery.popular import (
    MIN_SEARCHERS,
    POPULAR_PER_CITY,
    POPULAR_WINDOW,
    popular,
    refresh_popular,
)
from gullak.discovery.ranking import merge_hits
from gullak.discovery.schemas import HitOut, SearchOut, SearchParams
from gullak.discovery.suggestions import MAX_SUGGESTIONS, NAMES_FROM, autocomplete
from gullak.kit import clock
from gullak.kit.errors import NotFound
from gullak.kit.search import SearchHit, SearchQuery


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
    query_id = await log_search(session, "search", who, query.text, query.city, filters,
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
    if query.text and count(answers) < enough:
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
        if count(found) > count(best[0]):
            best = (found, asked.text if asked.text != text_ else None)
        if count(best[0]) >= enough:
            break
    return best


async def _ask(session: AsyncSession, query: SearchQuery, kinds: Sequence[str], *,
               forgiving: bool) -> list[list[SearchHit]]:
    """Each kind's hits; `forgiving` adds trigram matching at the lower threshold."""
    await tune(session, forgiving=forgiving)
    query = replace(query, fuzzy=forgiving)
    return [list(await SOURCES[kind].search(session, query)) for kind in kinds]


async def refresh_terms(session: AsyncSession) -> int:
    """Rebuild the spelling dictionary from every searchable domain's names."""
    return await spelling.refresh_terms(
        session, [SOURCES[kind].SEARCH_TERMS for kind in SEARCH_KINDS])


__all__ = [
    "FORGIVE_BELOW", "FORGIVING", "LOG_RETENTION", "MAX_CITY", "MAX_LIMIT", "MAX_NEARBY",
    "MAX_PREFIX", "MAX_PRICE", "MAX_QUERY", "MAX_RADIUS_M", "MAX_SUGGESTIONS", "MAX_TAG",
    "MAX_TAGS", "MIN_SEARCHERS", "NAMES_FROM", "POPULAR_PER_CITY", "POPULAR_WINDOW",
    "PRUNE_BATCH", "SEARCH_KINDS", "SOURCES", "STRICT", "Searcher", "autocomplete",
    "check_search", "clear_caches", "find", "nearby", "nearby_hits", "popular", "popular_cache",
    "prune_log", "record_click", "refresh_popular", "refresh_terms", "results_cache", "search",
    "search_log", "searcher", "suggestions_cache", "tune",
]
