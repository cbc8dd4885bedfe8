"""Products and their variants: checked, written, read with their images and stock, and listed
a page at a time."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import errors
from gullak.catalog.categories import category_and_descendants, category_row
from gullak.catalog.common import as_json, free_slug, product, record, slug_for
from gullak.catalog.models import Product, ProductImage, ProductVariant, Stock
from gullak.catalog.schemas import (
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
from gullak.kit.errors import InvalidInput, NotFound
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.merchants import service as merchants


async def product_outs(session: AsyncSession, rows: Sequence[Product]) -> list[ProductOut]:
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


async def product_out(session: AsyncSession, row: Product) -> ProductOut:
    await session.refresh(row)
    return (await product_outs(session, [row]))[0]


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
    category = await category_row(session, category_id, "category_id")
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
    out = await product_out(session, row)
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
    return (await product_outs(session, [row]))[0]


async def update_product(session: AsyncSession, product_id: uuid.UUID, data: ProductPatch,
                         actor: Subject | None, *,
                         merchant_id: uuid.UUID | None = None) -> ProductOut:
    row = await product(session, product_id, merchant_id, lock=True)
    before = (await product_outs(session, [row]))[0]
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
    out = await product_out(session, row)
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
    return ProductPage(items=await product_outs(session, rows),
                       next_cursor=str(rows[-1].id) if more else None)



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
    return await product_out(session, row)


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
    return await product_out(session, row)

