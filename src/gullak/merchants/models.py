"""Merchants tables.

Categories (catalog) and users (identity) are referred to by id only: no foreign keys into
another domain's tables.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Computed,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INT4MULTIRANGE, TSVECTOR, Range
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped
from gullak.kit.ids import uuid7

EMPTY_JSON = text("'{}'::jsonb")
EMPTY_TAGS = text("'{}'::text[]")

# What full-text search reads: the name weighs most, then tags and city, then the description.
SEARCH_DOCUMENT = (
    "setweight(to_tsvector('simple'::regconfig, coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(tags_text, '')), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(city, '')), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(description, '')), 'C')"
)


class Merchant(Timestamped, Base):
    __tablename__ = "merchants"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'documents_submitted', 'verified', 'live',"
                        " 'suspended', 'rejected')", name="status"),
        CheckConstraint("commission_bps BETWEEN 0 AND 10000", name="commission_bps"),
        CheckConstraint("rating_count >= 0 AND rating_sum >= 0", name="rating"),
        Index("ix_merchants_search", "search", postgresql_using="gin"),
        Index("ix_merchants_name_trgm", func.lower(text("name")), postgresql_using="gin",
              postgresql_ops={"lower(name)": "gin_trgm_ops"}),
        Index("ix_merchants_status_city", "status", "city"),
        Index("ix_merchants_category_id", "category_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(Text, unique=True)
    legal_name: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    logo_url: Mapped[str | None] = mapped_column(Text)
    website: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    category_id: Mapped[uuid.UUID | None]
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=EMPTY_TAGS)
    # Tags as one lower-cased string, kept by the service: array_to_string is not immutable,
    # so the generated search column cannot read the array itself.
    tags_text: Mapped[str] = mapped_column(Text, server_default=text("''::text"))
    gstin: Mapped[str | None] = mapped_column(Text)
    pan: Mapped[str | None] = mapped_column(Text)
    fssai: Mapped[str | None] = mapped_column(Text)
    package_tier: Mapped[str] = mapped_column(Text, server_default=text("'basic'::text"))
    commission_bps: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    settlement_frequency: Mapped[str] = mapped_column(Text, server_default=text("'weekly'::text"))
    affiliate_network: Mapped[str | None] = mapped_column(Text)
    affiliate_id: Mapped[str | None] = mapped_column(Text)
    tracking_url_template: Mapped[str | None] = mapped_column(Text)
    default_cashback_bps: Mapped[int | None] = mapped_column(Integer)
    default_cashback_amount: Mapped[int | None]
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'::text"))
    status_reason: Mapped[str | None] = mapped_column(Text)
    live_at: Mapped[dt.datetime | None]
    # Visible reviews only; the average is kept with the sum so it never drifts.
    rating_sum: Mapped[int] = mapped_column(server_default=text("0"))
    rating_count: Mapped[int] = mapped_column(server_default=text("0"))
    rating_avg: Mapped[float] = mapped_column(Numeric(3, 2, asdecimal=False),
                                              server_default=text("0"))
    search: Mapped[Any] = mapped_column(TSVECTOR, Computed(SEARCH_DOCUMENT, persisted=True))


class Outlet(Timestamped, Base):
    __tablename__ = "merchant_outlets"
    __table_args__ = (
        CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude"),
        # Nearby searches cut a bounding box on this index and order it by distance without
        # reading the table (the included columns are all they need).
        Index("ix_merchant_outlets_position", "latitude", "longitude",
              postgresql_include=["id", "merchant_id", "active"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text)
    city: Mapped[str] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text)
    postal_code: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(Text, server_default=text("'Asia/Kolkata'::text"))
    hours: Mapped[dict[str, Any]] = mapped_column(server_default=EMPTY_JSON)
    features: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=EMPTY_TAGS)
    # The hours as minutes since Monday 00:00 local time, kept by the service from `hours`,
    # so that "open now" is one containment test in SQL.
    open_minutes: Mapped[list[Range[int]]] = mapped_column(
        INT4MULTIRANGE, server_default=text("'{}'::int4multirange"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class MerchantUser(Timestamped, Base):
    __tablename__ = "merchant_users"
    __table_args__ = (
        CheckConstraint("role IN ('owner', 'manager', 'staff')", name="role"),
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
        Index("uq_merchant_users_email", func.lower(text("email")), unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), index=True)
    email: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'::text"))
    last_login_at: Mapped[dt.datetime | None]


class Document(Timestamped, Base):
    __tablename__ = "merchant_documents"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'verified', 'rejected')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), index=True)
    document_type: Mapped[str] = mapped_column(Text)
    number: Mapped[str | None] = mapped_column(Text)
    file_url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'::text"))
    reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[uuid.UUID | None]
    reviewed_at: Mapped[dt.datetime | None]


class BankAccount(Timestamped, Base):
    """The account number is sealed; only its last four digits are kept in clear."""

    __tablename__ = "merchant_bank_accounts"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'verified', 'failed')", name="status"),
        Index("uq_merchant_bank_accounts_primary", "merchant_id", unique=True,
              postgresql_where=text("is_primary")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), index=True)
    account_holder: Mapped[str] = mapped_column(Text)
    account_number: Mapped[str] = mapped_column(Text)
    account_last4: Mapped[str] = mapped_column(Text)
    ifsc: Mapped[str] = mapped_column(Text)
    bank_name: Mapped[str | None] = mapped_column(Text)
    is_primary: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'::text"))
    verified_name: Mapped[str | None] = mapped_column(Text)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[dt.datetime | None]


class Commission(Base):
    """A commission rate for one category (or, with no category, all others) over a window;
    windows of the same merchant and category never overlap (the service checks)."""

    __tablename__ = "merchant_commissions"
    __table_args__ = (
        CheckConstraint("rate_bps BETWEEN 0 AND 10000", name="rate_bps"),
        CheckConstraint("valid_until IS NULL OR valid_until > valid_from", name="window"),
        Index("ix_merchant_commissions_lookup", "merchant_id", "category_id", "valid_from"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    category_id: Mapped[uuid.UUID | None]
    rate_bps: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[dt.datetime]
    valid_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Review(Timestamped, Base):
    __tablename__ = "merchant_reviews"
    __table_args__ = (
        UniqueConstraint("user_id", "order_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
        CheckConstraint("status IN ('visible', 'hidden')", name="status"),
        # The public list: a merchant's visible reviews, newest first.
        Index("ix_merchant_reviews_merchant", "merchant_id", "created_at", "id",
              postgresql_where=text("status = 'visible'::text")),
        # The console's queue of flagged reviews.
        Index("ix_merchant_reviews_flagged", "id",
              postgresql_where=text("status = 'visible'::text AND flag_count > 0")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    outlet_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("merchant_outlets.id"))
    user_id: Mapped[uuid.UUID]
    order_id: Mapped[str] = mapped_column(Text)
    rating: Mapped[int] = mapped_column(SmallInteger)
    sub_ratings: Mapped[dict[str, Any]] = mapped_column(server_default=EMPTY_JSON)
    comment: Mapped[str | None] = mapped_column(Text)
    verified_purchase: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    response: Mapped[str | None] = mapped_column(Text)
    responded_by: Mapped[uuid.UUID | None]
    responded_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(Text, server_default=text("'visible'::text"))
    moderation_reason: Mapped[str | None] = mapped_column(Text)
    moderated_by: Mapped[uuid.UUID | None]
    moderated_at: Mapped[dt.datetime | None]
    flag_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class ReviewFlag(Base):
    __tablename__ = "merchant_review_flags"
    __table_args__ = (UniqueConstraint("review_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    review_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchant_reviews.id"))
    user_id: Mapped[uuid.UUID]
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Page(Timestamped, Base):
    __tablename__ = "cms_pages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    slug: Mapped[str] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    published_at: Mapped[dt.datetime | None]
    seo_title: Mapped[str | None] = mapped_column(Text)
    seo_description: Mapped[str | None] = mapped_column(Text)


class Redirect(Timestamped, Base):
    __tablename__ = "seo_redirects"
    __table_args__ = (
        CheckConstraint("status_code IN (301, 302)", name="status_code"),
        CheckConstraint("source_path <> target", name="not_self"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    source_path: Mapped[str] = mapped_column(Text, unique=True)
    target: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int] = mapped_column(SmallInteger, server_default=text("301"))
