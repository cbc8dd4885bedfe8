"""Catalog commands and queries, the domain's public face: acting for a merchant here;
categories, products and their variants, images, search, inventory and reservations, feed
imports and events in their own modules, all re-exported here so that other domains need only
this module. Services never commit; the caller's unit of work does."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import feed
from gullak.catalog.categories import (
    TREE_LOCK,
    category_and_descendants,
    category_tree,
    create_category,
    delete_category,
    get_category,
    subtree,
    update_category,
)
from gullak.catalog.events import (
    advance_events,
    cancel_event,
    create_event,
    get_event,
    list_events,
    schedule_event,
    update_event,
)
from gullak.catalog.images import add_image, remove_image, reorder_images
from gullak.catalog.imports import (
    due_feed_sources,
    import_feed,
    list_feed_imports,
    mark_feed_run,
    put_feed_source,
    record_failed_feed,
)
from gullak.catalog.models import Product
from gullak.catalog.products import (
    add_variant,
    archive_product,
    create_product,
    get_product,
    list_products,
    update_product,
    update_variant,
)
from gullak.catalog.schemas import ProductOut
from gullak.catalog.search import CANDIDATES, SEARCH_TERMS, autocomplete, search
from gullak.catalog.stock import (
    commit_reservation,
    expire_reservations,
    get_reservation,
    release_reservation,
    reserve,
    sale_line,
    set_stock,
)
from gullak.kit.browse import Browse, Page, page
from gullak.kit.errors import Forbidden
from gullak.kit.security import Subject
from gullak.merchants import service as merchants


def acting_merchant(subject: Subject) -> uuid.UUID:
    """The merchant a merchant user acts for; anyone else is refused."""
    merchant_id = merchants.merchant_of(subject)
    if merchant_id is None:
        raise Forbidden("Only a merchant's own users manage its products.",
                        code="not_a_merchant_user")
    return merchant_id


async def check_merchant(session: AsyncSession, merchant_id: uuid.UUID) -> None:
    await merchants.get_merchant(session, merchant_id)


async def check_feed_url(url: str) -> None:
    """InvalidFeed for a URL the server must not fetch (not http(s), or a private host)."""
    await feed.check_url(url, resolve=False)


__all__ = [
    "CANDIDATES", "SEARCH_TERMS", "TREE_LOCK", "acting_merchant", "add_image", "add_variant",
    "advance_events", "archive_product", "autocomplete", "cancel_event",
    "category_and_descendants", "category_tree", "check_feed_url", "check_merchant",
    "commit_reservation", "create_category", "create_event", "create_product",
    "delete_category", "due_feed_sources", "expire_reservations", "get_category", "get_event",
    "get_product", "get_reservation", "import_feed", "list_events", "list_feed_imports",
    "list_products", "mark_feed_run", "put_feed_source", "record_failed_feed",
    "release_reservation", "remove_image", "reorder_images", "reserve", "sale_line",
    "schedule_event",
    "search", "set_stock", "subtree", "update_category", "update_event", "update_product",
    "update_variant",
]


async def browse_products(session: AsyncSession, browse: Browse, *,
                          merchant_id: uuid.UUID | None = None,
                          category_id: uuid.UUID | None = None, status: str | None = None,
                          q: str | None = None) -> Page:
    """Products of every merchant for the console's table (kit.browse: sort by name, price or
    created_at); a category takes in its subcategories. Rows are ProductOut without images,
    variants or stock (get_product has those)."""
    query = select(Product)
    if merchant_id is not None:
        query = query.where(Product.merchant_id == merchant_id)
    if category_id is not None:
        query = query.where(Product.category_id.in_(
            await category_and_descendants(session, category_id)))
    if status is not None:
        query = query.where(Product.status == status)
    if q:
        query = query.where(Product.name.icontains(q, autoescape=True))
    found = await page(session, query, browse, Product.id, {
        "name": Product.name, "price": Product.price, "created_at": Product.created_at})
    return Page([ProductOut.model_validate(p) for p in found.rows], found.next_cursor)
