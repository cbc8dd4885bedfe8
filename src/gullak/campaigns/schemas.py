"""Campaigns request and response shapes. Segment filters are a discriminated union on
`type`: an unknown type, a missing field or a band upside down is a 422 with a stable code."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from gullak.kit import schemas as kit
from gullak.kit.schemas import In, Out

Days = Annotated[int, Field(strict=True, ge=1, le=3650)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
                  kit.NAME_CHARS]
Description = Annotated[str, StringConstraints(max_length=1000), kit.MULTI_LINE]
City = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                 kit.NAME_CHARS]
TierCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
AssetCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")]
# Up to four dotted numbers of up to six digits: compared as numbers, never as text.
Version = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$")]
TemplateCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]
VariantCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,15}$")]
Percent = Annotated[int, Field(strict=True, ge=0, le=100)]
Throttle = Annotated[int, Field(strict=True, ge=1, le=100_000)]


def _refuse(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, message)


class CityFilter(In):
    """Users with an address in the city (any of their addresses; case does not matter)."""

    type: Literal["city"]
    city: City


class TierFilter(In):
    """Users whose loyalty tier now is one of these."""

    type: Literal["tier"]
    tiers: Annotated[list[TierCode], Field(min_length=1, max_length=20)]


class LastActiveFilter(In):
    """Users who signed in or used the app within the last `within_days` days."""

    type: Literal["last_active"]
    within_days: Days


class InactiveFilter(In):
    """Users who have not signed in nor used the app for `days` days (win-back)."""

    type: Literal["inactive"]
    days: Days


class BalanceFilter(In):
    """Users holding an account of the asset whose posted balance lies in [min, max]."""

    type: Literal["balance"]
    asset_code: AssetCode
    min: kit.Amount | None = None
    max: kit.Amount | None = None

    @model_validator(mode="after")
    def _band(self) -> BalanceFilter:
        if self.min is None and self.max is None:
            raise _refuse("balance_band_empty", "a balance band needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _refuse("balance_band_inverted", "min may not be above max")
        return self


class OrdersFilter(In):
    """Users with at least `min_count` orders placed (not cancelled) in the last
    `within_days` days."""

    type: Literal["orders"]
    min_count: Annotated[int, Field(strict=True, ge=1, le=100_000)]
    within_days: Days


class AppVersionFilter(In):
    """Users with a device on an app version in [min, max], compared part by part."""

    type: Literal["app_version"]
    min: Version | None = None
    max: Version | None = None

    @model_validator(mode="after")
    def _range(self) -> AppVersionFilter:
        if self.min is None and self.max is None:
            raise _refuse("version_range_empty", "an app version range needs min, max or both")
        if (self.min is not None and self.max is not None
                and parts(self.min) > parts(self.max)):
            raise _refuse("version_range_inverted", "min may not be above max")
        return self


class PlatformFilter(In):
    """Users with a device on one of these platforms."""

    type: Literal["platform"]
    platforms: Annotated[list[Literal["android", "ios", "web"]], Field(min_length=1)]


def parts(version: str) -> list[int]:
    return [int(p) for p in version.split(".")]


Filter = Annotated[CityFilter | TierFilter | LastActiveFilter | InactiveFilter | BalanceFilter
                   | OrdersFilter | AppVersionFilter | PlatformFilter,
                   Field(discriminator="type")]
Filters = Annotated[list[Filter], Field(max_length=20)]


class PreviewIn(In):
    filters: Filters


class SegmentIn(In):
    name: Label
    description: Description | None = None
    filters: Filters


class SegmentPatch(In):
    name: Label | None = None
    description: Description | None = None
    filters: Filters | None = None


class SegmentOut(Out):
    id: uuid.UUID
    name: str
    description: str | None
    filters: list[dict[str, Any]]
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class SegmentPage(Out):
    items: list[SegmentOut]
    next_cursor: str | None


class CountOut(Out):
    count: int


class Channel(str, Enum):
    push = "push"
    inbox = "inbox"
    sms = "sms"
    email = "email"


class Status(str, Enum):
    draft = "draft"
    scheduled = "scheduled"
    sending = "sending"
    paused = "paused"
    sent = "sent"
    cancelled = "cancelled"


class VariantIn(In):
    code: VariantCode
    percent: Percent
    template_code: TemplateCode | None = None  # the campaign's own when absent


class VariantOut(Out):
    code: str
    percent: int
    template_code: str | None


def _check_variants(variants: list[VariantIn] | None) -> None:
    if variants is None:
        return
    if len({v.code for v in variants}) != len(variants):
        raise _refuse("variant_codes_repeated", "each variant needs its own code")
    if sum(v.percent for v in variants) != 100:
        raise _refuse("variant_split_not_100", "the variants' percentages must add up to 100")


Variants = Annotated[list[VariantIn], Field(min_length=1, max_length=10)]


class CampaignIn(In):
    name: Label
    segment_id: uuid.UUID
    channel: Channel
    template_code: TemplateCode
    data: kit.JsonObject = Field(default_factory=dict)
    send_at: AwareDatetime | None = None
    throttle_per_minute: Throttle = 1000
    attribution_days: Days = 7
    # Absent: one variant "A" at 100 % with the campaign's template.
    variants: Variants | None = None

    @model_validator(mode="after")
    def _variants(self) -> CampaignIn:
        _check_variants(self.variants)
        return self


class CampaignPatch(In):
    """What may change while the campaign is a draft; any change withdraws an approval."""

    name: Label | None = None
    segment_id: uuid.UUID | None = None
    channel: Channel | None = None
    template_code: TemplateCode | None = None
    data: kit.JsonObject | None = None
    send_at: AwareDatetime | None = None
    throttle_per_minute: Throttle | None = None
    attribution_days: Days | None = None
    variants: Variants | None = None

    @model_validator(mode="after")
    def _variants(self) -> CampaignPatch:
        _check_variants(self.variants)
        return self


class ScheduleIn(In):
    send_at: AwareDatetime | None = None  # absent: the campaign's own, or now


class CampaignOut(Out):
    id: uuid.UUID
    name: str
    segment_id: uuid.UUID
    channel: Channel
    template_code: str
    data: dict[str, Any]
    send_at: dt.datetime | None
    throttle_per_minute: int
    attribution_days: int
    status: Status
    variants: list[VariantOut]
    created_by: uuid.UUID | None
    approved_by: uuid.UUID | None
    approved_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CampaignPage(Out):
    items: list[CampaignOut]
    next_cursor: str | None


class VariantResult(Out):
    variant: str
    percent: int
    recipients: int
    delivered: int
    suppressed: int
    conversions: int
    conversion_rate: float  # conversions per delivered message, 0 when none was delivered
    revenue: dict[str, int]  # per currency, in minor units, from converting orders


class ResultsOut(Out):
    campaign_id: uuid.UUID
    status: Status
    variants: list[VariantResult]


class AssignmentOut(Out):
    experiment: str
    user_id: uuid.UUID
    variant: str
    campaign_id: uuid.UUID | None
    assigned_at: dt.datetime


class AssignmentPage(Out):
    items: list[AssignmentOut]
    next_cursor: str | None
