"""Analytics request and response shapes. Days are UTC dates; amounts are integers in minor
units (see each summary's fields)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

from gullak.kit import schemas as kit
from gullak.kit.schemas import In, Out

MAX_BATCH = 100
MAX_PROPERTIES = 50


def _utc(value: dt.datetime) -> dt.datetime:
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("the time is out of range") from None


ClientEventId = Annotated[str, StringConstraints(min_length=1, max_length=64), kit.ONE_LINE]
EventName = Annotated[str, StringConstraints(min_length=1, max_length=100), kit.ONE_LINE]
UtcTime = Annotated[AwareDatetime, AfterValidator(_utc)]


class EventIn(In):
    client_event_id: ClientEventId = Field(
        description="The app's own id of the event, unique per user: a retry sends it again")
    name: EventName = Field(description="A client event of the catalogue")
    occurred_at: UtcTime = Field(description="When it happened, by the app's clock, with an"
                                 " offset; within the last days (analytics_late_days)")
    # Checked against the catalogue event by event (a value of the wrong type or shape
    # refuses that event only): here only the number of properties is bounded.
    properties: Annotated[dict[str, Any], Field(max_length=MAX_PROPERTIES)] = Field(
        default_factory=dict)


class EventBatchIn(In):
    events: Annotated[list[EventIn], Field(min_length=1, max_length=MAX_BATCH)]


class RefusedEventOut(Out):
    index: int
    client_event_id: str
    code: str  # unknown_event, unknown_property, invalid_property, missing_property,
    # event_time_out_of_window
    detail: str
    field: str | None = None


class EventBatchOut(Out):
    accepted: int = Field(description="Events stored by this request")
    duplicates: int = Field(description="Events already stored (a retry), or repeated in the"
                            " batch")
    refused: list[RefusedEventOut] = Field(description="Events refused, each with its code;"
                                           " the others of the batch are stored")


class EventTypeOut(Out):
    name: str
    source: str
    description: str
    properties: dict[str, str]
    required: list[str]


class Grouping(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class SummaryKind(StrEnum):
    user = "user"
    merchant = "merchant"
    offer = "offer"
    platform = "platform"


class PlatformPeriodOut(Out):
    """A period's totals. `active_users` of a week or a month is its busiest day's (the
    distinct users of a longer period: GET /v1/admin/analytics/active-users)."""

    period: dt.date
    days: int
    events: int
    active_users: int
    sign_ups: int
    coins_issued: int
    coins_spent: int
    coins_expired: int
    cashback_pending: int
    cashback_confirmed: int
    orders: int
    gmv: int
    refunds: int
    withdrawals: int
    withdrawn: int
    steps: int


class TopBy(StrEnum):
    gmv = "gmv"
    orders = "orders"
    visitors = "visitors"
    redemptions = "redemptions"


class TopMerchantOut(Out):
    """A merchant's totals over the days asked (CouponAli's mv_top_merchants, not stored)."""

    merchant_id: uuid.UUID
    events: int
    views: int
    clicks: int
    redemptions: int
    visitors: int
    orders: int
    gmv: int
    reviews: int


class MerchantPeriodOut(Out):
    """`visitors` of a week or a month is the sum of its days' distinct visitors."""

    period: dt.date
    days: int
    events: int
    views: int
    clicks: int
    redemptions: int
    visitors: int
    orders: int
    gmv: int
    reviews: int


class OfferPeriodOut(Out):
    """The funnel: views, clicks, redemptions, and distinct users at each step (summed over
    the period's days); `conversion` is redeemers per viewer, `click_through` clickers per
    viewer (null without viewers)."""

    period: dt.date
    days: int
    views: int
    clicks: int
    redemptions: int
    viewers: int
    clickers: int
    redeemers: int
    conversion: float | None
    click_through: float | None


class UserPeriodOut(Out):
    period: dt.date
    days: int
    events: int
    sessions: int
    searches: int
    views: int
    clicks: int
    redemptions: int
    orders: int
    spent: int
    paid: int
    rewards: int
    cashback: int
    withdrawn: int
    steps: int


class BalanceOut(Out):
    asset_code: str
    posted: int
    available: int


class UserStatsOut(Out):
    """A user's totals over the days asked, and their balances now."""

    user_id: uuid.UUID
    since: dt.date
    until: dt.date
    active_days: int
    last_active_at: dt.datetime | None
    totals: dict[str, int]
    balances: list[BalanceOut]


class ActiveUsersOut(Out):
    """Distinct users active in the last day, 7 days and 30 days up to `at`: by their
    activity events (`dau`, `wau`, `mau`) and by their sign-in sessions used
    (`session_dau`...: the app refreshed a session, whether or not it reported events)."""

    at: dt.datetime
    dau: int
    wau: int
    mau: int
    session_dau: int
    session_wau: int
    session_mau: int


class PartitionsOut(Out):
    made: list[str]
    dropped: list[str]
    months: dict[str, int]


class SummariseOut(Out):
    days: list[dt.date]
