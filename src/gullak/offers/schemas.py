"""Offers request and response shapes. Rules that span fields (a window that ends after it
starts, terms that fit the type) are checked by the service, so every caller gets them."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from gullak.kit import schemas as kit
from gullak.kit.schemas import BIGINT, In, Out

MAX_AMOUNT = BIGINT
# Money and coins: whole minor units; "10", 10.0 and true are refused, not coerced.
Amount = kit.Amount
Positive = Annotated[kit.Amount, Field(gt=0)]
Count = Annotated[int, Field(strict=True, ge=1, le=1_000_000_000)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=200), kit.ONE_LINE]
LongText = Annotated[str, StringConstraints(max_length=10_000), kit.MULTI_LINE]
Url = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://\S+$"), kit.ONE_LINE]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1,
                                       max_length=50), kit.ONE_LINE]
City = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                 kit.ONE_LINE]
CouponCode = Annotated[str, StringConstraints(strip_whitespace=True,
                                              pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{2,39}$")]
Clock = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                          max_length=2000), kit.ONE_LINE]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                kit.ONE_LINE]


class OfferType(StrEnum):
    discount_percent = "discount_percent"
    discount_fixed = "discount_fixed"
    bogo = "bogo"
    freebie = "freebie"
    cashback = "cashback"
    coupon_code = "coupon_code"
    deal = "deal"
    sale = "sale"


class ValueKind(StrEnum):
    percent = "percent"  # basis points, 1..10000
    fixed = "fixed"  # minor units


class Status(StrEnum):
    draft = "draft"
    pending = "pending"
    active = "active"
    paused = "paused"
    expired = "expired"
    rejected = "rejected"


class Segment(StrEnum):
    all = "all"
    new_users = "new_users"
    students = "students"
    vip = "vip"
    prive = "prive"


class Weekday(StrEnum):
    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"


class Channel(StrEnum):
    whatsapp = "whatsapp"
    facebook = "facebook"
    twitter = "twitter"
    instagram = "instagram"
    telegram = "telegram"
    email = "email"
    sms = "sms"
    copy_link = "copy_link"
    other = "other"


class RedemptionStatus(StrEnum):
    pending = "pending"
    completed = "completed"
    cancelled = "cancelled"
    refunded = "refunded"


class HoursWindow(In):
    """Local time from `start` to `end`; an `end` before `start` runs past midnight."""

    start: Clock
    end: Clock


class OfferTerms(In):
    """Every field an offer is made of; a patch sends only those that change."""

    type: OfferType
    title: Text200
    description: LongText | None = None
    terms: LongText | None = None
    image_url: Url | None = None
    banner_url: Url | None = None
    category_id: uuid.UUID | None = None
    coupon_code: CouponCode | None = None
    discount_kind: ValueKind | None = None
    discount_value: Positive | None = None
    max_discount: Positive | None = None
    cashback_kind: ValueKind | None = None
    cashback_value: Positive | None = None
    max_cashback: Positive | None = None
    bogo_buy: Annotated[int, Field(strict=True, ge=1, le=100)] | None = None
    bogo_get: Annotated[int, Field(strict=True, ge=1, le=100)] | None = None
    freebie_item: Text200 | None = None
    min_order_value: Amount = 0
    coins_required: Amount = 0
    coins_earned: Amount = 0
    branded_coins_earned: Amount = 0
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    weekdays: list[Weekday] | None = Field(default=None, min_length=1, max_length=7)
    hours: list[HoursWindow] | None = Field(default=None, min_length=1, max_length=12)
    total_limit: Count | None = None
    per_user_limit: Count | None = 1
    segments: list[Segment] = Field(default_factory=lambda: [Segment.all], min_length=1,
                                    max_length=5)
    audience_tags: list[Tag] = Field(default_factory=list, max_length=50)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    cities: list[City] = Field(default_factory=list, max_length=200)
    min_level: Annotated[int, Field(strict=True, ge=0, le=1000)] = 0
    outlet_ids: list[uuid.UUID] = Field(default_factory=list, max_length=1000)


class Promotion(In):
    """How an offer is placed: admins' to set."""

    is_featured: bool = False
    boosted_until: AwareDatetime | None = None
    display_priority: Annotated[int, Field(strict=True, ge=-1000, le=1000)] = 0


class OfferIn(OfferTerms):
    pass


class AdminOfferIn(OfferTerms, Promotion):
    merchant_id: uuid.UUID


class OfferPatch(In):
    """Only the fields sent change (null clears an optional field)."""

    type: OfferType | None = None
    title: Text200 | None = None
    description: LongText | None = None
    terms: LongText | None = None
    image_url: Url | None = None
    banner_url: Url | None = None
    category_id: uuid.UUID | None = None
    coupon_code: CouponCode | None = None
    discount_kind: ValueKind | None = None
    discount_value: Positive | None = None
    max_discount: Positive | None = None
    cashback_kind: ValueKind | None = None
    cashback_value: Positive | None = None
    max_cashback: Positive | None = None
    bogo_buy: Annotated[int, Field(strict=True, ge=1, le=100)] | None = None
    bogo_get: Annotated[int, Field(strict=True, ge=1, le=100)] | None = None
    freebie_item: Text200 | None = None
    min_order_value: Amount | None = None
    coins_required: Amount | None = None
    coins_earned: Amount | None = None
    branded_coins_earned: Amount | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    weekdays: list[Weekday] | None = Field(default=None, min_length=1, max_length=7)
    hours: list[HoursWindow] | None = Field(default=None, min_length=1, max_length=12)
    total_limit: Count | None = None
    per_user_limit: Count | None = None
    segments: list[Segment] | None = Field(default=None, min_length=1, max_length=5)
    audience_tags: list[Tag] | None = Field(default=None, max_length=50)
    tags: list[Tag] | None = Field(default=None, max_length=50)
    cities: list[City] | None = Field(default=None, max_length=200)
    min_level: Annotated[int, Field(strict=True, ge=0, le=1000)] | None = None
    outlet_ids: list[uuid.UUID] | None = Field(default=None, max_length=1000)


class AdminOfferPatch(OfferPatch):
    is_featured: bool | None = None
    boosted_until: AwareDatetime | None = None
    display_priority: Annotated[int, Field(strict=True, ge=-1000, le=1000)] | None = None


# Fields that may not be null once set, so a patch cannot clear them.
REQUIRED_FIELDS = frozenset({
    "type", "title", "min_order_value", "coins_required", "coins_earned",
    "branded_coins_earned", "valid_from", "valid_until", "segments", "audience_tags", "tags",
    "cities", "min_level", "outlet_ids", "is_featured", "display_priority"})


class RejectIn(In):
    reason: Reason


class PublicOfferOut(Out):
    """What a user reads of an offer: its terms, not its review trail."""

    id: uuid.UUID
    merchant_id: uuid.UUID
    category_id: uuid.UUID | None
    type: OfferType
    title: str
    description: str | None
    terms: str | None
    image_url: str | None
    banner_url: str | None
    coupon_code: str | None
    discount_kind: ValueKind | None
    discount_value: int | None
    max_discount: int | None
    cashback_kind: ValueKind | None
    cashback_value: int | None
    max_cashback: int | None
    bogo_buy: int | None
    bogo_get: int | None
    freebie_item: str | None
    min_order_value: int
    coins_required: int
    coins_earned: int
    branded_coins_earned: int
    branded_asset_code: str | None
    valid_from: dt.datetime
    valid_until: dt.datetime
    weekdays: list[Weekday] | None
    hours: list[HoursWindow] | None
    total_limit: int | None
    per_user_limit: int | None
    redemptions_count: int
    segments: list[Segment]
    tags: list[str]
    cities: list[str]
    min_level: int
    outlet_ids: list[uuid.UUID]
    status: Status
    is_featured: bool
    boosted: bool = False


class OfferOut(PublicOfferOut):
    """The whole offer, with its targeting and review trail, for its merchant and admins."""

    audience_tags: list[str]
    status_reason: str | None
    submitted_at: dt.datetime | None
    reviewed_by: uuid.UUID | None
    reviewed_at: dt.datetime | None
    boosted_until: dt.datetime | None
    display_priority: int
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class OfferPage(Out):
    items: list[OfferOut]
    next_cursor: str | None


class CartIn(In):
    amount: Amount  # minor units
    item_count: Count = 1
    item_price: Positive | None = Field(default=None, description=(
        "The price of one item of the offer, in minor units. It values the free items of a"
        " buy-N-get-M (bogo) offer: (item_count // (N + M)) * M * item_price off, within"
        " max_discount and the amount. Without it a bogo offer takes nothing off (it may still"
        " be valid); other offer types ignore it (a freebie takes nothing off and names its"
        " freebie_item)."))
    outlet_id: uuid.UUID | None = None
    city: City | None = None


class ValidateIn(CartIn):
    # The moment to check against; defaults to now ("will it be valid at dinner time?").
    at: AwareDatetime | None = None


class ValidateCodeIn(ValidateIn):
    code: CouponCode


class RedeemIn(CartIn):
    order_ref: Ref | None = None


class ValidationOut(Out):
    offer_id: uuid.UUID
    valid: bool
    # Every reason why not, as stable codes (empty when valid).
    reasons: list[str]
    checked_at: dt.datetime
    original_amount: int
    discount: int
    final_amount: int
    coins_required: int
    coins_earned: int
    cashback_coins: int
    branded_coins_earned: int
    branded_asset_code: str | None
    bogo_buy: int | None = None
    bogo_get: int | None = None
    freebie_item: str | None = None


class RedemptionOut(Out):
    id: uuid.UUID
    code: str
    offer_id: uuid.UUID
    user_id: uuid.UUID
    merchant_id: uuid.UUID
    outlet_id: uuid.UUID | None
    order_ref: str | None
    status: RedemptionStatus
    original_amount: int
    discount_amount: int
    final_amount: int
    item_count: int
    coins_used: int
    coins_earned: int
    cashback_coins: int
    branded_coins_earned: int
    branded_asset_code: str | None
    hold_id: uuid.UUID | None
    spend_transfer_id: uuid.UUID | None
    earn_transfer_ids: list[uuid.UUID]
    reason: str | None
    expires_at: dt.datetime
    completed_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    refunded_at: dt.datetime | None
    created_at: dt.datetime


class RedemptionPage(Out):
    items: list[RedemptionOut]
    next_cursor: str | None


class ResolveIn(In):
    reason: Reason | None = None


class RefundIn(In):
    reason: Reason


class TrackIn(In):
    source: Annotated[str, StringConstraints(max_length=100), kit.ONE_LINE] | None = None
    device_type: Annotated[str, StringConstraints(max_length=20), kit.ONE_LINE] | None = None


class ClickOut(Out):
    click_id: uuid.UUID
    offer_id: uuid.UUID
    merchant_id: uuid.UUID
    user_id: uuid.UUID | None = None  # who clicked (signed in), whom a conversion pays
    # Where to send the user: the merchant's tracking URL with this click filled in.
    tracking_url: str | None
    created_at: dt.datetime


class ShareIn(In):
    channel: Channel


class SavedOfferOut(Out):
    offer: PublicOfferOut
    saved_at: dt.datetime


class OfferStatsOut(Out):
    offer_id: uuid.UUID
    views: int
    unique_viewers: int
    clicks: int
    saves: int
    shares: int
    redemptions: dict[str, int]
