"""Discovery HTTP API: search, autocomplete, nearby, clicks, popular searches, and the search
log for the back office. Signing in is optional: a user's searches are logged as theirs."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from gullak.db.uow import SessionDep
from gullak.discovery import service
from gullak.discovery.schemas import (
    AutocompleteOut,
    ClickIn,
    ClickOut,
    NearbyOut,
    NearbyParams,
    PopularOut,
    SearchLogPage,
    SearchOut,
    SearchParams,
)
from gullak.discovery.service import Searcher
from gullak.kit.openapi import errors
from gullak.kit.schemas import Coordinate, MultilineText, Real, Text
from gullak.kit.security import Subject, current_subject, require
from gullak.settings import Settings

router = APIRouter(tags=["discovery"])


async def who(request: Request, session: SessionDep) -> Searcher:
    """The signed-in user, if a token came with the request (a bad one is refused: 401);
    otherwise an anonymous searcher."""
    subject = None
    if request.headers.get("authorization"):
        subject = await current_subject(request, session)
    settings: Settings = request.app.state.settings
    return service.searcher(settings, subject, request.client.host if request.client else None)


Who = Annotated[Searcher, Depends(who)]
Listed = Annotated[list[Text], Query(description="Repeat the parameter or separate by commas.")]


@router.get("/v1/search",
            responses=errors(401), summary="Search merchants, products and offers at once")
async def search(
    session: SessionDep, searcher: Who,
    q: Annotated[MultilineText | None,
               Query(description="What to look for; typos are forgiven.")] = None,
    kinds: Listed = [],
    city: Text | None = None,
    category_id: uuid.UUID | None = None,
    tags: Listed = [],
    min_price: Annotated[int | None, Query(description="Minor units (paise).")] = None,
    max_price: Annotated[int | None, Query(description="Minor units (paise).")] = None,
    min_rating: Real | None = None,
    open_now: bool = False,
    limit: int = 20,
) -> SearchOut:
    params = SearchParams(q=q, kinds=kinds, city=city, category_id=category_id, tags=tags,
                          min_price=min_price, max_price=max_price, min_rating=min_rating,
                          open_now=open_now, limit=limit)
    return await service.search(session, params, searcher)


@router.get("/v1/search/autocomplete", summary="Suggestions for what was typed so far")
async def autocomplete(session: SessionDep, q: MultilineText | None = None,
                       city: Text | None = None,
                       limit: int = 8) -> AutocompleteOut:
    return await service.autocomplete(session, q, city, limit)


@router.get("/v1/search/popular", summary="What people search for most, per city")
async def popular(session: SessionDep, city: Text | None = None, limit: int = 10) -> PopularOut:
    return await service.popular(session, city, limit)


@router.post("/v1/search/{query_id}/click", status_code=201, responses=errors(401),
             summary="Record which result of a search was clicked")
async def click(query_id: uuid.UUID, body: ClickIn, session: SessionDep,
                searcher: Who) -> ClickOut:
    return await service.record_click(session, query_id, body, searcher)


@router.get("/v1/nearby", responses=errors(401), summary="Outlets near a point, nearest first")
async def nearby(
    session: SessionDep, searcher: Who,
    lat: Annotated[Coordinate, Query(description="Latitude, -90 to 90.")],
    lng: Annotated[Coordinate, Query(description="Longitude, -180 to 180.")],
    radius_m: Annotated[Real, Query(description="Metres, up to 50 km.")] = 5000,
    q: MultilineText | None = None,
    open_now: bool = False,
    limit: int = 20,
) -> NearbyOut:
    params = NearbyParams(lat=lat, lng=lng, radius_m=radius_m, q=q, open_now=open_now,
                          limit=limit)
    return await service.nearby(session, params, searcher)


@router.get("/v1/admin/search/queries", summary="The search log, newest first")
async def search_log(
    session: SessionDep, _: Annotated[Subject, require("search.read")],
    city: Text | None = None, user_id: uuid.UUID | None = None,
    zero_results: bool | None = None, cursor: Text | None = None, limit: int = 50,
) -> SearchLogPage:
    return await service.search_log(session, city=city, user_id=user_id,
                                    zero_results=zero_results, cursor=cursor, limit=limit)
