"""Inventory and reservations that never oversell.

Every change of `reserved` is one conditional UPDATE: the row lock it takes makes concurrent
reservations queue, and PostgreSQL re-checks `on_hand - reserved >= quantity` on the row as
it is after the one before them committed. CHECK constraints refuse reserved > on_hand and
negatives even if a bug tried.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import errors
from gullak.catalog.common import product, record
from gullak.catalog.models import ProductVariant, Reservation
from gullak.catalog.schemas import ReservationOut, ReserveIn, SaleLine, StockIn, StockOut
from gullak.db.engine import driver_rows
from gullak.kit import clock
from gullak.kit.errors import InvalidInput
from gullak.kit.ids import uuid7
from gullak.kit.security import Subject


def _key(variant_id: uuid.UUID | None) -> str:
    # The two partial unique indexes: one stock row per variant, or per product without any.
    return "variant_id = :v" if variant_id is not None else "variant_id IS NULL"


async def _check_item(session: AsyncSession, product_id: uuid.UUID,
                      variant_id: uuid.UUID | None, merchant_id: uuid.UUID | None = None,
                      *, for_sale: bool = False) -> None:
    row = await product(session, product_id, merchant_id)
    if for_sale and row.status != "active":
        raise errors.ProductNotFound("The product is not on sale.")
    if variant_id is not None:
        variant = await session.scalar(select(ProductVariant).where(
            ProductVariant.id == variant_id, ProductVariant.product_id == product_id))
        if variant is None or (for_sale and not variant.active):
            raise errors.VariantNotFound(field="variant_id")
    elif await session.scalar(select(ProductVariant.id).where(
            ProductVariant.product_id == product_id).limit(1)):
        raise InvalidInput("This product keeps its stock per variant: name the variant.",
                           code="variant_required", field="variant_id")


async def set_stock(session: AsyncSession, product_id: uuid.UUID, data: StockIn,
                    actor: Subject | None, *, merchant_id: uuid.UUID | None = None) -> StockOut:
    """Set the quantity on hand (never below what is reserved right now)."""
    await _check_item(session, product_id, data.variant_id, merchant_id)
    target = "(variant_id) WHERE variant_id IS NOT NULL" if data.variant_id is not None \
        else "(product_id) WHERE variant_id IS NULL"
    before = await session.execute(text(
        "SELECT on_hand, reserved FROM inventory"
        f" WHERE product_id = :p AND {_key(data.variant_id)}"),
        {"p": product_id, "v": data.variant_id})
    old = before.first()
    row = (await session.execute(text(
        "INSERT INTO inventory (id, product_id, variant_id, on_hand, reserved)"
        " VALUES (:id, :p, :v, :n, 0)"
        f" ON CONFLICT {target} DO UPDATE SET on_hand = EXCLUDED.on_hand, updated_at = now()"
        " WHERE inventory.reserved <= EXCLUDED.on_hand"
        " RETURNING on_hand, reserved"),
        {"id": uuid7(), "p": product_id, "v": data.variant_id, "n": data.on_hand})).first()
    if row is None:
        raise errors.StockBelowReserved(field="on_hand")
    out = StockOut(variant_id=data.variant_id, on_hand=row.on_hand, reserved=row.reserved,
                   available=row.on_hand - row.reserved)
    await record(session, actor, "product.stock_set", "product", product_id,
                 before={"on_hand": old.on_hand, "reserved": old.reserved} if old else None,
                 after=out.model_dump(mode="json"))
    return out


# An order's placement runs these two for each item: statements written once, on the driver
# (db.engine.driver_rows), where SQLAlchemy's session cost several times their round trip.
_SALE_LINE = """
SELECT p.merchant_id, p.sku, p.name, p.price, p.asset_code, v.id, v.sku, v.name,
       v.selling_price, v.active,
       EXISTS (SELECT 1 FROM product_variants a WHERE a.product_id = p.id)
FROM products p LEFT JOIN product_variants v ON v.id = %(v)s AND v.product_id = p.id
WHERE p.id = %(p)s AND p.status = 'active'
"""
# The stock counted and the reservation written in one round trip; no row back: not that
# many free, or no stock counted. One statement per partial unique index of the stock.
_RESERVE = """
WITH s AS (UPDATE inventory SET reserved = reserved + %(q)s, updated_at = now()
           WHERE product_id = %(p)s AND {key} AND on_hand - reserved >= %(q)s RETURNING id)
INSERT INTO inventory_reservations (id, stock_id, product_id, variant_id, quantity, status,
                                    reference, expires_at, created_at, resolved_at)
SELECT %(id)s, s.id, %(p)s, %(v)s::uuid, %(q)s, 'pending', %(ref)s::text, %(until)s,
       %(now)s, NULL FROM s
RETURNING id
"""
_RESERVE_VARIANT = _RESERVE.format(key="variant_id = %(v)s")
_RESERVE_PRODUCT = _RESERVE.format(key="variant_id IS NULL")


async def sale_line(session: AsyncSession, product_id: uuid.UUID,
                    variant_id: uuid.UUID | None) -> SaleLine:
    """The item as a checkout prices it, in one read: ProductNotFound unless the product is
    on sale, VariantNotFound unless the variant is, and variant_required when the product is
    sold by variant and none is named. Whether its merchant is live is the caller's check."""
    found = await driver_rows(session, _SALE_LINE, {"p": product_id, "v": variant_id})
    if not found:
        raise errors.ProductNotFound("The product is not on sale.")
    [(merchant_id, sku, name, price, asset_code, variant, variant_sku, variant_name,
      selling_price, active, by_variant)] = found
    if variant_id is None:
        if by_variant:
            raise InvalidInput("This product keeps its stock per variant: name the variant.",
                               code="variant_required", field="variant_id")
        return SaleLine(product_id=product_id, merchant_id=merchant_id, variant_id=None,
                        sku=sku, name=name, unit_price=price, asset_code=asset_code)
    if variant is None or not active:
        raise errors.VariantNotFound(field="variant_id")
    return SaleLine(product_id=product_id, merchant_id=merchant_id, variant_id=variant_id,
                    sku=variant_sku, name=f"{name} ({variant_name})", unit_price=selling_price,
                    asset_code=asset_code)


async def reserve(session: AsyncSession, data: ReserveIn, *,
                  checked: bool = False) -> ReservationOut:
    """Hold `quantity` for `ttl_seconds` (409 out_of_stock when not that many are free).
    `checked`: the caller read the item with `sale_line` in this unit of work."""
    if not checked:
        await _check_item(session, data.product_id, data.variant_id, for_sale=True)
    now = clock.now()
    out = ReservationOut(id=uuid7(), product_id=data.product_id, variant_id=data.variant_id,
                         quantity=data.quantity, status="pending", reference=data.reference,
                         expires_at=now + dt.timedelta(seconds=data.ttl_seconds),
                         created_at=now, resolved_at=None)
    params: dict[str, Any] = {"p": data.product_id, "v": data.variant_id, "q": data.quantity,
                              "id": out.id, "ref": out.reference, "now": now,
                              "until": out.expires_at}
    placed = await driver_rows(session, _RESERVE_VARIANT if data.variant_id is not None
                               else _RESERVE_PRODUCT, params)
    if not placed:
        exists = await session.scalar(text(
            f"SELECT id FROM inventory WHERE product_id = :p AND {_key(data.variant_id)}"),
            params)
        if exists is None:
            raise errors.StockNotFound()
        raise errors.OutOfStock(f"Fewer than {data.quantity} available.", field="quantity")
    return out


async def get_reservation(session: AsyncSession, reservation_id: uuid.UUID) -> ReservationOut:
    row = await session.get(Reservation, reservation_id, populate_existing=True)
    if row is None:
        raise errors.ReservationNotFound()
    return ReservationOut.model_validate(row)


_FIELDS = ", ".join(ReservationOut.model_fields)
# The reservation closed and its stock given back or sold in one round trip, on the driver: a
# paid order closes one per item (SQLAlchemy's two statements cost more than their trips).
_CLOSE = f"""
WITH closed AS (
  UPDATE inventory_reservations SET status = %(s)s, resolved_at = %(now)s
  WHERE id = %(id)s AND status = 'pending' AND (%(release)s OR expires_at > %(now)s)
  RETURNING stock_id, {_FIELDS}
), stock AS (
  UPDATE inventory i
  SET on_hand = i.on_hand - CASE WHEN %(release)s THEN 0 ELSE closed.quantity END,
      reserved = i.reserved - closed.quantity, updated_at = now()
  FROM closed WHERE i.id = closed.stock_id
)
SELECT {_FIELDS} FROM closed
"""


async def _close(session: AsyncSession, reservation_id: uuid.UUID, status: str,
                 consume: bool) -> ReservationOut:
    found = await driver_rows(session, _CLOSE, {"s": status, "now": clock.now(),
                                                "id": reservation_id, "release": not consume})
    if not found:
        current = await get_reservation(session, reservation_id)
        why = "expired" if current.status == "pending" else current.status
        raise errors.ReservationClosed(f"The reservation is {why}.", state=why)
    return ReservationOut.model_validate(dict(zip(ReservationOut.model_fields, found[0])))


async def commit_reservation(session: AsyncSession, reservation_id: uuid.UUID) -> ReservationOut:
    """The reserved items are sold: on hand and reserved both drop (refused once expired)."""
    return await _close(session, reservation_id, "committed", consume=True)


async def release_reservation(session: AsyncSession,
                              reservation_id: uuid.UUID) -> ReservationOut:
    """The reserved items go back on sale."""
    return await _close(session, reservation_id, "released", consume=False)


_EXPIRE = text("""
WITH due AS (
  SELECT id FROM inventory_reservations
  WHERE status = 'pending' AND expires_at <= :now
  ORDER BY expires_at LIMIT :limit FOR UPDATE SKIP LOCKED
), gone AS (
  UPDATE inventory_reservations r SET status = 'expired', resolved_at = :now
  FROM due WHERE r.id = due.id
  RETURNING r.stock_id, r.quantity
), per_stock AS (
  SELECT stock_id, sum(quantity) AS quantity FROM gone GROUP BY stock_id
), freed AS (
  UPDATE inventory i SET reserved = i.reserved - p.quantity, updated_at = now()
  FROM per_stock p WHERE i.id = p.stock_id
  RETURNING i.id
)
SELECT count(*) FROM gone
""")


async def expire_reservations(session: AsyncSession, *, limit: int = 1000) -> int:
    """Release up to `limit` reservations past their deadline; returns how many."""
    return int(await session.scalar(_EXPIRE, {"now": clock.now(), "limit": limit}) or 0)
