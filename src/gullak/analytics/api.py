"""The analytics domain's HTTP API: apps send batches of activity events; the back office
reads the catalogue, the daily summaries, active users and a user's statistics."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from gullak.analytics import service
from gullak.analytics.schemas import (
    ActiveUsersOut,
    EventBatchIn,
    EventBatchOut,
    EventTypeOut,
    Grouping,
    MerchantPeriodOut,
    OfferPeriodOut,
    PlatformPeriodOut,
    TopBy,
    TopMerchantOut,
    UserPeriodOut,
    UserStatsOut,
)
from gullak.db.routing import ReadSessionDep
from gullak.db.uow import SessionDep, autocommit
from gullak.kit import clock
from gullak.kit.openapi import errors
from gullak.kit.security import Subject, require, require_kind
from gullak.settings import Settings

router = APIRouter(tags=["analytics"])
User = Annotated[Subject, require_kind("user")]
CanRead = Annotated[Subject, require("analytics.read")]
Since = Annotated[dt.date | None, Query(description="First UTC day; default 30 days back")]
Until = Annotated[dt.date | None, Query(description="Last UTC day; default today")]
Group = Annotated[Grouping, Query(description="Sum by day, week (from Monday) or month")]
RANGE = errors(422)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _range(since: dt.date | None, until: dt.date | None) -> tuple[dt.date, dt.date]:
    last = until or clock.now().date()
    # 30 days back, or as far back as a date goes (an `until` in the year 1).
    return since or last - min(dt.timedelta(days=29), last - dt.date.min), last


@router.post("/v1/events", summary="Record a batch of the app's activity events")
async def send_events(body: EventBatchIn, user: User, request: Request,
                      session: SessionDep) -> EventBatchOut:
    """Up to 100 events of the catalogue (GET /v1/admin/analytics/catalogue, client events).
    Not all-or-nothing: each valid event is stored, each invalid one is answered in
    `refused` with its code (`unknown_event`, `unknown_property`, `invalid_property`,
    `missing_property`, `event_time_out_of_window`) while the rest are stored. An event is
    stored once per (user, `client_event_id`, `occurred_at`): resend a whole batch after a
    failure, and what was stored counts in `duplicates`. A malformed batch (not JSON, too
    many events, a missing field, NUL characters, JSON nested too deep) is refused whole."""
    await autocommit(session)  # one statement: the batch and its days' marks
    return await service.ingest(session, _settings(request), user.id, body.events)


@router.get("/v1/admin/analytics/catalogue", summary="The events the platform records")
async def event_catalogue(admin: CanRead) -> list[EventTypeOut]:
    return service.catalogue_out()


@router.get("/v1/admin/analytics/platform", responses=RANGE,
            summary="The platform's daily summaries, by day, week or month")
async def platform(admin: CanRead, session: ReadSessionDep, since: Since = None,
                   until: Until = None, group: Group = Grouping.day) -> list[PlatformPeriodOut]:
    """Newest period first; at most 366 days. Money in minor units (INR paise; coins)."""
    first, last = _range(since, until)
    return _out(PlatformPeriodOut, await service.periods(session, "platform", first, last,
                                                         group.value))


@router.get("/v1/admin/analytics/merchants/{merchant_id}", responses=RANGE,
            summary="A merchant's daily summaries, by day, week or month")
async def merchant(merchant_id: uuid.UUID, admin: CanRead, session: ReadSessionDep,
                   since: Since = None, until: Until = None,
                   group: Group = Grouping.day) -> list[MerchantPeriodOut]:
    first, last = _range(since, until)
    return _out(MerchantPeriodOut, await service.periods(session, "merchant", first, last,
                                                         group.value, merchant_id))


@router.get("/v1/admin/analytics/top-merchants", responses=RANGE,
            summary="The merchants first by GMV, orders, visitors or redemptions")
async def top_merchants(admin: CanRead, session: ReadSessionDep, since: Since = None,
                        until: Until = None, by: Annotated[TopBy, Query()] = TopBy.gmv,
                        limit: Annotated[int, Query(ge=1, le=100)] = 20
                        ) -> list[TopMerchantOut]:
    first, last = _range(since, until)
    return await service.top_merchants(session, first, last, by, limit)


@router.get("/v1/admin/analytics/offers/{offer_id}", responses=RANGE,
            summary="An offer's funnel (views, clicks, redemptions) by day, week or month")
async def offer(offer_id: uuid.UUID, admin: CanRead, session: ReadSessionDep,
                since: Since = None, until: Until = None,
                group: Group = Grouping.day) -> list[OfferPeriodOut]:
    first, last = _range(since, until)
    return _out(OfferPeriodOut, await service.periods(session, "offer", first, last,
                                                      group.value, offer_id))


@router.get("/v1/admin/analytics/users/{user_id}/daily", responses=RANGE,
            summary="A user's daily summaries, by day, week or month")
async def user_daily(user_id: uuid.UUID, admin: CanRead, session: ReadSessionDep,
                     since: Since = None, until: Until = None,
                     group: Group = Grouping.day) -> list[UserPeriodOut]:
    first, last = _range(since, until)
    return _out(UserPeriodOut, await service.periods(session, "user", first, last,
                                                     group.value, user_id))


@router.get("/v1/admin/analytics/users/{user_id}", responses=RANGE,
            summary="A user's statistics: totals over the days asked and balances now")
async def user_stats(user_id: uuid.UUID, admin: CanRead, session: ReadSessionDep,
                     since: Since = None, until: Until = None) -> UserStatsOut:
    first, last = _range(since, until)
    return await service.user_stats(session, user_id, first, last)


@router.get("/v1/admin/analytics/active-users", summary="DAU, WAU and MAU now")
async def active_users(admin: CanRead, session: ReadSessionDep) -> ActiveUsersOut:
    return await service.active_users(session)


def _out(model: Any, rows: list[dict[str, Any]]) -> list[Any]:
    return [model.model_validate(r) for r in rows]
