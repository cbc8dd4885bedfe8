"""Catalog request and response shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, AwareDatetime, Field, StringConstraints

from gullak.kit import schemas as kit
from gullak.kit.schemas import In, JsonObject, Out

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                 kit.NAME_CHARS]
Text = Annotated[str, StringConstraints(max_length=5000), kit.MULTI_LINE]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=120)]
Sku = Annotated[str, StringConstraints(strip_whitespace=True,
                                       pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-/]{0,63}$")]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1,
                                       max_length=40), kit.ONE_LINE]
City = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80),
                 kit.ONE_LINE]
AssetCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")]
Minor = Annotated[int, Field(ge=0, le=10**15)]  # an amount in minor units of its asset
Url = Annotated[str, StringConstraints(max_length=2000), kit.ONE_LINE]

CategoryType = Literal["offer", "product", "both"]
ProductStatus = Literal["active", "inactive", "archived"]
Segment = Literal["all", "new_users", "students", "vip", "prive"]
EventKind = Literal["event", "flash_sale"]
EventStatus = Literal["draft", "scheduled", "live", "ended", "cancelled"]


# -- categories -------------------------------------------------------------------------------

class CategoryIn(In):
    name: Name
    slug: Slug
    parent_id: uuid.UUID | None = None
    type: CategoryType = "both"
    display_order: int = Field(default=0, ge=-10_000, le=10_000)
    icon_url: Url | None = None
    seo_title: Annotated[str, StringConstraints(max_length=200), kit.ONE_LINE] | None = None
    seo_description: Annotated[str, StringConstraints(max_length=500), kit.ONE_LINE] | None = None
    active: bool = True


class CategoryPatch(In):
    """Only the fields given change; `parent_id: null` moves the category to the top."""

    name: Name | None = None
    slug: Slug | None = None
    parent_id: uuid.UUID | None = None
    type: CategoryType | None = None
    display_order: int | None = Field(default=None, ge=-10_000, le=10_000)
    icon_url: Url | None = None
    seo_title: Annotated[str, StringConstraints(max_length=200), kit.ONE_LINE] | None = None
    seo_description: Annotated[str, StringConstraints(max_length=500), kit.ONE_LINE] | None = None
    active: bool | None = None


class CategoryOut(Out):
    id: uuid.UUID
    name: str
    slug: str
    parent_id: uuid.UUID | None
    level: int
    type: CategoryType
    display_order: int
    icon_url: str | None
    seo_title: str | None
    seo_description: str | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class CategoryNode(CategoryOut):
    children: list[CategoryNode] = Field(default_factory=list)


# -- products ---------------------------------------------------------------------------------

class ImageIn(In):
    url: Url
    alt: Annotated[str, StringConstraints(max_length=300), kit.ONE_LINE] | None = None


class ImageOut(Out):
    id: uuid.UUID
    url: str
    alt: str | None
    position: int


class VariantIn(In):
    sku: Sku
    name: Name
    cost_price: Minor
    selling_price: Minor
    face_value: Minor | None = None  # a gift card's denomination
    active: bool = True
    stock: int | None = Field(default=None, ge=0, le=10**9)  # on hand


class VariantPatch(In):
    name: Name | None = None
    cost_price: Minor | None = None
    selling_price: Minor | None = None
    face_value: Minor | None = None
    active: bool | None = None


class VariantOut(Out):
    id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    name: str
    cost_price: int
    selling_price: int
    face_value: int | None
    active: bool


class ProductIn(In):
    sku: Sku
    name: Name
    slug: Slug | None = None  # from the name when not given
    description: Text | None = None
    price: Minor
    original_price: Minor | None = None
    asset_code: AssetCode = "INR"
    category_id: uuid.UUID | None = None
    attributes: JsonObject = Field(default_factory=dict)
    tags: list[Tag] = Field(default_factory=list, max_length=30)
    city: City | None = None
    images: list[ImageIn] = Field(default_factory=list, max_length=30)
    variants: list[VariantIn] = Field(default_factory=list, max_length=100)
    # On hand, for a product without variants (with variants, each variant has its own).
    stock: int | None = Field(default=None, ge=0, le=10**9)
    status: Literal["active", "inactive"] = "active"


class ProductPatch(In):
    name: Name | None = None
    slug: Slug | None = None
    description: Text | None = None
    price: Minor | None = None
    original_price: Minor | None = None
    asset_code: AssetCode | None = None
    category_id: uuid.UUID | None = None
    attributes: JsonObject | None = None
    tags: list[Tag] | None = Field(default=None, max_length=30)
    city: City | None = None
    status: ProductStatus | None = None


class StockOut(Out):
    variant_id: uuid.UUID | None
    on_hand: int
    reserved: int
    available: int


class ProductFields(Out):
    """What every reader of a product sees."""

    id: uuid.UUID
    merchant_id: uuid.UUID
    sku: str
    slug: str
    name: str
    description: str | None
    price: int
    original_price: int | None
    asset_code: str
    category_id: uuid.UUID | None
    attributes: dict[str, Any]
    tags: list[str]
    city: str | None


class ProductOut(ProductFields):
    status: ProductStatus
    images: list[ImageOut] = Field(default_factory=list)
    variants: list[VariantOut] = Field(default_factory=list)
    stock: list[StockOut] = Field(default_factory=list)
    created_at: dt.datetime
    updated_at: dt.datetime


class ProductPage(Out):
    items: list[ProductOut]
    next_cursor: str | None = None


class PublicVariantOut(Out):
    """A variant as shoppers see it: no cost price."""

    id: uuid.UUID
    sku: str
    name: str
    selling_price: int
    face_value: int | None
    active: bool


class PublicStockOut(Out):
    variant_id: uuid.UUID | None
    available: int


class PublicProductOut(ProductFields):
    """A product as shoppers see it: no cost prices, only what is available."""

    images: list[ImageOut]
    variants: list[PublicVariantOut]
    stock: list[PublicStockOut]


class PublicProductPage(Out):
    items: list[PublicProductOut]
    next_cursor: str | None = None


class ReorderIn(In):
    image_ids: list[uuid.UUID] = Field(min_length=1, max_length=30)


# -- inventory --------------------------------------------------------------------------------

class StockIn(In):
    variant_id: uuid.UUID | None = None
    on_hand: int = Field(ge=0, le=10**9)


class ReserveIn(In):
    product_id: uuid.UUID
    variant_id: uuid.UUID | None = None
    quantity: int = Field(ge=1, le=10_000)
    ttl_seconds: int = Field(default=900, ge=10, le=7 * 86_400)
    # e.g. an order id
    reference: Annotated[str, StringConstraints(max_length=200), kit.ONE_LINE] | None = None


class ReservationOut(Out):
    id: uuid.UUID
    product_id: uuid.UUID
    variant_id: uuid.UUID | None
    quantity: int
    status: Literal["pending", "committed", "released", "expired"]
    reference: str | None
    expires_at: dt.datetime
    created_at: dt.datetime
    resolved_at: dt.datetime | None


# -- feed import ------------------------------------------------------------------------------

FeedFormat = Literal["csv", "json"]


class FeedRowError(Out):
    row: int  # 1-based data row (CSV: the header is not counted)
    sku: str | None
    field: str | None
    message: str


class FeedReportOut(Out):
    id: uuid.UUID
    merchant_id: uuid.UUID
    format: FeedFormat
    source: str
    full: bool
    rows: int
    created: int
    updated: int
    removed: int
    unchanged: int
    failed: int
    errors: list[FeedRowError]
    note: str = ("Rows with errors were skipped and the other rows applied; a product whose row "
                 "failed is neither changed nor removed.")
    created_at: dt.datetime


class FeedUrlIn(In):
    url: AnyHttpUrl
    format: FeedFormat
    full: bool = True


# -- events -----------------------------------------------------------------------------------

class EventIn(In):
    title: Name
    slug: Slug
    kind: EventKind = "event"
    description: Text | None = None
    banner_url: Url | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    cities: list[City] = Field(default_factory=list, max_length=200)  # empty: everywhere
    segments: list[Segment] = Field(default=["all"], min_length=1)  # pydantic copies it
    featured_merchant_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    discount_percent: int | None = Field(default=None, ge=1, le=100)  # a flash sale's headline


class EventPatch(In):
    title: Name | None = None
    description: Text | None = None
    banner_url: Url | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    cities: list[City] | None = Field(default=None, max_length=200)
    segments: list[Segment] | None = Field(default=None, min_length=1)
    featured_merchant_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    discount_percent: int | None = Field(default=None, ge=1, le=100)


class EventOut(Out):
    id: uuid.UUID
    title: str
    slug: str
    kind: EventKind
    description: str | None
    banner_url: str | None
    status: EventStatus
    starts_at: dt.datetime
    ends_at: dt.datetime
    cities: list[str]
    segments: list[str]
    featured_merchant_ids: list[uuid.UUID]
    discount_percent: int | None
    cancel_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CancelIn(In):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=500), kit.ONE_LINE]


class SaleLine(Out):
    """What a checkout needs of one item on sale: its name, code and price now."""

    product_id: uuid.UUID
    merchant_id: uuid.UUID
    variant_id: uuid.UUID | None
    sku: str
    name: str
    unit_price: int
    asset_code: str
