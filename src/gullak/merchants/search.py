"""Search over live merchants and their outlets, answering the shared search contract
(gullak.kit.search): full-text search with prefixes, pg_trgm for typos, autocomplete, and
nearby outlets by distance without PostGIS."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, and_, case, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.search import SIMPLE, NearbyHit, SearchHit, SearchQuery, Suggestion
from gullak.merchants import rules
from gullak.merchants.models import Merchant, Outlet

EARTH_RADIUS_M = 6_371_008.8
# A degree of latitude is at least this long, so a box this wide holds the whole circle.
METERS_PER_DEGREE = 110_500.0
MAX_LIMIT = 100
# The documents whose words discovery's spelling dictionary learns (one tsvector each).
SEARCH_TERMS = select(func.to_tsvector(SIMPLE, Merchant.name)).where(Merchant.status == "live")


def _words(text: str | None) -> list[str]:
    return re.findall(r"\w+", (text or "").lower())[:8]


def minute_of_week(at: dt.datetime, timezone: Any) -> ColumnElement[int]:
    """Minutes since Monday 00:00 on the wall clock of `timezone` (a column) at `at`."""
    local = func.timezone(timezone, at)
    return cast((func.extract("isodow", local) - 1) * 1440 + func.extract("hour", local) * 60
                + func.extract("minute", local), Integer)


def open_now_clause(at: dt.datetime) -> ColumnElement[bool]:
    return and_(Outlet.active, Outlet.open_minutes.op("@>")(minute_of_week(at, Outlet.timezone)))


def _text_match(words: list[str], fuzzy: bool,
                any_word: bool) -> tuple[ColumnElement[bool], ColumnElement[float]]:
    """Matches by words (each may be a prefix; all of them, or any with `any_word`) or, when
    `fuzzy`, for typos, by trigram similarity of the name; the score adds the text rank and
    the similarity."""
    phrase = " ".join(words)
    joiner = " | " if any_word else " & "
    query = func.to_tsquery("simple", joiner.join(f"{w}:*" for w in words))
    name = func.lower(Merchant.name)
    match: ColumnElement[bool] = Merchant.search.op("@@")(query)
    if fuzzy:
        match = or_(match, name.op("%")(phrase), literal(phrase).op("<%")(name))
    score = func.ts_rank_cd(Merchant.search, query) + func.word_similarity(phrase, name)
    return match, score


def _filters(q: SearchQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Merchant.status == "live"]
    if q.category_id is not None:
        conditions.append(Merchant.category_id == q.category_id)
    if q.tags:
        conditions.append(Merchant.tags.contains(rules.normalize_tags(q.tags)))
    if q.min_rating is not None:
        conditions.append(Merchant.rating_avg >= q.min_rating)
    return conditions


async def search(session: AsyncSession, q: SearchQuery) -> list[SearchHit]:
    """Live merchants matching the query, best first (kind "merchant")."""
    at = q.at or clock.now()
    conditions = _filters(q)
    if q.city:
        conditions.append(Merchant.city == rules.normalize_city(q.city))
    if q.open_now:
        conditions.append(select(Outlet.id).where(
            Outlet.merchant_id == Merchant.id, open_now_clause(at)).exists())
    words = _words(q.text)
    score: ColumnElement[Any]
    if words:
        match, score = _text_match(words, q.fuzzy, q.any_word)
        conditions.append(match)
    else:
        score = cast(Merchant.rating_avg, Float) / 5
    rows = (await session.execute(
        select(Merchant, score.label("score")).where(*conditions)
        .order_by(score.desc(), Merchant.rating_count.desc(), Merchant.id)
        .limit(min(q.limit, MAX_LIMIT)))).all()
    return [SearchHit(kind="merchant", id=m.id, title=m.name, score=float(s), merchant_id=m.id,
                      subtitle=m.city, data=_data(m)) for m, s in rows]


def _data(m: Merchant) -> dict[str, Any]:
    return {"slug": m.slug, "city": m.city, "category_id": str(m.category_id)
            if m.category_id else None, "tags": list(m.tags), "logo_url": m.logo_url,
            "rating_avg": float(m.rating_avg), "rating_count": int(m.rating_count),
            "default_cashback_bps": m.default_cashback_bps,
            "default_cashback_amount": m.default_cashback_amount}


async def autocomplete(session: AsyncSession, prefix: str, limit: int,
                       city: str | None) -> list[Suggestion]:
    """Names of live merchants for what was typed so far: names starting with it first, then
    names with a word starting with it, then (from three characters) near misses."""
    typed = " ".join(_words(prefix))
    if not typed:
        return []
    name = func.lower(Merchant.name)
    escaped = typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    starts = name.like(f"{escaped}%", escape="\\")
    inside = name.like(f"% {escaped}%", escape="\\")
    match = or_(starts, inside)
    if len(typed) >= 3:
        match = or_(match, literal(typed).op("<%")(name))
    score = case((starts, 2.0), (inside, 1.0), else_=0.0) + func.word_similarity(typed, name)
    query = (select(Merchant.id, Merchant.name, score.label("score"))
             .where(Merchant.status == "live", match)
             .order_by(score.desc(), Merchant.rating_count.desc(), Merchant.name)
             .limit(min(limit, MAX_LIMIT)))
    if city:
        query = query.where(Merchant.city == rules.normalize_city(city))
    rows = (await session.execute(query)).all()
    return [Suggestion(kind="merchant", id=r.id, text=r.name, score=float(r.score)) for r in rows]


def _box(latitude: float, longitude: float,
         radius_m: float) -> tuple[float, float, list[tuple[float, float]]]:
    """The latitude span and the longitude span(s) of a box holding the circle."""
    dlat = radius_m / METERS_PER_DEGREE
    widest = min(90.0, abs(latitude) + dlat)
    if widest >= 89.9:
        return latitude - dlat, latitude + dlat, [(-180.0, 180.0)]
    dlon = dlat / math.cos(math.radians(widest))
    if dlon >= 180:
        return latitude - dlat, latitude + dlat, [(-180.0, 180.0)]
    west, east = longitude - dlon, longitude + dlon
    spans = [(max(west, -180.0), min(east, 180.0))]
    if west < -180:  # across the antimeridian
        spans.append((west + 360, 180.0))
    if east > 180:
        spans.append((-180.0, east - 360))
    return latitude - dlat, latitude + dlat, spans


# Metres per degree of latitude on the mean sphere: the flat approximation that orders and
# cuts candidates (within 0.5% of the haversine distance up to 50 km from the point).
METERS_PER_DEGREE_MEAN = EARTH_RADIUS_M * math.pi / 180
FLAT_SLACK = 1.01


async def nearby(session: AsyncSession, latitude: float, longitude: float, radius_m: float,
                 limit: int, q: SearchQuery) -> list[NearbyHit]:
    """Active outlets of live merchants within `radius_m` of the point, nearest first.

    Outlets in the bounding box are ordered by a flat (equirectangular) distance read from the
    covering position index alone; merchants are then joined in that order until `limit`
    rows pass their filters, so a crowded box costs a sort, not a join per outlet. The exact
    haversine distance is measured for the rows returned."""
    rules.check_coordinates(latitude, longitude)
    if radius_m <= 0:
        return []
    at = q.at or clock.now()
    south, north, spans = _box(latitude, longitude, radius_m)
    dy = (Outlet.latitude - latitude) * METERS_PER_DEGREE_MEAN
    dlon = func.abs(Outlet.longitude - longitude)
    dx = (func.least(dlon, 360 - dlon) * METERS_PER_DEGREE_MEAN
          * math.cos(math.radians(latitude)))
    flat = (dy * dy + dx * dx).label("flat")
    near_conditions = [Outlet.active, Outlet.latitude.between(south, north),
                       or_(*(Outlet.longitude.between(w, e) for w, e in spans)),
                       dy * dy + dx * dx <= (radius_m * FLAT_SLACK) ** 2]
    if q.city:
        near_conditions.append(Outlet.city == rules.normalize_city(q.city))
    if q.open_now:
        near_conditions.append(open_now_clause(at))
    # OFFSET 0 keeps the planner from flattening the ordered candidates into the join.
    near = (select(Outlet.id, Outlet.merchant_id, flat).where(*near_conditions)
            .order_by(flat, Outlet.id).offset(0).subquery())
    conditions = _filters(q)
    words = _words(q.text)
    if words:
        conditions.append(_text_match(words, q.fuzzy, q.any_word)[0])
    rows = (await session.execute(
        select(Outlet.id, Outlet.merchant_id, Outlet.name.label("outlet_name"), Outlet.latitude,
               Outlet.longitude, Merchant.name.label("merchant_name"))
        .select_from(near)
        .join(Merchant, Merchant.id == near.c.merchant_id)
        .join(Outlet, Outlet.id == near.c.id)
        .where(*conditions)
        .order_by(near.c.flat, near.c.id).limit(min(limit, MAX_LIMIT)))).all()
    hits = []
    for r in rows:
        distance = haversine_m(latitude, longitude, r.latitude, r.longitude)
        if distance <= radius_m:
            hits.append(NearbyHit(kind="outlet", id=r.id, merchant_id=r.merchant_id,
                                  title=_title(r.merchant_name, r.outlet_name),
                                  distance_m=distance, latitude=r.latitude,
                                  longitude=r.longitude))
    return hits


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres on the mean sphere."""
    a = (math.sin(math.radians(lat2 - lat1) / 2) ** 2 + math.cos(math.radians(lat1))
         * math.cos(math.radians(lat2)) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _title(merchant: str, outlet: str) -> str:
    return merchant if outlet.lower() in ("", merchant.lower()) else f"{merchant}, {outlet}"
