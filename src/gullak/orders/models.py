"""Orders tables.

`user_id`, `merchant_id`, `outlet_id`, product and variant ids, hold ids and payment ids
belong to other domains: ids only, checked through their services, never foreign keys. Every
row carries its user: the tables are distributed by `user_id` (docs/distribution.md), so a
child's foreign key to its order is (order_id, user_id).
Amounts are integers in minor units of the order's currency (INR paise for a purchase, the
coin for a reward-shop order); a tender's own amounts are in its asset's minor units.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    Sequence,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped, one_of
from gullak.kit.ids import uuid7

STATUSES = ("created", "awaiting_payment", "paid", "confirmed", "ready", "shipped",
            "delivered", "completed", "cancelled", "refunded", "partially_refunded")
TENDER_KINDS = ("coins", "wallet", "gateway", "gift_card")
TENDER_STATUSES = ("pending", "held", "captured", "released", "failed")
# Human order numbers, ORD-YYYYMM-000123: one sequence, never reused (a rolled-back order
# burns its number, which is fine for a reference people read).
NUMBERS = Sequence("order_numbers", metadata=Base.metadata)



class Order(Timestamped, Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint("kind IN ('purchase', 'reward')", name="kind"),
        CheckConstraint("fulfilment IN ('delivery', 'pickup')", name="fulfilment"),
        CheckConstraint("subtotal >= 0 AND discount >= 0 AND delivery_fee >= 0 AND tax >= 0"
                        " AND discount <= subtotal"
                        " AND total = subtotal - discount + delivery_fee + tax"
                        " AND refunded >= 0 AND refunded <= total", name="amounts"),
        UniqueConstraint("id", "user_id"),  # the target of the children's foreign keys
        Index("uq_orders_number", "number", unique=True),
        Index("uq_orders_user_key", "user_id", "idempotency_key", unique=True,
              postgresql_where=text("idempotency_key IS NOT NULL")),
        Index("ix_orders_user", "user_id", "id"),
        Index("ix_orders_merchant", "merchant_id", "id"),
        Index("ix_orders_unpaid", "pay_by",
              postgresql_where=text("status = ANY (ARRAY['created'::text,"
                                    " 'awaiting_payment'::text])")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    number: Mapped[str] = mapped_column(Text)
    user_id: Mapped[uuid.UUID]
    merchant_id: Mapped[uuid.UUID]
    outlet_id: Mapped[uuid.UUID | None]
    kind: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    fulfilment: Mapped[str] = mapped_column(Text)
    delivery_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    currency: Mapped[str] = mapped_column(Text)
    subtotal: Mapped[int]
    discount: Mapped[int]
    delivery_fee: Mapped[int]
    tax: Mapped[int]
    total: Mapped[int]
    refunded: Mapped[int] = mapped_column(server_default=text("0"))
    coupon_code: Mapped[str | None] = mapped_column(Text)
    offer_id: Mapped[uuid.UUID | None]
    redemption_id: Mapped[uuid.UUID | None]
    # Why the coins paid less than they could have (a cap), shown with the order.
    notes: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    pay_by: Mapped[dt.datetime | None]  # an unpaid order is cancelled after this
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_hash: Mapped[str | None] = mapped_column(Text)


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0 AND unit_price >= 0 AND line_total = unit_price * quantity",
                        name="amounts"),
        ForeignKeyConstraint(["order_id", "user_id"], ["orders.id", "orders.user_id"]),
        Index("ix_order_items_order", "order_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    order_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    product_id: Mapped[uuid.UUID]
    variant_id: Mapped[uuid.UUID | None]
    sku: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)  # as it was when bought
    unit_price: Mapped[int]  # as it was when bought, in the order's currency
    quantity: Mapped[int] = mapped_column(Integer)
    line_total: Mapped[int]
    reservation_id: Mapped[uuid.UUID | None]


class OrderTender(Base):
    """One way the order is paid: coins, wallet cash or a gift card through a ledger hold, or
    a gateway payment. `amount`, `captured`, `released`, `refunded` and `commission` are in
    the asset's minor units; `rate` is what one of them is worth in the order's currency."""

    __tablename__ = "order_tenders"
    __table_args__ = (
        CheckConstraint(one_of("kind", TENDER_KINDS), name="kind"),
        CheckConstraint(one_of("status", TENDER_STATUSES), name="status"),
        CheckConstraint("amount > 0 AND rate > 0 AND captured >= 0 AND released >= 0"
                        " AND captured + released <= amount AND refunded >= 0"
                        " AND refunded <= captured AND commission >= 0"
                        " AND commission_refunded >= 0"
                        " AND commission_refunded <= commission", name="amounts"),
        ForeignKeyConstraint(["order_id", "user_id"], ["orders.id", "orders.user_id"]),
        # One tender per asset, and per card for gift cards (0019).
        Index("uq_order_tenders_asset", "order_id", "kind", "asset_code", "gift_card_id",
              unique=True, postgresql_nulls_not_distinct=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    order_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(Text)
    asset_code: Mapped[str] = mapped_column(Text)
    amount: Mapped[int]
    rate: Mapped[int]
    status: Mapped[str] = mapped_column(Text)
    hold_id: Mapped[uuid.UUID | None]
    payment_id: Mapped[uuid.UUID | None]
    gift_card_id: Mapped[uuid.UUID | None]  # the card a gift card tender holds on
    captured: Mapped[int] = mapped_column(server_default=text("0"))
    released: Mapped[int] = mapped_column(server_default=text("0"))
    refunded: Mapped[int] = mapped_column(server_default=text("0"))
    commission: Mapped[int] = mapped_column(server_default=text("0"))
    commission_refunded: Mapped[int] = mapped_column(server_default=text("0"))


class OrderEvent(Base):
    """One row for every status change, and for refunds."""

    __tablename__ = "order_events"
    __table_args__ = (
        ForeignKeyConstraint(["order_id", "user_id"], ["orders.id", "orders.user_id"]),
        Index("ix_order_events_order", "order_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    order_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str] = mapped_column(Text)
    actor_type: Mapped[str] = mapped_column(Text)  # user, merchant_user, admin, service, system
    actor_id: Mapped[uuid.UUID | None]
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
