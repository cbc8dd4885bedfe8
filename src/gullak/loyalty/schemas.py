"""Loyalty shapes. Amounts are integers in minor units (INR paise spent, coins earned);
multipliers and discounts in basis points (10,000 is 1x, or 100%)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from gullak.kit import schemas as kit
from gullak.kit.schemas import In, Out

BASE_MULTIPLIER = 10_000  # basis points: 10,000 is 1x

Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
Metric = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                  kit.NAME_CHARS]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300),
                 kit.ONE_LINE]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000),
                        kit.ONE_LINE]
AssetCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")]
Bp = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
Percent = Annotated[int, Field(strict=True, ge=0, le=10_000)]
Days = Annotated[int, Field(strict=True, ge=1, le=3650)]
Grace = Annotated[int, Field(strict=True, ge=0, le=365)]
Value = Annotated[int, Field(strict=True, ge=0, le=kit.BIGINT)]
Positive = Annotated[int, Field(strict=True, ge=1, le=kit.BIGINT)]
TierMetric = Literal["spent", "earned"]
SubscriptionStatus = Literal["pending_payment", "active", "past_due", "expired", "cancelled"]


class UserTierOut(Out):
    """The tier a user is in now, as the rewards rules use it."""

    code: str
    name: str
    rank: int  # 0 for the lowest tier
    multiplier_bp: int = BASE_MULTIPLIER  # coin multiplier of the rules, in basis points


class PriveBenefitOut(Out):
    """What an active privé subscription gives at one merchant."""

    plan_code: str
    discount_bp: int  # member discount, basis points of the order's amount
    multiplier_bp: int  # coin multiplier at this merchant, basis points


# -- tiers ------------------------------------------------------------------------------------

class TierIn(In):
    code: Code
    name: Title
    rank: Annotated[int, Field(strict=True, ge=0, le=1000)]
    metric: TierMetric = "spent"
    threshold: Value
    window_days: Days = 365
    multiplier_bp: Bp = BASE_MULTIPLIER
    benefits: list[Line] = Field(default_factory=list, max_length=20)
    grace_days: Grace = 30


class TierPatch(In):
    name: Title | None = None
    threshold: Value | None = None
    window_days: Days | None = None
    multiplier_bp: Bp | None = None
    benefits: list[Line] | None = Field(default=None, max_length=20)
    grace_days: Grace | None = None
    active: bool | None = None


class TierOut(Out):
    code: str
    name: str
    rank: int
    metric: str
    threshold: int
    window_days: int
    multiplier_bp: int
    benefits: list[str]
    grace_days: int
    active: bool


class NextTierOut(Out):
    code: str
    name: str
    metric: str
    threshold: int
    value: int  # the user's figure in that tier's window
    left: int  # what is still to spend or earn to reach it


class MyTierOut(Out):
    code: str
    name: str
    rank: int
    multiplier_bp: int
    benefits: list[str]
    metric: str
    window_days: int
    value: int  # what counts for this tier's metric in its rolling window
    since: dt.datetime | None
    period_end: dt.datetime | None  # the tier holds at least until then
    grace_until: dt.datetime | None  # set when the period ended without qualifying
    next: NextTierOut | None  # None at the top


class TierChangeOut(Out):
    id: uuid.UUID
    from_tier: str | None
    to_tier: str
    reason: str
    actor_id: uuid.UUID | None
    at: dt.datetime


class UserLoyaltyOut(Out):
    user_id: uuid.UUID
    tier: MyTierOut
    history: list[TierChangeOut]


class SetTierIn(In):
    tier_code: Code
    reason: Line


# -- privé ------------------------------------------------------------------------------------

class PlanIn(In):
    code: Code
    name: Title
    price: Positive  # INR paise per period
    period_days: Days = 30
    grace_days: Grace = 3
    multiplier_bp: Bp = BASE_MULTIPLIER
    discount_bp: Percent = 0


class PartnerIn(In):
    merchant_id: uuid.UUID
    discount_bp: Percent | None = None
    multiplier_bp: Bp | None = None


class PartnerOut(Out):
    merchant_id: uuid.UUID
    discount_bp: int  # what a member gets there: the partner's own, or the plan's
    multiplier_bp: int


class PlanOut(Out):
    code: str
    name: str
    price: int
    currency: str
    period_days: int
    grace_days: int
    multiplier_bp: int
    discount_bp: int
    status: str
    partners: list[PartnerOut]


class SubscribeIn(In):
    plan_code: Code


class PrivePaymentOut(Out):
    payment_id: uuid.UUID
    kind: str
    amount: int
    status: str
    for_period_end: dt.datetime | None
    created_at: dt.datetime


class SubscriptionOut(Out):
    id: uuid.UUID
    user_id: uuid.UUID
    plan_code: str
    status: SubscriptionStatus
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    auto_renew: bool
    cancelled_at: dt.datetime | None
    created_at: dt.datetime
    payments: list[PrivePaymentOut]


class CheckoutOut(Out):
    subscription: SubscriptionOut
    payment_id: uuid.UUID
    payment_status: str
    checkout_url: str | None  # pay here


class MyPriveOut(Out):
    subscription: SubscriptionOut | None  # the live one, else the latest


# -- achievements -----------------------------------------------------------------------------

class AchievementIn(In):
    code: Code
    name: Title
    description: Description = ""
    metric: Metric
    kind: Literal["total", "streak"] = "total"
    target: Annotated[int, Field(strict=True, ge=1, le=kit.BIGINT)]
    bonus_asset: AssetCode | None = None
    bonus_amount: Value = 0
    position: Annotated[int, Field(strict=True, ge=0, le=10_000)] = 0


class AchievementOut(Out):
    id: uuid.UUID
    code: str
    name: str
    description: str
    metric: str
    kind: str
    target: int
    bonus_asset: str | None
    bonus_amount: int
    position: int
    status: str


class MyAchievementOut(Out):
    code: str
    name: str
    description: str
    metric: str
    kind: str
    target: int
    progress: int  # capped at the target
    bonus_asset: str | None
    bonus_amount: int
    unlocked_at: dt.datetime | None


class UnlockOut(Out):
    achievement_code: str
    user_achievement_id: uuid.UUID
