"""The hot reads: active offers by city and category (cached), and the search contract of
gullak.kit.search (full text with pg_trgm for typos and prefixes)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Text,
    and_,
    any_,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import service as catalog
from gullak.kit import clock
from gullak.kit.search import SIMPLE, SearchHit, SearchQuery, Suggestion
from gullak.kit.sql import inline
from gullak.merchants import service as merchants
from gullak.offers.cache import ActiveOffersCache
from gullak.offers.lookup import offer_out
from gullak.offers.models import Offer
from gullak.offers.schemas import OfferOut
from gullak.system import service as system

CACHE = ActiveOffersCache()


def _live_at(at: dt.datetime) -> list[Any]:
    """Active, in its window, and of a merchant the public sees (a suspended merchant's
    offers drop out of every listing at once, without touching the offers)."""
    return [Offer.status == "active", Offer.valid_from <= at, Offer.valid_until > at,
            merchants.listed(Offer.merchant_id)]


def _placement(at: dt.datetime, offer: Any = Offer) -> list[Any]:
    return [func.coalesce(offer.boosted_until > at, False).desc(), offer.is_featured.desc(),
            offer.display_priority.desc(), offer.id.desc()]


def _in_city(city: str) -> Any:
    # No cities: everywhere. Both tests can use the GIN index on cities.
    return or_(Offer.cities == literal([], ARRAY(Text)),
               Offer.cities.contains([city.strip().lower()]))


async def active_offers(session: AsyncSession, city: str | None,
                        category_id: uuid.UUID | None, at: dt.datetime | None = None, *,
                        limit: int = 100) -> list[OfferOut]:
    """Active offers valid at `at` (to the minute), boosted, featured and prioritised first.
    Cached (see cache.py); any change of an offer invalidates the cache."""
    minute = (at or clock.now()).astimezone(dt.UTC).replace(second=0, microsecond=0)
    key = f"{(city or '').strip().lower()}|{category_id or ''}|{minute.isoformat()}|{limit}"
    redis = system.redis_client()
    # A session with uncommitted offer changes reads its own writes and shares none of them.
    shared = not session.sync_session.info.get("offers_cache_hook")
    cached = await CACHE.get(redis, key) if shared else None
    if cached is not None:
        return [OfferOut.model_validate(o) for o in cached]
    query = select(Offer).where(*_live_at(minute)).order_by(*_placement(minute)).limit(limit)
    if city:
        query = query.where(_in_city(city))
    if category_id is not None:  # the category and its subcategories
        query = query.where(Offer.category_id == any_(catalog.subtree(category_id)))
    out = [offer_out(o) for o in await session.scalars(query)]
    if shared:
        await CACHE.put(redis, key, [o.model_dump(mode="json") for o in out])
    return out


def headline(offer: Any) -> str:
    """The benefit in a few words: "20% off up to 100.00", "Buy 2 get 1"."""
    def money(minor: int) -> str:
        return f"{minor // 100}.{minor % 100:02d}"

    if offer.type == "bogo":
        return f"Buy {offer.bogo_buy} get {offer.bogo_get}"
    if offer.type == "freebie":
        return f"Free {offer.freebie_item}"
    parts = []
    for kind, value, cap, word in (
            (offer.discount_kind, offer.discount_value, offer.max_discount, "off"),
            (offer.cashback_kind, offer.cashback_value, offer.max_cashback, "cashback")):
        if kind == "percent" and value:
            text_ = f"{value / 100:g}% {word}"
            parts.append(text_ + (f" up to {money(cap)}" if cap else ""))
        elif kind == "fixed" and value:
            parts.append(f"{money(value)} {word}")
    return " + ".join(parts) or offer.title


def _hit(offer: Any, score: float) -> SearchHit:
    """`offer`: an Offer or a row of HIT_COLUMNS."""
    return SearchHit(
        kind="offer", id=offer.id, title=offer.title, score=float(score),
        merchant_id=offer.merchant_id, subtitle=headline(offer),
        data={"type": offer.type, "coupon_code": offer.coupon_code,
              "category_id": str(offer.category_id) if offer.category_id else None,
              "valid_until": offer.valid_until.isoformat(), "tags": list(offer.tags),
              "cities": list(offer.cities), "is_featured": offer.is_featured,
              "coins_required": offer.coins_required, "coins_earned": offer.coins_earned,
              "image_url": offer.image_url})


def _filtered(query: Any, q: SearchQuery) -> Any:
    if q.city:
        query = query.where(_in_city(q.city))
    if q.category_id is not None:  # the category and its subcategories
        query = query.where(Offer.category_id == any_(catalog.subtree(q.category_id)))
    if q.tags:
        query = query.where(Offer.tags.overlap([t.strip().lower() for t in q.tags]))
    if q.min_rating is not None or q.open_now:
        query = query.where(merchants.listed(
            Offer.merchant_id, min_rating=q.min_rating,
            open_at=(q.at or clock.now()) if q.open_now else None))
    return query


# Matches ranked per query: a word in thousands of offers costs no more than a rare one. A
# broad word ranks the first CANDIDATES matches the index yields, the way a search engine's
# early termination does; narrower queries (more words, a city) rank every match.
CANDIDATES = 500
SUGGESTION_CANDIDATES = 100
# The documents whose words discovery's spelling dictionary learns (one tsvector each).
SEARCH_TERMS = select(func.to_tsvector(SIMPLE, Offer.title)).where(
    Offer.status == "active", Offer.valid_until > func.now(), merchants.listed(Offer.merchant_id))


# What a hit shows and ranks by: plain columns, not entities, as building fifty-column ORM
# objects for every candidate cost more than the query.
HIT_COLUMNS = (Offer.id, Offer.merchant_id, Offer.title, Offer.type, Offer.coupon_code,
               Offer.category_id, Offer.valid_until, Offer.tags, Offer.cities,
               Offer.is_featured, Offer.coins_required, Offer.coins_earned, Offer.image_url,
               Offer.discount_kind, Offer.discount_value, Offer.max_discount,
               Offer.cashback_kind, Offer.cashback_value, Offer.max_cashback, Offer.bogo_buy,
               Offer.bogo_get, Offer.freebie_item, Offer.boosted_until, Offer.display_priority)


async def _best(session: AsyncSession, words_query: Any, typed: str, at: dt.datetime,
                q: SearchQuery, limit: int) -> list[tuple[Any, float]]:
    """The best `limit` live offers matching by words (ranked by ts_rank); when those are too
    few (a typo, most likely), topped up with offers whose title is close by trigram word
    similarity. One index per query: an OR of both makes the planner filter every live offer
    instead. Scoring runs on a bounded candidate set (see CANDIDATES)."""
    by_words = Offer.search_vector.bool_op("@@")(words_query)
    found: list[tuple[Any, float]] = []
    matches: list[ColumnElement[bool]] = [by_words]
    if q.fuzzy:
        matches.append(and_(literal(typed).bool_op("<%")(Offer.title), not_(by_words)))
    for match in matches:
        inner = _filtered(select(*HIT_COLUMNS, Offer.search_vector)
                          .where(*_live_at(at), match), q).limit(CANDIDATES).subquery()
        if match is by_words:
            score = func.ts_rank(inner.c.search_vector, words_query)
        else:  # the words did not match: how close the title comes is all there is
            score = func.word_similarity(typed, inner.c.title)
        query = (select(*(inner.c[c.key] for c in HIT_COLUMNS), score.label("score"))
                 .order_by(score.desc(), *_placement(at, inner.c))
                 .limit(limit - len(found)))
        found += [(row, row.score) for row in await session.execute(query)]
        if len(found) >= limit:
            break
    return found


async def search(session: AsyncSession, q: SearchQuery) -> list[SearchHit]:
    """Active offers valid at `q.at` matching the words (full text, or close to the title for
    typos), filtered by city, category and tags (any of them)."""
    at = q.at or clock.now()
    words = (q.text or "").strip()[:200]
    if not words:
        query = _filtered(select(*HIT_COLUMNS).where(*_live_at(at)), q)
        rows = [(row, 0.0) for row in await session.execute(
            query.order_by(*_placement(at)).limit(q.limit))]
    else:
        if q.any_word:
            words = " or ".join(re.findall(r"[^\W_]+", words))
        tsq = func.websearch_to_tsquery(literal("english").cast(REGCONFIG), words)
        rows = await _best(session, tsq, words, at, q, q.limit)
    return [_hit(o, s) for o, s in rows]


# Raw SQL: on this hot path, building the ORM statement cost more than running it.
_SUGGEST = """
SELECT c.id, c.title, ts_rank(c.search_vector, q.q) AS score
FROM (SELECT to_tsquery('simple', :typed) || to_tsquery('english', :typed) AS q) q,
LATERAL (
    SELECT o.id, o.title, o.search_vector, o.boosted_until, o.is_featured, o.display_priority
    FROM offers o
    WHERE o.status = 'active' AND o.valid_from <= :at AND o.valid_until > :at
      AND o.search_vector @@ q.q {city} AND {listed}
    LIMIT :cap) c
ORDER BY score DESC, coalesce(c.boosted_until > :at, false) DESC, c.is_featured DESC,
         c.display_priority DESC, c.id DESC
LIMIT :limit
"""
# The merchants' own rule for what the public sees, rendered once.
_LISTED_PARAMS: dict[str, Any] = {}
_LISTED = inline(merchants.listed(literal_column("o.merchant_id")), _LISTED_PARAMS, "merchant")
_SUGGEST_ANYWHERE = text(_SUGGEST.format(city="", listed=_LISTED))
_SUGGEST_IN_CITY = text(_SUGGEST.format(
    city="AND (o.cities = '{}'::text[] OR o.cities @> ARRAY[CAST(:city AS text)])",
    listed=_LISTED))


async def autocomplete(session: AsyncSession, prefix: str, limit: int,
                       city: str | None) -> list[Suggestion]:
    """Titles of active offers with words that begin with the words typed so far. Prefixes
    only: a near miss of a half-typed word is noise, and its trigram scan the slowest query
    here. The prefix counts as typed or as its stem: the english stemmer turns "biry" into
    "biri", which begins no word of "biryani", and "happy" into "happi"."""
    words = re.findall(r"[^\W_]+", prefix.lower())[:8]
    if not words:
        return []
    params: dict[str, Any] = {"typed": " & ".join(f"{w}:*" for w in words), "at": clock.now(),
                              "cap": SUGGESTION_CANDIDATES, "limit": limit, **_LISTED_PARAMS}
    if city:
        params["city"] = city.strip().lower()
    rows = await session.execute(_SUGGEST_IN_CITY if city else _SUGGEST_ANYWHERE, params)
    return [Suggestion(kind="offer", id=r.id, text=r.title, score=float(r.score)) for r in rows]
