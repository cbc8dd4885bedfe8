"""Catalog errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, InvalidInput, NotFound


class CategoryNotFound(NotFound):
    code = "category_not_found"
    title = "No such category"


class CategoryCycle(Conflict):
    code = "category_cycle"
    title = "A category cannot move under itself or one of its descendants"


class CategoryInUse(Conflict):
    code = "category_in_use"
    title = "The category still has subcategories or products"


class SlugTaken(Conflict):
    code = "slug_taken"
    title = "The slug is already used"


class ProductNotFound(NotFound):
    code = "product_not_found"
    title = "No such product"


class SkuTaken(Conflict):
    code = "sku_taken"
    title = "The SKU is already used by this merchant"


class InvalidPrice(InvalidInput):
    code = "invalid_price"
    title = "The price may not exceed the original price"


class UnknownAsset(InvalidInput):
    code = "unknown_asset"
    title = "No such asset: prices are in a ledger asset (INR, or a coin)"


class VariantNotFound(NotFound):
    code = "variant_not_found"
    title = "No such variant"


class InvalidVariantPrice(InvalidInput):
    code = "invalid_variant_price"
    title = "The cost price may not exceed the selling price"


class ImageNotFound(NotFound):
    code = "image_not_found"
    title = "No such image"


class InvalidReorder(InvalidInput):
    code = "invalid_reorder"
    title = "The new order must list every image of the product exactly once"


class StockNotFound(NotFound):
    code = "stock_not_found"
    title = "This product or variant has no stock record"


class OutOfStock(Conflict):
    code = "out_of_stock"
    title = "Not enough stock available"


class StockBelowReserved(Conflict):
    code = "stock_below_reserved"
    title = "Stock on hand may not go below what is reserved"


class ReservationNotFound(NotFound):
    code = "reservation_not_found"
    title = "No such reservation"


class ReservationClosed(Conflict):
    code = "reservation_closed"
    title = "The reservation is no longer pending"


class InvalidFeed(InvalidInput):
    code = "invalid_feed"
    title = "The feed cannot be read"


class EventNotFound(NotFound):
    code = "event_not_found"
    title = "No such event"


class InvalidWindow(InvalidInput):
    code = "invalid_window"
    title = "The end must come after the start"


class EventStateConflict(Conflict):
    code = "event_state_conflict"
    title = "The event cannot do that in its current state"
