"""Orders commands and queries on the domain's own tables: numbering, the status machine and
its history, reading and listing. Work across domains (placing, paying, fulfilling,
cancelling, refunding) is in flows.py. Services never commit; the caller's unit of work does."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from gullak.db.engine import driver_rows
from gullak.kit import clock, events
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as BrowsePage
from gullak.kit.browse import page as browse_page
from gullak.kit.ids import code_of, human_code, parse_cursor, uuid7
from gullak.kit.security import Subject
from gullak.merchants import service as merchants
from gullak.orders import errors
from gullak.orders.models import NUMBERS, Order, OrderEvent, OrderItem, OrderTender
from gullak.orders.schemas import (
    EventOut,
    ItemOut,
    OrderOut,
    OrderPage,
    OrderSummary,
    TenderOut,
)

# status: the statuses it may move to. Anything else is refused and changes nothing.
TRANSITIONS: dict[str, frozenset[str]] = {
    "created": frozenset({"awaiting_payment", "paid", "cancelled"}),
    "awaiting_payment": frozenset({"paid", "cancelled"}),
    "paid": frozenset({"confirmed", "cancelled"}),
    "confirmed": frozenset({"ready", "shipped", "cancelled"}),
    "ready": frozenset({"delivered", "completed", "cancelled"}),
    "shipped": frozenset({"delivered", "cancelled"}),
    "delivered": frozenset({"completed"}),
    "completed": frozenset({"partially_refunded", "refunded"}),
    "partially_refunded": frozenset({"partially_refunded", "refunded"}),
    "cancelled": frozenset(),
    "refunded": frozenset(),
}
# What the user may still call off: nothing has left the merchant yet.
USER_CANCELLABLE = frozenset({"created", "awaiting_payment", "paid", "confirmed"})
REFUNDABLE = frozenset({"completed", "partially_refunded"})
SYSTEM = "system"
NUMBER_PREFIX = "ORD"  # ORD-202612-000123


async def next_number(session: AsyncSession) -> str:
    return await human_code(session, NUMBER_PREFIX, NUMBERS.name)


def number_of(serial: int) -> str:
    """The order number of a value of `order_numbers` already drawn (`orders_claim`)."""
    return code_of(NUMBER_PREFIX, serial)


def actor_of(actor: Subject | None) -> tuple[str, uuid.UUID | None]:
    return (SYSTEM, None) if actor is None else (str(actor.kind), actor.id)


def event_row(order: Order, before: str | None, after: str, actor: Subject | None,
              reason: str | None = None, data: dict[str, Any] | None = None) -> OrderEvent:
    kind, actor_id = actor_of(actor)
    return OrderEvent(id=uuid7(), order_id=order.id, user_id=order.user_id,
                      from_status=before, to_status=after, actor_type=kind, actor_id=actor_id,
                      reason=reason, data=data or {}, at=clock.now())


def add_event(session: AsyncSession, order: Order, before: str | None, after: str,
              actor: Subject | None, reason: str | None = None,
              data: dict[str, Any] | None = None) -> OrderEvent:
    event = event_row(order, before, after, actor, reason, data)
    session.add(event)
    return event


def shift(order: Order, target: str) -> str:
    """Change the status in hand, or refuse (409 invalid_transition); returns the one before."""
    check_move(order, target)
    before = order.status
    order.status = target
    order.updated_at = clock.now()
    return before


async def move(session: AsyncSession, order: Order, target: str, actor: Subject | None,
               reason: str | None = None, data: dict[str, Any] | None = None) -> OrderEvent:
    """Change the status, or refuse (409 invalid_transition) with nothing changed: callers
    move before they touch anything else. Announced as `order.status_changed` in the same
    unit, for the domains that tell others (partners' webhooks, payments).
    Returns the history row."""
    before = shift(order, target)
    event = add_event(session, order, before, target, actor, reason, data)
    await announce(session, order, before, actor, reason)
    return event


async def announce(session: AsyncSession, order: Order, before: str | None,
                   actor: Subject | None, reason: str | None) -> None:
    """`order.status_changed`, from `before` to the order's status now."""
    kind, actor_id = actor_of(actor)
    await events.publish(session, "order.status_changed", {
        "order_id": str(order.id), "user_id": str(order.user_id),
        "merchant_id": str(order.merchant_id), "number": order.number, "kind": order.kind,
        "outlet_id": str(order.outlet_id) if order.outlet_id else None,
        "total": order.total, "refunded": order.refunded, "currency": order.currency,
        "from_status": before, "to_status": order.status, "actor_type": kind,
        "actor_id": str(actor_id) if actor_id else None, "reason": reason})


# A new order's rows in one statement, each table's from a JSON array of its rows: the
# children's foreign keys are checked at the statement's end, when the order is there.
_WRITE = """
WITH o AS (INSERT INTO orders
           SELECT * FROM jsonb_populate_recordset(NULL::orders, %(orders)s::jsonb)),
     e AS (INSERT INTO order_events
           SELECT * FROM jsonb_populate_recordset(NULL::order_events, %(events)s::jsonb)),
     i AS (INSERT INTO order_items
           SELECT * FROM jsonb_populate_recordset(NULL::order_items, %(items)s::jsonb))
INSERT INTO order_tenders
SELECT * FROM jsonb_populate_recordset(NULL::order_tenders, %(tenders)s::jsonb)
"""


def _rows(objects: list[Any]) -> str:
    for obj in objects:
        if obj.id is None:  # in the order made, as a flush would give them
            obj.id = uuid7()
    return orjson.dumps([{c.name: getattr(obj, c.key) for c in obj.__table__.columns}
                         for obj in objects]).decode()


async def write_new(session: AsyncSession, order: Order, history: list[OrderEvent],
                    items: list[OrderItem], tenders: list[OrderTender]) -> None:
    """Insert a new order with its history, items and tenders, every column given, in one
    round trip where the ORM's flush takes one per table, on the driver: a placement that
    waits for the gateway then never starts the ORM's session (its statement and its commit
    cost more client CPU than the round trip). `attach` the order to move it later in the
    unit."""
    await driver_rows(session, _WRITE, {"orders": _rows([order]), "events": _rows(history),
                                        "items": _rows(items), "tenders": _rows(tenders)})


def attach(session: AsyncSession, order: Order) -> None:
    """A new order written by `write_new` made the session's, as if loaded, so that moves
    later in the unit update it; its other rows are read when needed."""
    make_transient_to_detached(order)
    session.add(order)


def check_move(order: Order, target: str) -> None:
    if target not in TRANSITIONS[order.status]:
        raise errors.InvalidTransition(f"The order is {order.status}; it cannot become {target}.",
                                       current_status=order.status, target=target)


async def locked(session: AsyncSession, order_id: uuid.UUID) -> Order:
    """The order, its row locked for the rest of the unit: moves on one order queue here."""
    order = await session.get(Order, order_id, with_for_update=True, populate_existing=True)
    if order is None:
        raise errors.OrderNotFound()
    return order


async def tenders_of(session: AsyncSession, order_id: uuid.UUID) -> list[OrderTender]:
    return list(await session.scalars(select(OrderTender).where(
        OrderTender.order_id == order_id).order_by(OrderTender.position),
        execution_options={"populate_existing": True}))


async def items_of(session: AsyncSession, order_id: uuid.UUID) -> list[OrderItem]:
    return list(await session.scalars(select(OrderItem).where(
        OrderItem.order_id == order_id).order_by(OrderItem.id)))


async def order_out(session: AsyncSession, order: Order) -> OrderOut:
    await session.flush()
    await session.refresh(order)
    events = await session.scalars(select(OrderEvent).where(
        OrderEvent.order_id == order.id).order_by(OrderEvent.id))
    return out_of(order, await items_of(session, order.id), await tenders_of(session, order.id),
                  list(events))


def out_of(order: Order, items: list[OrderItem], tenders: list[OrderTender],
           events: list[OrderEvent]) -> OrderOut:
    """The order as read back, from rows in hand: items by id, tenders by position, events
    by id, as `order_out` reads them."""
    return OrderOut.model_validate(order).model_copy(update={
        "items": [ItemOut.model_validate(i) for i in sorted(items, key=lambda i: i.id)],
        "tenders": [TenderOut.model_validate(t)
                    for t in sorted(tenders, key=lambda t: t.position)],
        "events": [EventOut.model_validate(e) for e in sorted(events, key=lambda e: e.id)]})


# The statuses of an order whose goods the user has, or is about to have, paid for.
BOUGHT = ("paid", "confirmed", "ready", "shipped", "delivered", "completed",
          "partially_refunded")


async def bought(session: AsyncSession, user_id: uuid.UUID, merchant_id: uuid.UUID,
                 order_ref: str) -> bool:
    """Whether the user's own order at this merchant, named by its id or its number, was
    paid (and not wholly refunded or cancelled): a review of it is a verified purchase."""
    try:
        condition = Order.id == uuid.UUID(order_ref)
    except ValueError:
        condition = Order.number == order_ref.strip().upper()
    found = await session.scalar(select(Order.id).where(
        condition, Order.user_id == user_id, Order.merchant_id == merchant_id,
        Order.status.in_(BOUGHT)))
    return found is not None


def visible(viewer: Subject, order: Order) -> bool:
    """Users see their own orders, merchant users their merchant's, the platform all."""
    if viewer.kind == "user":
        return order.user_id == viewer.id
    if viewer.kind == "merchant_user":
        return merchants.merchant_of(viewer) == order.merchant_id
    return viewer.can("orders.read")


async def get_order(session: AsyncSession, order_id: uuid.UUID, viewer: Subject) -> OrderOut:
    order = await session.get(Order, order_id)
    if order is None or not visible(viewer, order):
        raise errors.OrderNotFound()  # another's order is missing, never forbidden
    return await order_out(session, order)


async def list_orders(session: AsyncSession, *, user_id: uuid.UUID | None = None,
                      merchant_id: uuid.UUID | None = None, status: str | None = None,
                      cursor: str | None = None, limit: int = 20) -> OrderPage:
    """Newest first (ids are time-ordered), a keyset page at a time."""
    query = select(Order).order_by(Order.id.desc()).limit(limit + 1)
    for column, value in ((Order.user_id, user_id), (Order.merchant_id, merchant_id),
                          (Order.status, status)):
        if value is not None:
            query = query.where(column == value)
    after = parse_cursor(cursor)
    if after is not None:
        query = query.where(Order.id < after)
    rows = list(await session.scalars(query))
    more = len(rows) > limit
    items = [OrderSummary.model_validate(r) for r in rows[:limit]]
    return OrderPage(items=items, next_cursor=str(items[-1].id) if more else None)


# -- settlement facts -------------------------------------------------------------------------

# An order is closed for a merchant's settlement once it is completed (what it paid is the
# merchant's, less commission, and refunds come later) or cancelled (what it paid went back).
CLOSING = ("completed", "cancelled")


@dataclass(frozen=True)
class SettlementFacts:
    order_id: uuid.UUID
    number: str
    status: str
    closed_at: dt.datetime | None  # when it was first completed or cancelled; None: still open


async def settlement_facts(session: AsyncSession, merchant_id: uuid.UUID,
                           order_ids: list[uuid.UUID]) -> dict[uuid.UUID, SettlementFacts]:
    """The merchant's orders among `order_ids` (others are left out), each with its number,
    its status and when it closed, read from its status history."""
    if not order_ids:
        return {}
    closed = func.min(OrderEvent.at).filter(OrderEvent.to_status.in_(CLOSING))
    rows = await session.execute(
        select(Order.id, Order.number, Order.status, closed)
        .outerjoin(OrderEvent, OrderEvent.order_id == Order.id)
        .where(Order.merchant_id == merchant_id, Order.id.in_(sorted(set(order_ids))))
        .group_by(Order.id, Order.number, Order.status))
    return {r[0]: SettlementFacts(r[0], r[1], r[2], r[3]) for r in rows}


# -- exports: a period's orders, streamed -----------------------------------------------------

EXPORT_COLUMNS = (
    "id", "number", "user_id", "merchant_id", "outlet_id", "kind", "status", "fulfilment",
    "currency", "subtotal", "discount", "delivery_fee", "tax", "total", "refunded",
    "coupon_code", "offer_id", "redemption_id", "created_at", "updated_at")


async def stream_orders(session: AsyncSession, since: dt.datetime, until: dt.datetime, *,
                        batch: int = 2000) -> AsyncIterator[dict[str, Any]]:
    """The orders created in [since, until), oldest first, through a server-side cursor (a
    period of any size in flat memory), as dicts keyed by `EXPORT_COLUMNS`. No delivery
    address: ids and amounts only."""
    query = (select(*(getattr(Order, c) for c in EXPORT_COLUMNS))
             .where(Order.created_at >= since, Order.created_at < until)
             .order_by(Order.created_at, Order.id)
             .execution_options(yield_per=batch))
    # A batch at a time: the async result crosses into the driver's greenlet once a batch.
    async for rows in (await session.stream(query)).mappings().partitions():
        for row in rows:
            yield dict(row)


# -- segments: who ordered, as a statement another domain combines (campaigns) ----------------

def users_with_orders(min_count: int, since: dt.datetime) -> Select[uuid.UUID]:
    """Users with at least `min_count` orders created at or after `since` and paid (an order
    left unpaid or cancelled does not count)."""
    return (select(Order.user_id)
            .where(Order.created_at >= since,
                   Order.status.not_in(("created", "awaiting_payment", "cancelled")))
            .group_by(Order.user_id).having(func.count() >= min_count))


# -- analytics: a day's orders ----------------------------------------------------------------

async def day_totals(session: AsyncSession, day: dt.date,
                     currency: str = "INR") -> dict[str, int]:
    """Orders in `currency` paid on a UTC day (how many, and their totals: the GMV) and what
    was refunded on it, in minor units."""

    since = dt.datetime.combine(day, dt.time(), dt.UTC)
    row = (await session.execute(text("""
        SELECT count(*) FILTER (WHERE e.to_status = 'paid') AS orders,
               coalesce(sum(o.total) FILTER (WHERE e.to_status = 'paid'), 0) AS gmv,
               coalesce(sum((e.data ->> 'amount')::bigint) FILTER (
                   WHERE e.to_status IN ('refunded', 'partially_refunded')
                     AND jsonb_typeof(e.data -> 'amount') = 'number'), 0) AS refunds
        FROM order_events e JOIN orders o ON o.id = e.order_id
        WHERE e.at >= :since AND e.at < :until AND o.currency = :currency
          AND e.to_status IN ('paid', 'refunded', 'partially_refunded')
    """), {"since": since, "until": since + dt.timedelta(days=1), "currency": currency})).one()
    return {"orders": int(row.orders), "gmv": int(row.gmv), "refunds": int(row.refunds)}


async def find_by_number(session: AsyncSession, number: str) -> OrderSummary | None:
    """The order with this number (`ORD-202601-000123`, any case): the console's search."""
    order = await session.scalar(select(Order).where(Order.number == number.strip().upper()))
    return None if order is None else OrderSummary.model_validate(order)


# -- the back office's table of orders --------------------------------------------------------

async def browse_orders(session: AsyncSession, browse: Browse, *, status: str | None = None,
                        merchant_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None,
                        number: str | None = None) -> BrowsePage:
    """Orders for the console's table, sorted by id (time-ordered) or `created`."""
    query = select(Order)
    for column, value in ((Order.status, status), (Order.merchant_id, merchant_id),
                          (Order.user_id, user_id), (Order.number, number)):
        if value is not None:
            query = query.where(column == value)
    found = await browse_page(session, query, browse, Order.id, {"created": Order.created_at})
    return BrowsePage([OrderSummary.model_validate(o) for o in found.rows], found.next_cursor)
