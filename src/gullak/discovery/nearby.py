"""Nearby: outlets of live merchants within a radius of a point, nearest first."""

from __future__ import annotations

import math

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.discovery import errors
from gullak.discovery.checks import MAX_QUERY, checked_limit, checked_text
from gullak.discovery.common import Searcher, tune
from gullak.discovery.log import log_search
from gullak.discovery.ranking import normalize
from gullak.discovery.schemas import NearbyHitOut, NearbyOut, NearbyParams
from gullak.kit import clock
from gullak.kit.search import SearchQuery
from gullak.merchants import service as merchants

MAX_NEARBY = 100
MAX_RADIUS_M = 50_000.0


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
    query_id = await log_search(session, "nearby", who, normalize(params.q), None, filters,
                                [(h.kind, h.id) for h in found])
    return NearbyOut(query_id=query_id, count=len(found), hits=found)


async def nearby_hits(session: AsyncSession, params: NearbyParams) -> list[NearbyHitOut]:
    """The answer of `nearby` without the log."""
    _check_point(params)
    query = SearchQuery(text=checked_text(params.q, "q", MAX_QUERY), open_now=params.open_now,
                        at=clock.now(), limit=checked_limit(params.limit, MAX_NEARBY))
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
