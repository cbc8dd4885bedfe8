"""Offers tables.

`merchant_id`, `outlet_ids` and `category_id` are ids of the merchants and catalog domains,
checked through their services, never foreign keys into their tables; `user_id` likewise.
Views and clicks are partitioned by month (see the migration and `service.ensure_partitions`);
their partitions live in the `offer_partitions` schema, so that only the parents are ours to
compare with the models.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Computed,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped, one_of
from gullak.kit.ids import uuid7

EMPTY_TEXTS = text("'{}'::text[]")
EMPTY_UUIDS = text("'{}'::uuid[]")
TYPES = ("discount_percent", "discount_fixed", "bogo", "freebie", "cashback", "coupon_code",
         "deal", "sale")
STATUSES = ("draft", "pending", "active", "paused", "expired", "rejected")
# Offers that are, or may still become, redeemable: a coupon code is unique among these.
LIVE_STATUSES = ("draft", "pending", "active", "paused")
REDEMPTION_STATUSES = ("pending", "completed", "cancelled", "refunded")
# Titles weigh more than codes and tags, those more than descriptions; 'english' stems
# "pizzas". Tags come in through `keywords` (an array cannot feed a generated column).
OFFER_SEARCH = ("setweight(to_tsvector('english'::regconfig, title), 'A') || "
                "setweight(to_tsvector('simple'::regconfig, coalesce(coupon_code, '')), 'B') || "
                "setweight(to_tsvector('english'::regconfig, keywords), 'B') || "
                "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')")



class Offer(Timestamped, Base):
    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint(one_of("type", TYPES), name="type"),
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint("valid_until > valid_from", name="window"),
        CheckConstraint("discount_kind IN ('percent', 'fixed')", name="discount_kind"),
        CheckConstraint("cashback_kind IN ('percent', 'fixed')", name="cashback_kind"),
        CheckConstraint("discount_kind <> 'percent' OR discount_value BETWEEN 1 AND 10000",
                        name="discount_percent"),
        CheckConstraint("cashback_kind <> 'percent' OR cashback_value BETWEEN 1 AND 10000",
                        name="cashback_percent"),
        CheckConstraint("min_order_value >= 0 AND coins_required >= 0 AND coins_earned >= 0"
                        " AND branded_coins_earned >= 0", name="amounts"),
        CheckConstraint("redemptions_count >= 0 AND (total_limit IS NULL"
                        " OR redemptions_count <= total_limit)", name="redemptions"),
        CheckConstraint("type <> 'coupon_code' OR coupon_code IS NOT NULL", name="coupon_code"),
        Index("ix_offers_merchant", "merchant_id", "id"),
        # The console's approval queue and the count beside it on every page.
        Index("ix_offers_pending", "id", postgresql_where=text("status = 'pending'::text")),
        Index("ix_offers_active", "valid_until", "valid_from",
              postgresql_where=text("status = 'active'::text")),
        Index("ix_offers_open_until", "valid_until",
              postgresql_where=text("status = ANY (ARRAY['draft'::text, 'pending'::text,"
                                    " 'active'::text, 'paused'::text])")),
        Index("uq_offers_coupon_code", func.lower(text("coupon_code")), unique=True,
              postgresql_where=text("coupon_code IS NOT NULL AND status = ANY (ARRAY["
                                    "'draft'::text, 'pending'::text, 'active'::text,"
                                    " 'paused'::text])")),
        # Users search only active offers: the search indexes hold nothing else.
        Index("ix_offers_search", "search_vector", postgresql_using="gin",
              postgresql_where=text("status = 'active'::text")),
        Index("ix_offers_title_trgm", "title", postgresql_using="gin",
              postgresql_ops={"title": "gin_trgm_ops"},
              postgresql_where=text("status = 'active'::text")),
        Index("ix_offers_cities", "cities", postgresql_using="gin",
              postgresql_where=text("status = 'active'::text")),
        Index("ix_offers_tags", "tags", postgresql_using="gin",
              postgresql_where=text("status = 'active'::text")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID]
    category_id: Mapped[uuid.UUID | None]
    type: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    terms: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    banner_url: Mapped[str | None] = mapped_column(Text)
    coupon_code: Mapped[str | None] = mapped_column(Text)
    # Percent values are basis points (1..10000); fixed values and caps are minor units.
    discount_kind: Mapped[str | None] = mapped_column(Text)
    discount_value: Mapped[int | None]
    max_discount: Mapped[int | None]
    cashback_kind: Mapped[str | None] = mapped_column(Text)
    cashback_value: Mapped[int | None]
    max_cashback: Mapped[int | None]
    bogo_buy: Mapped[int | None] = mapped_column(Integer)
    bogo_get: Mapped[int | None] = mapped_column(Integer)
    freebie_item: Mapped[str | None] = mapped_column(Text)
    min_order_value: Mapped[int] = mapped_column(server_default=text("0"))
    coins_required: Mapped[int] = mapped_column(server_default=text("0"))
    coins_earned: Mapped[int] = mapped_column(server_default=text("0"))
    branded_coins_earned: Mapped[int] = mapped_column(server_default=text("0"))
    branded_asset_code: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[dt.datetime]
    valid_until: Mapped[dt.datetime]
    weekdays: Mapped[list[str] | None] = mapped_column(ARRAY(Text))  # None: every day
    hours: Mapped[list[Any] | None] = mapped_column(JSONB)  # None: all day
    total_limit: Mapped[int | None] = mapped_column(Integer)
    per_user_limit: Mapped[int | None] = mapped_column(Integer)
    # Redemptions holding a slot (pending or completed): the total limit counts these.
    redemptions_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    segments: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text(
        "'{all}'::text[]"))
    audience_tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=EMPTY_TEXTS)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=EMPTY_TEXTS)
    cities: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=EMPTY_TEXTS)
    min_level: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    outlet_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)),
                                                        server_default=EMPTY_UUIDS)
    status: Mapped[str] = mapped_column(Text, server_default=text("'draft'::text"))
    status_reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime | None]
    reviewed_by: Mapped[uuid.UUID | None]
    reviewed_at: Mapped[dt.datetime | None]
    is_featured: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    boosted_until: Mapped[dt.datetime | None]
    display_priority: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_by: Mapped[uuid.UUID | None]
    keywords: Mapped[str] = mapped_column(Text, server_default=text("''::text"))  # the tags
    search_vector: Mapped[Any] = mapped_column(TSVECTOR, Computed(OFFER_SEARCH, persisted=True))


class Redemption(Base):
    __tablename__ = "offer_redemptions"
    __table_args__ = (
        CheckConstraint(one_of("status", REDEMPTION_STATUSES), name="status"),
        CheckConstraint("original_amount >= 0 AND discount_amount >= 0 AND final_amount >= 0"
                        " AND coins_used >= 0 AND coins_earned >= 0 AND cashback_coins >= 0"
                        " AND branded_coins_earned >= 0", name="amounts"),
        UniqueConstraint("code"),
        UniqueConstraint("user_id", "idempotency_key"),
        Index("ix_offer_redemptions_user", "user_id", "id"),
        Index("ix_offer_redemptions_merchant", "merchant_id", "id"),
        Index("ix_offer_redemptions_offer", "offer_id", "status"),
        Index("ix_offer_redemptions_pending", "expires_at",
              postgresql_where=text("status = 'pending'::text")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    code: Mapped[str] = mapped_column(Text)  # shown at the counter
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offers.id"))
    user_id: Mapped[uuid.UUID]
    merchant_id: Mapped[uuid.UUID]
    outlet_id: Mapped[uuid.UUID | None]
    order_ref: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'::text"))
    original_amount: Mapped[int]
    discount_amount: Mapped[int]
    final_amount: Mapped[int]
    item_count: Mapped[int] = mapped_column(Integer)
    coins_used: Mapped[int] = mapped_column(server_default=text("0"))
    coins_earned: Mapped[int] = mapped_column(server_default=text("0"))
    cashback_coins: Mapped[int] = mapped_column(server_default=text("0"))
    branded_coins_earned: Mapped[int] = mapped_column(server_default=text("0"))
    branded_asset_code: Mapped[str | None] = mapped_column(Text)
    hold_id: Mapped[uuid.UUID | None]
    spend_transfer_id: Mapped[uuid.UUID | None]
    earn_transfer_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)),
                                                               server_default=EMPTY_UUIDS)
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_hash: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime]
    completed_at: Mapped[dt.datetime | None]
    cancelled_at: Mapped[dt.datetime | None]
    refunded_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(),
                                                    onupdate=func.now())


class UserRedemptions(Base):
    """Per user and offer, the redemptions holding a slot: the per-user limit's counter."""

    __tablename__ = "offer_user_redemptions"
    __table_args__ = (CheckConstraint("count >= 0", name="count"),)

    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offers.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class Save(Base):
    __tablename__ = "offer_saves"
    __table_args__ = (Index("ix_offer_saves_offer", "offer_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offers.id"), primary_key=True)
    created_at: Mapped[dt.datetime]


class Share(Base):
    __tablename__ = "offer_shares"
    __table_args__ = (Index("ix_offer_shares_offer", "offer_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offers.id"))
    user_id: Mapped[uuid.UUID]
    channel: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class View(Base):
    """Append-only and the most written: partitioned by month of `created_at`, which is
    therefore part of the key. No foreign key: the offer is checked when the view is written."""

    __tablename__ = "offer_views"
    __table_args__ = (
        PrimaryKeyConstraint("id", "created_at"),
        Index("ix_offer_views_offer", "offer_id", "created_at"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(default=uuid7)
    created_at: Mapped[dt.datetime]
    offer_id: Mapped[uuid.UUID]
    merchant_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID | None]
    source: Mapped[str | None] = mapped_column(Text)
    # A keyed hash of the client's address: enough to count unique viewers, not to find them.
    client_hash: Mapped[str | None] = mapped_column(Text)


class Click(Base):
    """A click out to the merchant. `id` is the click id carried in the tracking URL; being a
    time-ordered UUID, it also tells which month's partition holds it."""

    __tablename__ = "offer_clicks"
    __table_args__ = (
        PrimaryKeyConstraint("id", "created_at"),
        Index("ix_offer_clicks_offer", "offer_id", "created_at"),
        Index("ix_offer_clicks_user", "user_id", "created_at"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(default=uuid7)
    created_at: Mapped[dt.datetime]
    offer_id: Mapped[uuid.UUID]
    merchant_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID | None]
    tracking_url: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    device_type: Mapped[str | None] = mapped_column(Text)
    client_hash: Mapped[str | None] = mapped_column(Text)
