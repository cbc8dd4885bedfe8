"""Catalog tables.

`merchant_id` and featured merchant ids are ids of the merchants domain: checked through its
service, never a foreign key into its tables. Likewise `asset_code` names a ledger asset.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped
from gullak.kit.ids import uuid7

EMPTY_JSON = text("'{}'::jsonb")
EMPTY_ARRAY = text("'{}'::text[]")

# Names weigh more than descriptions; 'english' stems so "shoes" finds "shoe".
PRODUCT_SEARCH = ("setweight(to_tsvector('english'::regconfig, name), 'A') || "
                  "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')")


class Category(Timestamped, Base):
    __tablename__ = "categories"
    __table_args__ = (
        Index("ix_categories_parent", "parent_id", "display_order"),
        Index("ix_categories_path", "path", postgresql_using="gin"),
        CheckConstraint("type IN ('offer', 'product', 'both')", name="type"),
        CheckConstraint("level = cardinality(path) - 1", name="level"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("categories.id"))
    # Ids from the root down to this category itself: descendants and cycles in one look-up.
    path: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)))
    level: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(Text, unique=True)
    type: Mapped[str] = mapped_column(Text, server_default=text("'both'::text"))
    display_order: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    icon_url: Mapped[str | None] = mapped_column(Text)
    seo_title: Mapped[str | None] = mapped_column(Text)
    seo_description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class Product(Timestamped, Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("merchant_id", "sku"),
        UniqueConstraint("merchant_id", "slug"),
        Index("ix_products_merchant", "merchant_id", "id"),
        Index("ix_products_category", "category_id"),
        Index("ix_products_search", "search", postgresql_using="gin"),
        Index("ix_products_name_trgm", func.lower(text("name")), postgresql_using="gin",
              postgresql_ops={"lower(name)": "gin_trgm_ops"}),
        # Pattern order, so that a name prefix is an index range read in order (autocomplete).
        Index("ix_products_name_prefix", func.lower(text("name")),
              postgresql_ops={"lower(name)": "text_pattern_ops"}),
        Index("ix_products_tags", "tags", postgresql_using="gin"),
        CheckConstraint("price >= 0", name="price"),
        CheckConstraint("original_price IS NULL OR price <= original_price",
                        name="price_not_above_original"),
        CheckConstraint("status IN ('active', 'inactive', 'archived')", name="status"),
        CheckConstraint("source IN ('manual', 'feed')", name="source"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID]
    sku: Mapped[str] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    price: Mapped[int] = mapped_column(BigInteger)
    original_price: Mapped[int | None] = mapped_column(BigInteger)
    asset_code: Mapped[str] = mapped_column(Text, server_default=text("'INR'::text"))
    category_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("categories.id"))
    attributes: Mapped[dict[str, Any]] = mapped_column(server_default=EMPTY_JSON)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=EMPTY_ARRAY)
    city: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'::text"))
    source: Mapped[str] = mapped_column(Text, server_default=text("'manual'::text"))
    search: Mapped[Any] = mapped_column(TSVECTOR, Computed(PRODUCT_SEARCH, persisted=True))


class ProductImage(Base):
    __tablename__ = "product_images"
    __table_args__ = (
        UniqueConstraint("product_id", "position"),
        CheckConstraint("position >= 0", name="position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    alt: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class ProductVariant(Timestamped, Base):
    __tablename__ = "product_variants"
    __table_args__ = (
        UniqueConstraint("product_id", "sku"),
        CheckConstraint("cost_price >= 0 AND cost_price <= selling_price", name="cost"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    cost_price: Mapped[int] = mapped_column(BigInteger)
    selling_price: Mapped[int] = mapped_column(BigInteger)
    face_value: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class Stock(Base):
    """Inventory of a variant, or of a product without variants (variant_id NULL)."""

    __tablename__ = "inventory"
    __table_args__ = (
        Index("uq_inventory_product", "product_id", unique=True,
              postgresql_where=text("variant_id IS NULL")),
        Index("uq_inventory_variant", "variant_id", unique=True,
              postgresql_where=text("variant_id IS NOT NULL")),
        # The database itself refuses to oversell, whatever the code above it does.
        CheckConstraint("on_hand >= 0", name="on_hand"),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    variant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("product_variants.id", ondelete="CASCADE"))
    on_hand: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    reserved: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(),
                                                    onupdate=func.now())


class Reservation(Base):
    __tablename__ = "inventory_reservations"
    __table_args__ = (
        Index("ix_inventory_reservations_pending", "expires_at",
              postgresql_where=text("status = 'pending'")),
        Index("ix_inventory_reservations_stock", "stock_id"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("status IN ('pending', 'committed', 'released', 'expired')",
                        name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    stock_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inventory.id", ondelete="CASCADE"))
    product_id: Mapped[uuid.UUID]
    variant_id: Mapped[uuid.UUID | None]
    quantity: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'::text"))
    reference: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime]
    resolved_at: Mapped[dt.datetime | None]


class FeedImport(Base):
    """The report of one product feed import."""

    __tablename__ = "product_feed_imports"
    __table_args__ = (Index("ix_product_feed_imports_merchant", "merchant_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    merchant_id: Mapped[uuid.UUID]
    format: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)  # "upload" or the feed's URL
    full: Mapped[bool] = mapped_column(Boolean)
    rows: Mapped[int] = mapped_column(Integer)
    created: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    removed: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    created_at: Mapped[dt.datetime]


class FeedSource(Timestamped, Base):
    """Where a merchant's nightly feed is fetched from."""

    __tablename__ = "product_feed_sources"
    __table_args__ = (CheckConstraint("format IN ('csv', 'json')", name="format"),)

    merchant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(Text)
    full: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    last_run_at: Mapped[dt.datetime | None]


class Event(Timestamped, Base):
    """Events and flash sales (ReZ `events`)."""

    __tablename__ = "catalog_events"
    __table_args__ = (
        Index("ix_catalog_events_due", "status", "starts_at"),
        Index("ix_catalog_events_cities", "cities", postgresql_using="gin"),
        CheckConstraint("ends_at > starts_at", name="window"),
        CheckConstraint("status IN ('draft', 'scheduled', 'live', 'ended', 'cancelled')",
                        name="status"),
        CheckConstraint("kind IN ('event', 'flash_sale')", name="kind"),
        CheckConstraint("discount_percent BETWEEN 1 AND 100", name="discount"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    title: Mapped[str] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[str] = mapped_column(Text, server_default=text("'event'::text"))
    description: Mapped[str | None] = mapped_column(Text)
    banner_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'draft'::text"))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    cities: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=EMPTY_ARRAY)
    segments: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{all}'::text[]"))
    featured_merchant_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), server_default=text("'{}'::uuid[]"))
    discount_percent: Mapped[int | None] = mapped_column(Integer)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
