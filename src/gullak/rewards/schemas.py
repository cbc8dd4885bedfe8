"""Rewards shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints, model_validator

from gullak.kit.schemas import INT, Amount, In, JsonObject, Out, Text

Trigger = Literal["order_completed", "payment_method", "first_order", "review_written",
                  "profile_completed", "sign_up", "referral", "achievement", "app_event"]
Kind = Literal["fixed", "percent", "multiplier", "cashback"]
Period = Literal["day", "week", "month", "lifetime"]
RuleStatus = Literal["active", "paused"]
CampaignStatus = Literal["draft", "active", "paused", "ended"]
RewardStatus = Literal["pending", "confirmed", "reversed"]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
AssetCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")]
Name = Annotated[Text, StringConstraints(min_length=1, max_length=200)]
Positive = Annotated[int, Field(strict=True, gt=0, le=INT)]
Count = Annotated[int, Field(strict=True, ge=0, le=INT)]


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone") from None
    return value


Zone = Annotated[Text, StringConstraints(min_length=1, max_length=64), AfterValidator(_zone)]


class HourWindow(In):
    from_: int = Field(alias="from", ge=0, le=23)
    to: int = Field(ge=1, le=24)

    @model_validator(mode="after")
    def _ordered(self) -> HourWindow:
        if self.to <= self.from_:
            raise ValueError("`to` must be after `from`")
        return self


class ConditionsIn(In):
    """Every condition is optional; an empty list means no restriction."""

    merchant_ids: list[uuid.UUID] = Field(default_factory=list, max_length=500)
    category_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    cities: list[Annotated[Text, StringConstraints(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=100)
    tier_codes: list[Code] = Field(default_factory=list, max_length=20)
    user_ids: list[uuid.UUID] = Field(default_factory=list, max_length=1000)
    segments: list[Code] = Field(default_factory=list, max_length=20)
    payment_methods: list[Code] = Field(default_factory=list, max_length=20)
    min_amount: Amount | None = None
    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(default_factory=list, max_length=7)
    hours: list[HourWindow] = Field(default_factory=list, max_length=24)
    customer: Literal["new", "returning"] | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    event_names: list[Code] = Field(default_factory=list, max_length=50)
    achievement_codes: list[Code] = Field(default_factory=list, max_length=50)
    referral_roles: list[Literal["referrer", "referee"]] = Field(default_factory=list,
                                                                 max_length=2)
    min_referrals: Count | None = None
    max_referrals: Count | None = None


class CapIn(In):
    period: Period
    count: Positive | None = None
    amount: Annotated[Amount, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _something(self) -> CapIn:
        if self.count is None and self.amount is None:
            raise ValueError("a cap needs a count, an amount or both")
        return self


class RuleIn(In):
    name: Name
    trigger: Trigger
    campaign_id: uuid.UUID | None = None
    status: RuleStatus = "active"
    conditions: ConditionsIn = Field(default_factory=ConditionsIn)
    kind: Kind
    # Coins for `fixed`; basis points of the eligible amount for `percent` and `cashback`;
    # basis points of the base earn (1 coin per rupee) for `multiplier`.
    value: Annotated[int, Field(strict=True, ge=1, le=10**12)]
    asset_code: AssetCode
    tier_multiplier: bool = False
    max_per_reward: Annotated[Amount, Field(gt=0)] | None = None
    caps: list[CapIn] = Field(default_factory=list, max_length=8)
    hold_days: Annotated[int, Field(ge=0, le=365)] | None = None  # default: 7 on orders, else 0
    lifetime_days: Annotated[int, Field(gt=0, le=36500)] | None = None
    funding: Literal["platform", "merchant"] | None = None  # default: the asset's merchant
    funder_merchant_id: uuid.UUID | None = None
    timezone: Zone = "Asia/Kolkata"


class RuleOut(Out):
    id: uuid.UUID
    name: str
    status: str
    campaign_id: uuid.UUID | None
    version: int
    version_id: uuid.UUID
    trigger: str
    conditions: dict[str, Any]
    kind: str
    value: int
    asset_code: str
    tier_multiplier: bool
    max_per_reward: int | None
    caps: list[dict[str, Any]]
    hold_days: int
    lifetime_days: int | None
    funding: str
    funder_merchant_id: uuid.UUID | None
    timezone: str
    created_at: dt.datetime
    updated_at: dt.datetime


class RulePage(Out):
    items: list[RuleOut]
    next_cursor: str | None


class CampaignIn(In):
    name: Name
    asset_code: AssetCode
    status: CampaignStatus = "draft"
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    budget: Amount | None = None
    per_user_limit: Positive | None = None

    @model_validator(mode="after")
    def _window(self) -> CampaignIn:
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class CampaignPatch(In):
    name: Name | None = None
    status: CampaignStatus | None = None
    ends_at: AwareDatetime | None = None
    budget: Amount | None = None
    per_user_limit: Positive | None = None


class CampaignOut(Out):
    id: uuid.UUID
    name: str
    asset_code: str
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    budget: int | None
    spent: int
    per_user_limit: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class RewardOut(Out):
    id: uuid.UUID
    user_id: uuid.UUID
    rule_id: uuid.UUID
    rule_version_id: uuid.UUID
    campaign_id: uuid.UUID | None
    trigger: str
    asset_code: str
    amount: int
    reversed: int
    status: str
    reference_type: str
    reference_id: str
    confirm_at: dt.datetime
    confirmed_at: dt.datetime | None
    lot_expires_at: dt.datetime | None
    created_at: dt.datetime


class RewardPage(Out):
    items: list[RewardOut]
    next_cursor: str | None


class DebtOut(Out):
    id: uuid.UUID
    user_id: uuid.UUID
    asset_code: str
    amount: int
    settled: int
    status: str
    reward_id: uuid.UUID
    created_at: dt.datetime
    settled_at: dt.datetime | None


class DebtPage(Out):
    items: list[DebtOut]
    next_cursor: str | None


class DecisionOut(Out):
    """One rule considered: whether it applied, and if not, why (a stable reason code)."""

    rule_id: uuid.UUID
    rule_name: str
    rule_version_id: uuid.UUID
    version: int
    applied: bool
    reason: str | None
    amount: int
    asset_code: str
    reward_id: uuid.UUID | None = None


class EvaluationOut(Out):
    reference_type: str
    reference_id: str
    decisions: list[DecisionOut]


class DryRunIn(In):
    """A hypothetical occasion: nothing is written."""

    trigger: Trigger
    user_id: uuid.UUID | None = None
    at: AwareDatetime | None = None
    amount: Amount = 0
    merchant_id: uuid.UUID | None = None
    payment_methods: list[Code] = Field(default_factory=list, max_length=10)
    tier_code: Code | None = None
    completed_orders: Count | None = None  # default: the user's own count
    multiplier_bp: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    data: JsonObject = Field(default_factory=dict)  # event name, achievement code, role...


class AppEventIn(In):
    user_id: uuid.UUID
    name: Code
    key: Annotated[Text, StringConstraints(min_length=1, max_length=200)]
    data: JsonObject = Field(default_factory=dict)


class AppEventOut(Out):
    accepted: bool  # false: this key was already reported, nothing more was given
    rewards: list[RewardOut]
