"""Merchants request and response shapes. Format rules with their own error codes (GSTIN,
hours, time zones...) are checked by the service, so every caller gets them, not only HTTP."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, EmailStr, Field

from gullak.identity.schemas import DeviceIn
from gullak.kit.schemas import (
    BigInt,
    Coordinate,
    In,
    Int,
    MultilineText,
    Name,
    Out,
    SmallInt,
    Text,
)


class Status(StrEnum):
    pending = "pending"
    documents_submitted = "documents_submitted"
    verified = "verified"
    live = "live"
    suspended = "suspended"
    rejected = "rejected"


class Tier(StrEnum):
    basic = "basic"
    silver = "silver"
    gold = "gold"
    platinum = "platinum"


class Frequency(StrEnum):
    daily = "daily"
    weekly = "weekly"
    biweekly = "biweekly"
    monthly = "monthly"


class Role(StrEnum):
    owner = "owner"
    manager = "manager"
    staff = "staff"


class Verdict(StrEnum):
    verified = "verified"
    rejected = "rejected"


# -- merchants --------------------------------------------------------------------------------

class MerchantIn(In):
    name: Name = Field(min_length=1, max_length=200)
    legal_name: Name | None = Field(default=None, max_length=300)
    description: MultilineText | None = Field(default=None, max_length=5000)
    logo_url: Text | None = Field(default=None, max_length=2000)
    website: Text | None = Field(default=None, max_length=2000)
    email: EmailStr | None = None
    phone: Text | None = Field(default=None, max_length=20)
    city: Text | None = Field(default=None, max_length=100)
    category_id: uuid.UUID | None = None
    tags: list[Text] = Field(default_factory=list, max_length=50)
    gstin: Text | None = Field(default=None, max_length=20)
    pan: Text | None = Field(default=None, max_length=12)
    fssai: Text | None = Field(default=None, max_length=20)
    package_tier: Tier = Tier.basic
    commission_bps: int = Field(default=0, ge=0, le=10_000)
    settlement_frequency: Frequency = Frequency.weekly
    affiliate_network: Text | None = Field(default=None, max_length=100)
    affiliate_id: Text | None = Field(default=None, max_length=200)
    tracking_url_template: Text | None = Field(default=None, max_length=2000)
    # Default cashback for affiliate merchants: a share of the sale (bps) or a flat amount.
    default_cashback_bps: int | None = Field(default=None, ge=0, le=10_000)
    default_cashback_amount: BigInt | None = Field(default=None, ge=0)


class MerchantPatch(In):
    """Only the fields sent change."""

    name: Name | None = Field(default=None, min_length=1, max_length=200)
    legal_name: Name | None = Field(default=None, max_length=300)
    description: MultilineText | None = Field(default=None, max_length=5000)
    logo_url: Text | None = Field(default=None, max_length=2000)
    website: Text | None = Field(default=None, max_length=2000)
    email: EmailStr | None = None
    phone: Text | None = Field(default=None, max_length=20)
    city: Text | None = Field(default=None, max_length=100)
    category_id: uuid.UUID | None = None
    tags: list[Text] | None = Field(default=None, max_length=50)
    gstin: Text | None = Field(default=None, max_length=20)
    pan: Text | None = Field(default=None, max_length=12)
    fssai: Text | None = Field(default=None, max_length=20)
    package_tier: Tier | None = None
    commission_bps: int | None = Field(default=None, ge=0, le=10_000)
    settlement_frequency: Frequency | None = None
    affiliate_network: Text | None = Field(default=None, max_length=100)
    affiliate_id: Text | None = Field(default=None, max_length=200)
    tracking_url_template: Text | None = Field(default=None, max_length=2000)
    default_cashback_bps: int | None = Field(default=None, ge=0, le=10_000)
    default_cashback_amount: BigInt | None = Field(default=None, ge=0)


# Fields a merchant's own users may change; business and money terms stay with admins.
MERCHANT_SELF_FIELDS = frozenset({"description", "logo_url", "website", "email", "phone",
                                  "tags"})


class MerchantOut(Out):
    id: uuid.UUID
    name: str
    slug: str
    legal_name: str | None
    description: str | None
    logo_url: str | None
    website: str | None
    email: str | None
    phone: str | None
    city: str | None
    category_id: uuid.UUID | None
    tags: list[str]
    gstin: str | None
    pan: str | None
    fssai: str | None
    package_tier: str
    commission_bps: int
    settlement_frequency: str
    affiliate_network: str | None
    affiliate_id: str | None
    tracking_url_template: str | None
    default_cashback_bps: int | None
    default_cashback_amount: int | None
    status: str
    status_reason: str | None
    rating_avg: float
    rating_count: int
    live_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class PublicMerchantOut(Out):
    """What anyone may read of a live merchant."""

    id: uuid.UUID
    name: str
    slug: str
    description: str | None
    logo_url: str | None
    website: str | None
    city: str | None
    category_id: uuid.UUID | None
    tags: list[str]
    default_cashback_bps: int | None
    default_cashback_amount: int | None
    rating_avg: float
    rating_count: int


class StatusIn(In):
    status: Status
    reason: MultilineText | None = Field(default=None, max_length=2000)


class MerchantPage(Out):
    items: list[MerchantOut]
    next_cursor: str | None


# -- outlets ----------------------------------------------------------------------------------

class HoursRange(In):
    """Open from `open` to `close`, "HH:MM" local time. A `close` earlier than `open` runs
    past midnight into the next day; "24:00" closes at midnight."""

    open: Text
    close: Text


class OutletIn(In):
    name: Name = Field(min_length=1, max_length=200)
    address: MultilineText = Field(min_length=1, max_length=1000)
    city: Text = Field(min_length=1, max_length=100)
    state: Text | None = Field(default=None, max_length=100)
    postal_code: Text | None = Field(default=None, max_length=20)
    phone: Text | None = Field(default=None, max_length=20)
    latitude: Coordinate
    longitude: Coordinate
    timezone: Text = Field(default="Asia/Kolkata", max_length=64)
    # Weekday ("mon".."sun") to the ranges the outlet opens; a missing day is closed.
    hours: dict[Text, list[HoursRange]] = Field(default_factory=dict)
    features: list[Text] = Field(default_factory=list, max_length=50)
    active: bool = True


class OutletOut(Out):
    id: uuid.UUID
    merchant_id: uuid.UUID
    name: str
    address: str
    city: str
    state: str | None
    postal_code: str | None
    phone: str | None
    latitude: float
    longitude: float
    timezone: str
    hours: dict[str, list[HoursRange]]
    features: list[str]
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class PublicOutletOut(OutletOut):
    open_now: bool


# -- merchant users ---------------------------------------------------------------------------

class MerchantUserIn(In):
    email: EmailStr
    name: Name = Field(min_length=1, max_length=200)
    role: Role = Role.staff
    password: Text = Field(min_length=1, max_length=200)


class MerchantUserOut(Out):
    id: uuid.UUID
    merchant_id: uuid.UUID
    email: str
    name: str
    role: str
    status: str
    last_login_at: dt.datetime | None
    created_at: dt.datetime


class MerchantUserPatch(In):
    role: Role | None = None
    status: Literal["active", "disabled"] | None = None


class MerchantLoginIn(In):
    email: Text = Field(min_length=1, max_length=320)
    password: Text = Field(min_length=1, max_length=200)
    device: DeviceIn = Field(default_factory=DeviceIn)


class MerchantMeOut(Out):
    user: MerchantUserOut
    merchant: MerchantOut
    permissions: list[str]


# -- documents, bank accounts, commissions ----------------------------------------------------

class DocumentIn(In):
    document_type: Text = Field(min_length=1, max_length=50)
    number: Text | None = Field(default=None, max_length=50)
    file_url: Text = Field(min_length=1, max_length=2000)


class DocumentOut(Out):
    id: uuid.UUID
    merchant_id: uuid.UUID
    document_type: str
    number: str | None
    file_url: str
    status: str
    reason: str | None
    reviewed_at: dt.datetime | None
    created_at: dt.datetime


class ReviewIn(In):
    """An admin's verdict on a document."""

    verdict: Verdict
    reason: MultilineText | None = Field(default=None, max_length=2000)


class BankAccountIn(In):
    account_holder: Name = Field(min_length=1, max_length=200)
    account_number: Text = Field(min_length=6, max_length=20)
    ifsc: Text = Field(min_length=11, max_length=11)
    bank_name: Name | None = Field(default=None, max_length=200)
    primary: bool = True


class BankAccountOut(Out):
    id: uuid.UUID
    merchant_id: uuid.UUID
    account_holder: str
    account_number: str  # masked
    ifsc: str
    bank_name: str | None
    primary: bool
    status: str
    verified_name: str | None
    failure_reason: str | None
    provider: str | None
    verified_at: dt.datetime | None
    created_at: dt.datetime


class CommissionIn(In):
    category_id: uuid.UUID | None = None  # None: every category without its own rate
    rate_bps: int = Field(ge=0, le=10_000)
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None


class CommissionOut(Out):
    id: uuid.UUID
    merchant_id: uuid.UUID
    category_id: uuid.UUID | None
    rate_bps: int
    valid_from: dt.datetime
    valid_until: dt.datetime | None
    created_at: dt.datetime


# -- reviews ----------------------------------------------------------------------------------

class UserReviewIn(In):
    order_id: Text = Field(min_length=1, max_length=100)
    rating: int = Field(ge=1, le=5)
    # Sub-ratings by aspect (food, service, value, ambience...), each 1-5.
    sub_ratings: dict[Text, Int] = Field(default_factory=dict, max_length=10)
    comment: MultilineText | None = Field(default=None, max_length=5000)
    outlet_id: uuid.UUID | None = None


class UserReviewOut(Out):
    id: uuid.UUID
    merchant_id: uuid.UUID
    outlet_id: uuid.UUID | None
    user_id: uuid.UUID
    order_id: str
    rating: int
    sub_ratings: dict[str, int]
    comment: str | None
    verified_purchase: bool
    response: str | None
    responded_at: dt.datetime | None
    status: str
    flag_count: int
    created_at: dt.datetime


class PublicReviewOut(Out):
    id: uuid.UUID
    outlet_id: uuid.UUID | None
    rating: int
    sub_ratings: dict[str, int]
    comment: str | None
    verified_purchase: bool
    response: str | None
    responded_at: dt.datetime | None
    created_at: dt.datetime


class ReviewPage(Out):
    items: list[PublicReviewOut]
    next_cursor: str | None


class ResponseIn(In):
    response: MultilineText = Field(min_length=1, max_length=5000)


class FlagIn(In):
    reason: MultilineText = Field(min_length=1, max_length=500)


class ModerationIn(In):
    action: Text = Field(pattern="^(hide|restore)$")
    reason: MultilineText | None = Field(default=None, max_length=2000)


# -- CMS pages and SEO redirects --------------------------------------------------------------

class PageIn(In):
    slug: Text = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*(?:/[a-z0-9]+(?:-[a-z0-9]+)*)*$",
                      max_length=200)
    title: Text = Field(min_length=1, max_length=300)
    body: MultilineText = Field(max_length=200_000)
    published: bool = False
    seo_title: Text | None = Field(default=None, max_length=300)
    seo_description: Text | None = Field(default=None, max_length=1000)


class PageOut(Out):
    id: uuid.UUID
    slug: str
    title: str
    body: str
    published: bool
    published_at: dt.datetime | None
    seo_title: str | None
    seo_description: str | None
    updated_at: dt.datetime


class RedirectIn(In):
    source_path: Text = Field(min_length=1, max_length=2000)
    target: Text = Field(min_length=1, max_length=2000)
    status_code: SmallInt = Field(default=301)


class RedirectOut(Out):
    id: uuid.UUID
    source_path: str
    target: str
    status_code: int
    created_at: dt.datetime


class ResolvedOut(Out):
    source_path: str
    target: str
    status_code: int
