"""The search contract of gullak.kit.search for products: full-text search with pg_trgm for
typos, autocomplete by name prefix, and the names the spelling dictionary learns."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog.categories import category_and_descendants
from gullak.catalog.models import Product
from gullak.kit import clock
from gullak.kit.search import SIMPLE, SearchHit, SearchQuery, Suggestion
from gullak.kit.sql import inline
from gullak.merchants import service as merchants

# Ranking is over at most this many matches, so that a word in every tenth product costs no
# more than a rare one; a query that broad is refined by its user, not read to the end.
CANDIDATES = 1000
_COLUMNS = ("p.id, p.name, p.merchant_id, p.price, p.original_price, p.asset_code, p.city,"
            " p.category_id, p.tags")


def _filters(q: SearchQuery, params: dict[str, Any],
             categories: list[uuid.UUID] | None) -> str:
    # Products on sale by live merchants; the rating and the opening hours are the merchant's.
    listed = merchants.listed(literal_column("p.merchant_id"), min_rating=q.min_rating,
                              open_at=(q.at or clock.now()) if q.open_now else None)
    where = ["p.status = 'active'", inline(listed, params, "merchant")]
    if categories is not None:
        where.append("p.category_id = ANY(:categories)")
        params["categories"] = categories
    if q.city:
        # A product without a city (online, delivered) is on offer in every city.
        where.append("(p.city IS NULL OR lower(p.city) = lower(:city))")
        params["city"] = q.city
    if q.tags:
        where.append("p.tags @> CAST(:tags AS text[])")
        params["tags"] = [t.lower() for t in q.tags]
    # A price range is in money: products priced in coins are left out of it.
    if q.min_price is not None:
        where.append("p.asset_code = 'INR' AND p.price >= :min_price")
        params["min_price"] = q.min_price
    if q.max_price is not None:
        where.append("p.asset_code = 'INR' AND p.price <= :max_price")
        params["max_price"] = q.max_price
    return " AND ".join(where)


def _hit(r: Any) -> SearchHit:
    return SearchHit(kind="product", id=r.id, title=r.name, score=float(r.score),
                     merchant_id=r.merchant_id, subtitle=r.city,
                     data={"price": r.price, "original_price": r.original_price,
                           "asset_code": r.asset_code, "category_id": r.category_id,
                           "tags": list(r.tags)})


# The documents whose words discovery's spelling dictionary learns (one tsvector each): the
# names of products on sale by live merchants, as search finds them.
SEARCH_TERMS = select(func.to_tsvector(SIMPLE, Product.name)).where(
    Product.status == "active", merchants.listed(Product.merchant_id))


async def search(session: AsyncSession, q: SearchQuery) -> list[SearchHit]:
    """Active products matching the filters and, with words, the words: stemmed full text
    first, then names within typing distance of the words (pg_trgm) to fill the page. Without
    words, the newest products matching the filters."""
    limit = max(1, min(q.limit, 100))
    params: dict[str, Any] = {"limit": limit}
    categories = (await category_and_descendants(session, q.category_id)
                  if q.category_id is not None else None)
    where = _filters(q, params, categories)
    words = " ".join((q.text or "").lower().split())[:200]
    if not words:
        rows = await session.execute(text(
            f"SELECT {_COLUMNS}, 0.0 AS score FROM products p WHERE {where}"
            " ORDER BY p.id DESC LIMIT :limit"), params)
        return [_hit(r) for r in rows]
    if q.any_word:
        words = " or ".join(re.findall(r"[^\W_]+", words))
    params.update(t=words, cap=CANDIDATES)
    # Full-text matches rank above typo matches: their scores are shifted up by one.
    hits = [_hit(r) for r in await session.execute(text(
        f"SELECT * FROM (SELECT {_COLUMNS},"
        " 1 + ts_rank(p.search, websearch_to_tsquery('english', :t)) AS score"
        f" FROM products p WHERE {where} AND p.search @@ websearch_to_tsquery('english', :t)"
        " LIMIT :cap) c ORDER BY score DESC, id DESC LIMIT :limit"), params)]
    if q.fuzzy and len(hits) < limit and len(words) >= 3:
        params.update(limit=limit - len(hits), seen=[h.id for h in hits])
        # No cap here: under a LIMIT the planner would trade the trigram index for a scan.
        hits += [_hit(r) for r in await session.execute(text(
            f"SELECT {_COLUMNS}, word_similarity(:t, lower(p.name)) AS score"
            f" FROM products p WHERE {where} AND :t <% lower(p.name)"
            " AND p.id <> ALL(CAST(:seen AS uuid[]))"
            " ORDER BY score DESC, p.id DESC LIMIT :limit"), params)]
    return hits


async def autocomplete(session: AsyncSession, prefix: str, limit: int,
                       city: str | None) -> list[Suggestion]:
    """Names of products on sale that start with `prefix` (an ordered index range, however
    many match), then, to fill the list, names with a word that starts with it."""
    words = " ".join(prefix.lower().split())[:100]
    if not re.search(r"[^\W_]", words):
        return []
    limit = max(1, min(limit, 50))
    params: dict[str, Any] = {"p": words, "like": _like(words) + "%", "limit": limit}
    listed = merchants.listed(literal_column("products.merchant_id"))
    where = f"status = 'active' AND {inline(listed, params, 'merchant')}"
    if city:
        where += " AND (city IS NULL OR lower(city) = lower(:city))"
        params["city"] = city
    rows = list(await session.execute(text(
        f"SELECT id, name, 2.0 AS score FROM products WHERE {where}"
        " AND lower(name) LIKE :like ORDER BY lower(name) USING ~<~ LIMIT :limit"), params))
    if len(rows) < limit and len(words) >= 3:
        # Bounded candidates, so that a common word costs no more than a rare one.
        params.update(word=f"% {_like(words)}%", limit=limit - len(rows),
                      seen=[r.id for r in rows])
        rows += list(await session.execute(text(
            "SELECT id, name, 1 + similarity(lower(name), :p) AS score FROM ("
            f" SELECT id, name FROM products WHERE {where} AND lower(name) LIKE :word"
            " AND id <> ALL(CAST(:seen AS uuid[])) LIMIT 200) c"
            " ORDER BY score DESC, id LIMIT :limit"), params))
    return [Suggestion(kind="product", id=r.id, text=r.name, score=float(r.score))
            for r in rows]


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

