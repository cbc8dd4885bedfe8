"""Product feed imports (FitKart-style nightly sync), idempotent by SKU.

Each row is checked and applied on its own, in a savepoint: a bad row is reported with its
number and skipped, the good rows are applied. A row that matches the product as it is counts
as unchanged and writes nothing, so the same feed twice changes nothing the second time. In a
full feed, the merchant's products whose SKU is missing are archived ("removed"); a SKU whose
row failed is not missing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import feed
from gullak.catalog.common import record, slug_for
from gullak.catalog.feed import FeedRow, ParsedRow
from gullak.catalog.models import (
    Category,
    FeedImport,
    FeedSource,
    Product,
    ProductImage,
    ProductVariant,
    Stock,
)
from gullak.catalog.schemas import FeedReportOut, FeedRowError, FeedUrlIn
from gullak.kit import clock
from gullak.kit.errors import GullakError
from gullak.kit.ids import uuid7
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.merchants import service as merchants


class RowFailed(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class Current:
    product: Product
    images: list[str] = field(default_factory=list)
    on_hand: int | None = None
    has_variants: bool = False


@dataclass
class Lookups:
    categories: dict[str, Category]
    assets: dict[str, bool]  # code -> exists
    default_asset: str


async def _current(session: AsyncSession, merchant_id: uuid.UUID) -> dict[str, Current]:
    products = {p.id: Current(p) for p in await session.scalars(
        select(Product).where(Product.merchant_id == merchant_id).with_for_update())}
    ids = list(products)
    if ids:
        for image in await session.scalars(select(ProductImage).where(
                ProductImage.product_id.in_(ids)).order_by(ProductImage.position)):
            products[image.product_id].images.append(image.url)
        for s in await session.scalars(select(Stock).where(Stock.product_id.in_(ids),
                                                           Stock.variant_id.is_(None))):
            products[s.product_id].on_hand = s.on_hand
        for product_id in await session.scalars(select(ProductVariant.product_id).where(
                ProductVariant.product_id.in_(ids)).distinct()):
            products[product_id].has_variants = True
    return {c.product.sku: c for c in products.values()}


async def _lookups(session: AsyncSession, rows: list[ParsedRow], default_asset: str) -> Lookups:
    slugs = {r.row.category for r in rows if r.row and r.row.category}
    categories = {c.slug: c for c in await session.scalars(
        select(Category).where(Category.slug.in_(slugs)))} if slugs else {}
    assets: dict[str, bool] = {}
    for code in {default_asset} | {r.row.asset_code for r in rows if r.row and r.row.asset_code}:
        try:
            await ledger.get_asset(session, code)
            assets[code] = True
        except GullakError:
            assets[code] = False
    return Lookups(categories, assets, default_asset)


def _desired(row: FeedRow, lookups: Lookups) -> dict[str, Any]:
    asset = row.asset_code or lookups.default_asset
    if not lookups.assets.get(asset):
        raise RowFailed("asset_code", f"No such asset {asset!r}.")
    if row.original_price is not None and row.price > row.original_price:
        raise RowFailed("original_price", "The price may not exceed the original price.")
    category_id = None
    if row.category:
        category = lookups.categories.get(row.category)
        if category is None:
            raise RowFailed("category", f"No category with the slug {row.category!r}.")
        if category.type == "offer":
            raise RowFailed("category", "That category is for offers only.")
        category_id = category.id
    return {"name": row.name, "description": row.description, "price": row.price,
            "original_price": row.original_price, "asset_code": asset,
            "category_id": category_id, "attributes": row.attributes,
            "tags": list(dict.fromkeys(row.tags)), "status": row.status}


def _same(current: Current, desired: dict[str, Any], row: FeedRow) -> bool:
    p = current.product
    return (all(getattr(p, k) == v for k, v in desired.items())
            and current.images == row.image_urls
            and (row.stock is None or current.on_hand == row.stock))


async def _set_images(session: AsyncSession, product_id: uuid.UUID, urls: list[str]) -> None:
    await session.execute(delete(ProductImage).where(ProductImage.product_id == product_id))
    for position, url in enumerate(urls):
        session.add(ProductImage(product_id=product_id, url=url, position=position))


async def _set_stock(session: AsyncSession, current: Current | None, product_id: uuid.UUID,
                     on_hand: int) -> None:
    if current is not None and current.has_variants:
        raise RowFailed("stock", "This product keeps its stock per variant.")
    row = (await session.execute(text(
        "INSERT INTO inventory (id, product_id, variant_id, on_hand, reserved)"
        " VALUES (:id, :p, NULL, :n, 0)"
        " ON CONFLICT (product_id) WHERE variant_id IS NULL DO UPDATE"
        " SET on_hand = EXCLUDED.on_hand, updated_at = now()"
        " WHERE inventory.reserved <= EXCLUDED.on_hand RETURNING id"),
        {"id": uuid7(), "p": product_id, "n": on_hand})).first()
    if row is None:
        raise RowFailed("stock", "Stock on hand may not go below what is reserved.")


async def _apply(session: AsyncSession, merchant_id: uuid.UUID, city: str | None,
                 row: FeedRow, desired: dict[str, Any], current: Current | None) -> str:
    """Create or update one product; returns "created", "updated" or "unchanged"."""
    if current is not None and _same(current, desired, row):
        return "unchanged"
    async with session.begin_nested():
        if current is None:
            product = Product(merchant_id=merchant_id, sku=row.sku, city=city, source="feed",
                              slug=await slug_for(session, merchant_id, row.name, row.sku),
                              **desired)
            session.add(product)
            await session.flush()
        else:
            product = current.product
            for key, value in desired.items():
                setattr(product, key, value)
        if current is None or current.images != row.image_urls:
            await _set_images(session, product.id, row.image_urls)
        if row.stock is not None and (current is None or current.on_hand != row.stock):
            await _set_stock(session, current, product.id, row.stock)
        await session.flush()
    return "created" if current is None else "updated"


async def import_feed(session: AsyncSession, merchant_id: uuid.UUID, body: bytes | str,
                      fmt: str, *, full: bool = True, source: str = "upload",
                      default_asset: str = "INR", actor: Subject | None = None) -> FeedReportOut:
    """Apply a feed of the merchant's products; see the module's note for the rules."""
    merchant = await merchants.get_merchant(session, merchant_id)
    parsed = feed.parse(body, fmt)
    current = await _current(session, merchant_id)
    lookups = await _lookups(session, parsed, default_asset)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    problems: list[FeedRowError] = []
    first_row: dict[str, int] = {}
    for item in parsed:
        if item.sku is not None and item.sku in first_row:
            problems.append(feed.row_error(item, "sku", f"The SKU is already in row "
                                                        f"{first_row[item.sku]}."))
            continue
        if item.sku is not None:
            first_row[item.sku] = item.number
        if item.row is None:
            assert item.error is not None
            problems.append(item.error)
            continue
        try:
            desired = _desired(item.row, lookups)
            outcome = await _apply(session, merchant_id, merchant.city, item.row, desired,
                                   current.get(item.row.sku))
        except RowFailed as exc:
            problems.append(feed.row_error(item, exc.field, exc.message))
            continue
        counts[outcome] += 1
    removed = 0
    if full:
        result = await session.execute(text(
            "UPDATE products SET status = 'archived', updated_at = now()"
            " WHERE merchant_id = :m AND status <> 'archived' AND NOT (sku = ANY(:present))"),
            {"m": merchant_id, "present": list(first_row)})
        removed = int(result.rowcount or 0)  # type: ignore[attr-defined]
    report = FeedImport(id=uuid7(), merchant_id=merchant_id, format=fmt, source=source,
                        full=full, rows=len(parsed), removed=removed, failed=len(problems),
                        errors=[p.model_dump() for p in problems], created_at=clock.now(),
                        **counts)
    session.add(report)
    await session.flush()
    for existing in current.values():  # archived by a plain UPDATE above
        session.expire(existing.product)
    out = FeedReportOut.model_validate(report)
    await record(session, actor, "product.feed_import", "merchant", merchant_id,
                 after=out.model_dump(mode="json", exclude={"errors", "note"}))
    return out


async def record_failed_feed(session: AsyncSession, merchant_id: uuid.UUID, fmt: str,
                             source: str, full: bool, message: str) -> FeedReportOut:
    """A feed that could not be fetched or read: a report with the reason, nothing applied."""
    report = FeedImport(id=uuid7(), merchant_id=merchant_id, format=fmt, source=source,
                        full=full, rows=0, created=0, updated=0, removed=0, unchanged=0,
                        failed=1, created_at=clock.now(),
                        errors=[{"row": 0, "sku": None, "field": None, "message": message}])
    session.add(report)
    await session.flush()
    return FeedReportOut.model_validate(report)


async def list_feed_imports(session: AsyncSession, merchant_id: uuid.UUID,
                            limit: int = 20) -> list[FeedReportOut]:
    rows = await session.scalars(select(FeedImport).where(FeedImport.merchant_id == merchant_id)
                                 .order_by(FeedImport.created_at.desc(), FeedImport.id.desc())
                                 .limit(limit))
    return [FeedReportOut.model_validate(r) for r in rows]


async def put_feed_source(session: AsyncSession, merchant_id: uuid.UUID, data: FeedUrlIn,
                          actor: Subject | None) -> FeedUrlIn:
    """Set where the merchant's nightly feed is fetched from."""
    await merchants.get_merchant(session, merchant_id)
    await feed.check_url(str(data.url), resolve=False)
    row = await session.get(FeedSource, merchant_id, with_for_update=True)
    before = {"url": row.url, "format": row.format, "full": row.full} if row else None
    if row is None:
        row = FeedSource(merchant_id=merchant_id, url=str(data.url), format=data.format,
                         full=data.full)
        session.add(row)
    else:
        row.url, row.format, row.full, row.active = str(data.url), data.format, data.full, True
    await session.flush()
    await record(session, actor, "product.feed_source", "merchant", merchant_id,
                 before=before, after=data.model_dump(mode="json"))
    return data


async def due_feed_sources(session: AsyncSession) -> list[tuple[uuid.UUID, str, str, bool]]:
    rows = await session.scalars(select(FeedSource).where(FeedSource.active))
    return [(r.merchant_id, r.url, r.format, r.full) for r in rows]


async def mark_feed_run(session: AsyncSession, merchant_id: uuid.UUID) -> None:
    row = await session.get(FeedSource, merchant_id)
    if row is not None:
        row.last_run_at = clock.now()
