"""Catalog commands and queries: categories, products, images, variants and search.

Inventory and reservations live in `stock.py`, feed imports in `imports.py` and events in
`events.py`; they are re-exported here so that other domains need only this module.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import UUID, array
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import cache, errors, feed
from gullak.catalog.common import as_json, free_slug, product, record, slug_for
from gullak.catalog.models import Category, Product, ProductImage, ProductVariant, Stock
from gullak.catalog.schemas import (
    CategoryIn,
    CategoryNode,
    CategoryOut,
    CategoryPatch,
    ImageIn,
    ImageOut,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
    StockOut,
    VariantIn,
    VariantOut,
    VariantPatch,
)
from gullak.kit import clock
from gullak.kit.errors import Forbidden, InvalidInput, NotFound
from gullak.kit.ids import uuid7
from gullak.kit.search import SIMPLE, SearchHit, SearchQuery, Suggestion
from gullak.kit.security import Subject
from gullak.kit.sql import inline
from gullak.ledger import service as ledger
from gullak.merchants import service as merchants

# An advisory lock key: category writes go one at a time, so that two concurrent moves can
# never build a cycle or leave a stale path between them.
TREE_LOCK = 0x6361745F74726565


# -- merchants --------------------------------------------------------------------------------

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


# -- categories -------------------------------------------------------------------------------

async def _category(session: AsyncSession, category_id: uuid.UUID, field: str | None = None,
                    lock: bool = False) -> Category:
    # Fresh from the database: a move rewrites paths with a plain UPDATE.
    query = select(Category).where(Category.id == category_id).execution_options(
        populate_existing=True)
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise errors.CategoryNotFound(field=field)
    return row


async def _slug_free(session: AsyncSession, slug: str, own_id: uuid.UUID | None = None) -> None:
    taken = await session.scalar(select(Category.id).where(Category.slug == slug))
    if taken is not None and taken != own_id:
        raise errors.SlugTaken(f"The category slug {slug!r} is already used.", field="slug")


async def create_category(session: AsyncSession, data: CategoryIn,
                          actor: Subject | None) -> CategoryOut:
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": TREE_LOCK})
    await _slug_free(session, data.slug)
    path: list[uuid.UUID] = []
    if data.parent_id is not None:
        parent = await _category(session, data.parent_id, "parent_id")
        path = list(parent.path)
    row = Category(**data.model_dump(), id=uuid7())
    row.path = [*path, row.id]
    row.level = len(path)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    await cache.invalidate(session)
    out = CategoryOut.model_validate(row)
    await record(session, actor, "category.create", "category", row.id, after=as_json(out))
    return out


async def get_category(session: AsyncSession, category_id: uuid.UUID) -> CategoryOut:
    return CategoryOut.model_validate(await _category(session, category_id))


async def update_category(session: AsyncSession, category_id: uuid.UUID, data: CategoryPatch,
                          actor: Subject | None) -> CategoryOut:
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": TREE_LOCK})
    row = await _category(session, category_id, lock=True)
    before = CategoryOut.model_validate(row)
    changes = data.model_dump(exclude_unset=True)
    for key in ("name", "slug", "type", "display_order", "active"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} may not be null.", field=key)
    if "slug" in changes:
        await _slug_free(session, changes["slug"], row.id)
    if "parent_id" in changes and changes["parent_id"] != row.parent_id:
        await _move(session, row, changes["parent_id"])
    changes.pop("parent_id", None)
    for key, value in changes.items():
        setattr(row, key, value)
    await session.flush()
    await session.refresh(row)
    await cache.invalidate(session)
    out = CategoryOut.model_validate(row)
    await record(session, actor, "category.update", "category", row.id,
                 before=as_json(before), after=as_json(out))
    return out


async def _move(session: AsyncSession, row: Category, parent_id: uuid.UUID | None) -> None:
    prefix: list[uuid.UUID] = []
    if parent_id is not None:
        parent = await _category(session, parent_id, "parent_id")
        if row.id in parent.path:
            raise errors.CategoryCycle(field="parent_id")
        prefix = list(parent.path)
    # Rewrite the path (and so the level) of the category and all of its descendants.
    await session.execute(text(
        "UPDATE categories SET path = CAST(:prefix AS uuid[]) || path[(:k) : cardinality(path)],"
        " level = cardinality(CAST(:prefix AS uuid[])) + cardinality(path) - :k,"
        " updated_at = now()"
        " WHERE path @> ARRAY[CAST(:id AS uuid)]"),
        {"prefix": prefix, "k": row.level + 1, "id": row.id})
    await session.execute(update(Category).where(Category.id == row.id)
                          .values(parent_id=parent_id))
    await session.refresh(row)


async def delete_category(session: AsyncSession, category_id: uuid.UUID,
                          actor: Subject | None) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": TREE_LOCK})
    row = await _category(session, category_id, lock=True)
    children = await session.scalar(select(func.count()).where(Category.parent_id == row.id))
    products = await session.scalar(select(func.count()).where(Product.category_id == row.id))
    if children or products:
        raise errors.CategoryInUse(
            f"The category has {children} subcategories and {products} products;"
            " deactivate it instead.")
    before = CategoryOut.model_validate(row)
    await session.delete(row)
    await session.flush()
    await cache.invalidate(session)
    await record(session, actor, "category.delete", "category", category_id,
                 before=as_json(before))


async def category_and_descendants(session: AsyncSession,
                                   category_id: uuid.UUID) -> list[uuid.UUID]:
    """The category's id and those of everything under it (CategoryNotFound if none)."""
    ids = list(await session.scalars(text(
        "SELECT id FROM categories WHERE path @> ARRAY[CAST(:id AS uuid)] ORDER BY level, id"),
        {"id": category_id}))
    if not ids:
        raise errors.CategoryNotFound(field="category_id")
    return ids


def subtree(category_id: uuid.UUID) -> ColumnElement[list[uuid.UUID]]:
    """For other domains' queries: the ids of the category and of everything under it, as an
    array read in the same query (an index look-up on `path`). An id the tree does not know
    stands for itself alone, so that rows naming such an id still match it."""
    below = select(func.array_agg(Category.id)).where(
        Category.path.contains([category_id])).scalar_subquery()
    return func.coalesce(below, array([category_id], type_=UUID(as_uuid=True)))


async def _all_categories(session: AsyncSession) -> list[dict[str, Any]]:
    cached = await cache.get(session)
    if cached is not None:
        return cached
    rows = await session.scalars(select(Category).order_by(
        Category.level, Category.display_order, Category.name).execution_options(
        populate_existing=True))
    flat = [CategoryOut.model_validate(r).model_dump(mode="json") for r in rows]
    await cache.put(session, flat)
    return flat


async def category_tree(session: AsyncSession, *, include_inactive: bool = False,
                        type: str | None = None) -> list[CategoryNode]:
    """The category tree, roots first, siblings by display order. Without
    `include_inactive`, an inactive category hides its whole subtree. `type` keeps the
    categories usable for offers or products ("both" fits either)."""
    nodes: dict[str, CategoryNode] = {}
    roots: list[CategoryNode] = []
    for item in await _all_categories(session):  # parents come before their children
        if not include_inactive and not item["active"]:
            continue
        if type is not None and item["type"] not in (type, "both"):
            continue
        node = CategoryNode.model_validate(item)
        nodes[item["id"]] = node
        if item["parent_id"] is None:
            roots.append(node)
        elif item["parent_id"] in nodes:
            nodes[item["parent_id"]].children.append(node)
    return roots


# -- products ---------------------------------------------------------------------------------

async def _outs(session: AsyncSession, rows: Sequence[Product]) -> list[ProductOut]:
    """Products with their images, variants and stock, in three queries for any number."""
    ids = [r.id for r in rows]
    fresh = {"populate_existing": True}  # positions and stock change by plain UPDATEs
    images: dict[uuid.UUID, list[ImageOut]] = {i: [] for i in ids}
    variants: dict[uuid.UUID, list[VariantOut]] = {i: [] for i in ids}
    stock: dict[uuid.UUID, list[StockOut]] = {i: [] for i in ids}
    if ids:
        for image in await session.scalars(select(ProductImage).where(
                ProductImage.product_id.in_(ids)).order_by(ProductImage.position),
                execution_options=fresh):
            images[image.product_id].append(ImageOut.model_validate(image))
        for variant in await session.scalars(select(ProductVariant).where(
                ProductVariant.product_id.in_(ids)).order_by(ProductVariant.selling_price,
                                                             ProductVariant.sku),
                execution_options=fresh):
            variants[variant.product_id].append(VariantOut.model_validate(variant))
        for s in await session.scalars(select(Stock).where(Stock.product_id.in_(ids)),
                                       execution_options=fresh):
            stock[s.product_id].append(StockOut(variant_id=s.variant_id, on_hand=s.on_hand,
                                                reserved=s.reserved,
                                                available=s.on_hand - s.reserved))
    return [ProductOut.model_validate(r).model_copy(update={
        "images": images[r.id], "variants": variants[r.id], "stock": stock[r.id]})
        for r in rows]


async def _out(session: AsyncSession, row: Product) -> ProductOut:
    await session.refresh(row)
    return (await _outs(session, [row]))[0]


async def _check_asset(session: AsyncSession, code: str) -> None:
    try:
        await ledger.get_asset(session, code)
    except NotFound:
        raise errors.UnknownAsset(f"No asset {code!r}.", field="asset_code") from None


def _check_prices(price: int, original: int | None) -> None:
    if original is not None and price > original:
        raise errors.InvalidPrice(field="original_price")


def _check_variant(v: VariantIn | ProductVariant) -> None:
    if v.cost_price > v.selling_price:
        raise errors.InvalidVariantPrice(field="cost_price")


async def _check_category(session: AsyncSession, category_id: uuid.UUID | None) -> None:
    if category_id is None:
        return
    category = await _category(session, category_id, "category_id")
    if category.type == "offer":
        raise InvalidInput("That category is for offers only.", code="category_not_for_products",
                           field="category_id")


async def create_product(session: AsyncSession, merchant_id: uuid.UUID, data: ProductIn,
                         actor: Subject | None, *, source: str = "manual") -> ProductOut:
    merchant = await merchants.get_merchant(session, merchant_id)
    await _check_asset(session, data.asset_code)
    _check_prices(data.price, data.original_price)
    await _check_category(session, data.category_id)
    skus = [v.sku for v in data.variants]
    if len(set(skus)) != len(skus):
        raise InvalidInput("Two variants have the same SKU.", code="duplicate_variant_sku",
                           field="variants")
    for v in data.variants:
        _check_variant(v)
    if data.variants and data.stock is not None:
        raise InvalidInput("A product with variants keeps its stock per variant.",
                           field="stock")
    if await session.scalar(select(Product.id).where(Product.merchant_id == merchant_id,
                                                     Product.sku == data.sku)):
        raise errors.SkuTaken(field="sku")
    if data.slug is not None and not await free_slug(session, merchant_id, data.slug):
        raise errors.SlugTaken(f"The product slug {data.slug!r} is already used.", field="slug")
    slug = data.slug or await slug_for(session, merchant_id, data.name, data.sku)
    row = Product(merchant_id=merchant_id, sku=data.sku, slug=slug, name=data.name,
                  description=data.description, price=data.price,
                  original_price=data.original_price, asset_code=data.asset_code,
                  category_id=data.category_id, attributes=data.attributes,
                  tags=list(dict.fromkeys(data.tags)), city=data.city or merchant.city,
                  status=data.status, source=source)
    session.add(row)
    await session.flush()
    for position, image in enumerate(data.images):
        session.add(ProductImage(product_id=row.id, url=image.url, alt=image.alt,
                                 position=position))
    for v in data.variants:
        variant = ProductVariant(product_id=row.id, **v.model_dump(exclude={"stock"}))
        session.add(variant)
        await session.flush()
        if v.stock is not None:
            session.add(Stock(product_id=row.id, variant_id=variant.id, on_hand=v.stock,
                              reserved=0))
    if data.stock is not None:
        session.add(Stock(product_id=row.id, variant_id=None, on_hand=data.stock, reserved=0))
    await session.flush()
    out = await _out(session, row)
    await record(session, actor, "product.create", "product", row.id, after=as_json(out))
    return out


async def get_product(session: AsyncSession, product_id: uuid.UUID, *,
                      merchant_id: uuid.UUID | None = None,
                      public: bool = False) -> ProductOut:
    """A product (ProductNotFound if missing, of another merchant, or, for the public,
    not on sale: inactive, or its merchant not live)."""
    row = await product(session, product_id, merchant_id)
    if public and (row.status != "active"
                   or not await merchants.is_live(session, row.merchant_id)):
        raise errors.ProductNotFound()
    return (await _outs(session, [row]))[0]


async def update_product(session: AsyncSession, product_id: uuid.UUID, data: ProductPatch,
                         actor: Subject | None, *,
                         merchant_id: uuid.UUID | None = None) -> ProductOut:
    row = await product(session, product_id, merchant_id, lock=True)
    before = (await _outs(session, [row]))[0]
    changes = data.model_dump(exclude_unset=True)
    for key in ("name", "slug", "price", "asset_code", "attributes", "tags", "status"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} may not be null.", field=key)
    if "asset_code" in changes:
        await _check_asset(session, changes["asset_code"])
    if "category_id" in changes:
        await _check_category(session, changes["category_id"])
    if "slug" in changes and not await free_slug(session, row.merchant_id, changes["slug"],
                                                  row.id):
        raise errors.SlugTaken(f"The product slug {changes['slug']!r} is already used.",
                               field="slug")
    _check_prices(changes.get("price", row.price),
                  changes.get("original_price", row.original_price))
    if "tags" in changes:
        changes["tags"] = list(dict.fromkeys(changes["tags"]))
    for key, value in changes.items():
        setattr(row, key, value)
    await session.flush()
    out = await _out(session, row)
    await record(session, actor, "product.update", "product", row.id,
                 before=as_json(before), after=as_json(out))
    return out


async def archive_product(session: AsyncSession, product_id: uuid.UUID, actor: Subject | None,
                          *, merchant_id: uuid.UUID | None = None) -> ProductOut:
    return await update_product(session, product_id, ProductPatch(status="archived"), actor,
                                merchant_id=merchant_id)


async def list_products(session: AsyncSession, merchant_id: uuid.UUID, *,
                        statuses: Sequence[str] = ("active",),
                        category_id: uuid.UUID | None = None, cursor: uuid.UUID | None = None,
                        limit: int = 20, public: bool = False) -> ProductPage:
    """A merchant's products, newest first, a page at a time (`cursor`: the last id seen).
    For the `public`, a merchant that is not live has none, as an unknown one has none."""
    if public and not await merchants.is_live(session, merchant_id):
        return ProductPage(items=[], next_cursor=None)
    query = select(Product).where(Product.merchant_id == merchant_id,
                                  Product.status.in_(list(statuses)))
    if category_id is not None:
        ids = await category_and_descendants(session, category_id)
        query = query.where(Product.category_id.in_(ids))
    if cursor is not None:
        query = query.where(Product.id < cursor)
    rows = list(await session.scalars(query.order_by(Product.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return ProductPage(items=await _outs(session, rows),
                       next_cursor=str(rows[-1].id) if more else None)


# -- images -----------------------------------------------------------------------------------

async def add_image(session: AsyncSession, product_id: uuid.UUID, data: ImageIn,
                    actor: Subject | None, *,
                    merchant_id: uuid.UUID | None = None) -> ProductOut:
    row = await product(session, product_id, merchant_id, lock=True)
    count = await session.scalar(select(func.count()).where(
        ProductImage.product_id == row.id)) or 0
    if count >= 30:
        raise InvalidInput("A product has at most 30 images.", code="too_many_images")
    image = ProductImage(product_id=row.id, url=data.url, alt=data.alt, position=count)
    session.add(image)
    await session.flush()
    await record(session, actor, "product.image_add", "product", row.id,
                 after=as_json(ImageOut.model_validate(image)))
    return await _out(session, row)


async def _renumber(session: AsyncSession, product_id: uuid.UUID,
                    order: Sequence[uuid.UUID]) -> None:
    # Two steps (out of the way, then into place), so that the unique (product, position)
    # never sees two images at one place.
    await session.execute(text(
        "UPDATE product_images SET position = position + 1000 WHERE product_id = :p"),
        {"p": product_id})
    await session.execute(text(
        "UPDATE product_images i SET position = o.n - 1"
        " FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS o(id, n)"
        " WHERE i.id = o.id AND i.product_id = :p"), {"p": product_id, "ids": list(order)})


async def _image_ids(session: AsyncSession, product_id: uuid.UUID) -> list[uuid.UUID]:
    return list(await session.scalars(select(ProductImage.id).where(
        ProductImage.product_id == product_id).order_by(ProductImage.position)))


async def remove_image(session: AsyncSession, product_id: uuid.UUID, image_id: uuid.UUID,
                       actor: Subject | None, *,
                       merchant_id: uuid.UUID | None = None) -> ProductOut:
    row = await product(session, product_id, merchant_id, lock=True)
    image = await session.scalar(select(ProductImage).where(
        ProductImage.id == image_id, ProductImage.product_id == row.id))
    if image is None:
        raise errors.ImageNotFound()
    before = ImageOut.model_validate(image)
    await session.delete(image)
    await session.flush()
    await _renumber(session, row.id, await _image_ids(session, row.id))
    await record(session, actor, "product.image_remove", "product", row.id, before=as_json(before))
    return await _out(session, row)


async def reorder_images(session: AsyncSession, product_id: uuid.UUID,
                         image_ids: Sequence[uuid.UUID], actor: Subject | None, *,
                         merchant_id: uuid.UUID | None = None) -> ProductOut:
    row = await product(session, product_id, merchant_id, lock=True)
    current = await _image_ids(session, row.id)
    if len(image_ids) != len(set(image_ids)) or set(image_ids) != set(current):
        raise errors.InvalidReorder(field="image_ids")
    await _renumber(session, row.id, image_ids)
    await record(session, actor, "product.images_reorder", "product", row.id,
                 before=[str(i) for i in current], after=[str(i) for i in image_ids])
    return await _out(session, row)


# -- variants ---------------------------------------------------------------------------------

async def add_variant(session: AsyncSession, product_id: uuid.UUID, data: VariantIn,
                      actor: Subject | None, *,
                      merchant_id: uuid.UUID | None = None) -> ProductOut:
    row = await product(session, product_id, merchant_id, lock=True)
    _check_variant(data)
    if await session.scalar(select(ProductVariant.id).where(
            ProductVariant.product_id == row.id, ProductVariant.sku == data.sku)):
        raise errors.SkuTaken("This product already has a variant with that SKU.", field="sku")
    if await session.scalar(select(Stock.id).where(Stock.product_id == row.id,
                                                   Stock.variant_id.is_(None))):
        raise InvalidInput("This product keeps its stock without variants.",
                           code="product_has_own_stock")
    variant = ProductVariant(product_id=row.id, **data.model_dump(exclude={"stock"}))
    session.add(variant)
    await session.flush()
    if data.stock is not None:
        session.add(Stock(product_id=row.id, variant_id=variant.id, on_hand=data.stock,
                          reserved=0))
    await session.flush()
    await record(session, actor, "product.variant_add", "product", row.id,
                 after=as_json(VariantOut.model_validate(variant)))
    return await _out(session, row)


async def update_variant(session: AsyncSession, product_id: uuid.UUID, variant_id: uuid.UUID,
                         data: VariantPatch, actor: Subject | None, *,
                         merchant_id: uuid.UUID | None = None) -> ProductOut:
    row = await product(session, product_id, merchant_id, lock=True)
    variant = await session.scalar(select(ProductVariant).where(
        ProductVariant.id == variant_id, ProductVariant.product_id == row.id))
    if variant is None:
        raise errors.VariantNotFound()
    before = VariantOut.model_validate(variant)
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None and key != "face_value":
            raise InvalidInput(f"{key} may not be null.", field=key)
    _check_variant(VariantIn.model_construct(**{**before.model_dump(), **changes}))
    for key, value in changes.items():
        setattr(variant, key, value)
    await session.flush()
    await record(session, actor, "product.variant_update", "product", row.id,
                 before=as_json(before), after=as_json(VariantOut.model_validate(variant)))
    return await _out(session, row)


# -- search -----------------------------------------------------------------------------------

# Ranking is over at most this many matches, so that a word in every tenth product costs no
# more than a rare one; a query that broad is refined by its user, not read to the end.
CANDIDATES = 1000
_COLUMNS = ("p.id, p.name, p.merchant_id, p.price, p.original_price, p.asset_code, p.city,"
            " p.category_id, p.tags")


def _filters(q: SearchQuery, params: dict[str, Any],
             categories: list[uuid.UUID] | None) -> str:
    # Products on sale by live merchants; the rating and the opening hours are the merchant's.
    listed = merchants.listed(literal_column("p.merchant_id"), min_rating=q.min_rating,
                              open_at=(q.at or clock.now()) if q.open_now else None)
    where = ["p.status = 'active'", inline(listed, params, "merchant")]
    if categories is not None:
        where.append("p.category_id = ANY(:categories)")
        params["categories"] = categories
    if q.city:
        # A product without a city (online, delivered) is on offer in every city.
        where.append("(p.city IS NULL OR lower(p.city) = lower(:city))")
        params["city"] = q.city
    if q.tags:
        where.append("p.tags @> CAST(:tags AS text[])")
        params["tags"] = [t.lower() for t in q.tags]
    # A price range is in money: products priced in coins are left out of it.
    if q.min_price is not None:
        where.append("p.asset_code = 'INR' AND p.price >= :min_price")
        params["min_price"] = q.min_price
    if q.max_price is not None:
        where.append("p.asset_code = 'INR' AND p.price <= :max_price")
        params["max_price"] = q.max_price
    return " AND ".join(where)


def _hit(r: Any) -> SearchHit:
    return SearchHit(kind="product", id=r.id, title=r.name, score=float(r.score),
                     merchant_id=r.merchant_id, subtitle=r.city,
                     data={"price": r.price, "original_price": r.original_price,
                           "asset_code": r.asset_code, "category_id": r.category_id,
                           "tags": list(r.tags)})


# The documents whose words discovery's spelling dictionary learns (one tsvector each): the
# names of products on sale by live merchants, as search finds them.
SEARCH_TERMS = select(func.to_tsvector(SIMPLE, Product.name)).where(
    Product.status == "active", merchants.listed(Product.merchant_id))


async def search(session: AsyncSession, q: SearchQuery) -> list[SearchHit]:
    """Active products matching the filters and, with words, the words: stemmed full text
    first, then names within typing distance of the words (pg_trgm) to fill the page. Without
    words, the newest products matching the filters."""
    limit = max(1, min(q.limit, 100))
    params: dict[str, Any] = {"limit": limit}
    categories = (await category_and_descendants(session, q.category_id)
                  if q.category_id is not None else None)
    where = _filters(q, params, categories)
    words = " ".join((q.text or "").lower().split())[:200]
    if not words:
        rows = await session.execute(text(
            f"SELECT {_COLUMNS}, 0.0 AS score FROM products p WHERE {where}"
            " ORDER BY p.id DESC LIMIT :limit"), params)
        return [_hit(r) for r in rows]
    if q.any_word:
        words = " or ".join(re.findall(r"[^\W_]+", words))
    params.update(t=words, cap=CANDIDATES)
    # Full-text matches rank above typo matches: their scores are shifted up by one.
    hits = [_hit(r) for r in await session.execute(text(
        f"SELECT * FROM (SELECT {_COLUMNS},"
        " 1 + ts_rank(p.search, websearch_to_tsquery('english', :t)) AS score"
        f" FROM products p WHERE {where} AND p.search @@ websearch_to_tsquery('english', :t)"
        " LIMIT :cap) c ORDER BY score DESC, id DESC LIMIT :limit"), params)]
    if q.fuzzy and len(hits) < limit and len(words) >= 3:
        params.update(limit=limit - len(hits), seen=[h.id for h in hits])
        # No cap here: under a LIMIT the planner would trade the trigram index for a scan.
        hits += [_hit(r) for r in await session.execute(text(
            f"SELECT {_COLUMNS}, word_similarity(:t, lower(p.name)) AS score"
            f" FROM products p WHERE {where} AND :t <% lower(p.name)"
            " AND p.id <> ALL(CAST(:seen AS uuid[]))"
            " ORDER BY score DESC, p.id DESC LIMIT :limit"), params)]
    return hits


async def autocomplete(session: AsyncSession, prefix: str, limit: int,
                       city: str | None) -> list[Suggestion]:
    """Names of products on sale that start with `prefix` (an ordered index range, however
    many match), then, to fill the list, names with a word that starts with it."""
    words = " ".join(prefix.lower().split())[:100]
    if not re.search(r"[^\W_]", words):
        return []
    limit = max(1, min(limit, 50))
    params: dict[str, Any] = {"p": words, "like": _like(words) + "%", "limit": limit}
    listed = merchants.listed(literal_column("products.merchant_id"))
    where = f"status = 'active' AND {inline(listed, params, 'merchant')}"
    if city:
        where += " AND (city IS NULL OR lower(city) = lower(:city))"
        params["city"] = city
    rows = list(await session.execute(text(
        f"SELECT id, name, 2.0 AS score FROM products WHERE {where}"
        " AND lower(name) LIKE :like ORDER BY lower(name) USING ~<~ LIMIT :limit"), params))
    if len(rows) < limit and len(words) >= 3:
        # Bounded candidates, so that a common word costs no more than a rare one.
        params.update(word=f"% {_like(words)}%", limit=limit - len(rows),
                      seen=[r.id for r in rows])
        rows += list(await session.execute(text(
            "SELECT id, name, 1 + similarity(lower(name), :p) AS score FROM ("
            f" SELECT id, name FROM products WHERE {where} AND lower(name) LIKE :word"
            " AND id <> ALL(CAST(:seen AS uuid[])) LIMIT 200) c"
            " ORDER BY score DESC, id LIMIT :limit"), params))
    return [Suggestion(kind="product", id=r.id, text=r.name, score=float(r.score))
            for r in rows]


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Re-exported: inventory, feed imports and events.
from gullak.catalog.events import (
    advance_events,
    cancel_event,
    create_event,
    get_event,
    list_events,
    schedule_event,
    update_event,
)
from gullak.catalog.imports import (
    due_feed_sources,
    import_feed,
    list_feed_imports,
    mark_feed_run,
    put_feed_source,
    record_failed_feed,
)
from gullak.catalog.stock import (
    commit_reservation,
    expire_reservations,
    get_reservation,
    release_reservation,
    reserve,
    set_stock,
)

__all__ = [
    "acting_merchant", "add_image", "add_variant", "advance_events", "archive_product",
    "autocomplete", "cancel_event", "category_and_descendants", "category_tree", "check_feed_url",
    "check_merchant", "commit_reservation", "create_category", "create_event", "create_product",
    "delete_category", "due_feed_sources", "expire_reservations", "get_category", "get_event",
    "get_product", "get_reservation", "import_feed", "list_events", "list_feed_imports",
    "list_products", "mark_feed_run", "put_feed_source", "record_failed_feed",
    "release_reservation", "remove_image", "reorder_images", "reserve", "schedule_event", "search",
    "set_stock", "subtree", "update_category", "update_event", "update_product",
    "update_variant",
]
