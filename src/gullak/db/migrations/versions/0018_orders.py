"""Orders: orders with their items at purchase prices, the tenders that pay them, their status
history, the sequence behind human order numbers, and the back office's order permissions.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("orders.read", "Read every merchant's orders"),
    ("orders.manage", "Move any order through fulfilment, or cancel it"),
    ("orders.refund", "Refund completed orders, in full or in part"),
]
STATUSES = ("created", "awaiting_payment", "paid", "confirmed", "ready", "shipped",
            "delivered", "completed", "cancelled", "refunded", "partially_refunded")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.execute("CREATE SEQUENCE order_numbers")
    op.create_table(
        "orders",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("merchant_id", sa.UUID(), nullable=False),
        sa.Column("outlet_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("fulfilment", sa.Text(), nullable=False),
        sa.Column("delivery_address", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("discount", sa.BigInteger(), nullable=False),
        sa.Column("delivery_fee", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("coupon_code", sa.Text(), nullable=True),
        sa.Column("offer_id", sa.UUID(), nullable=True),
        sa.Column("redemption_id", sa.UUID(), nullable=True),
        sa.Column("notes", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("pay_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("request_hash", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint(_in("status", STATUSES), name=op.f("ck_orders_status")),
        sa.CheckConstraint("kind IN ('purchase', 'reward')", name=op.f("ck_orders_kind")),
        sa.CheckConstraint("fulfilment IN ('delivery', 'pickup')",
                           name=op.f("ck_orders_fulfilment")),
        sa.CheckConstraint("subtotal >= 0 AND discount >= 0 AND delivery_fee >= 0 AND tax >= 0"
                           " AND discount <= subtotal"
                           " AND total = subtotal - discount + delivery_fee + tax"
                           " AND refunded >= 0 AND refunded <= total",
                           name=op.f("ck_orders_amounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("id", "user_id", name=op.f("uq_orders_id_user_id")),
    )
    op.create_index("uq_orders_number", "orders", ["number"], unique=True)
    op.create_index("uq_orders_user_key", "orders", ["user_id", "idempotency_key"], unique=True,
                    postgresql_where=sa.text("idempotency_key IS NOT NULL"))
    op.create_index("ix_orders_user", "orders", ["user_id", "id"])
    op.create_index("ix_orders_merchant", "orders", ["merchant_id", "id"])
    op.create_index("ix_orders_unpaid", "orders", ["pay_by"],
                    postgresql_where=sa.text("status = ANY (ARRAY['created'::text,"
                                             " 'awaiting_payment'::text])"))
    op.create_table(
        "order_items",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("variant_id", sa.UUID(), nullable=True),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("line_total", sa.BigInteger(), nullable=False),
        sa.Column("reservation_id", sa.UUID(), nullable=True),
        sa.CheckConstraint("quantity > 0 AND unit_price >= 0"
                           " AND line_total = unit_price * quantity",
                           name=op.f("ck_order_items_amounts")),
        sa.ForeignKeyConstraint(["order_id", "user_id"], ["orders.id", "orders.user_id"],
                                name=op.f("fk_order_items_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_items")),
    )
    op.create_index("ix_order_items_order", "order_items", ["order_id"])
    op.create_table(
        "order_tenders",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("asset_code", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("hold_id", sa.UUID(), nullable=True),
        sa.Column("payment_id", sa.UUID(), nullable=True),
        sa.Column("captured", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("released", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("refunded", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("commission", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("commission_refunded", sa.BigInteger(), server_default=sa.text("0"),
                  nullable=False),
        sa.CheckConstraint("kind IN ('coins', 'wallet', 'gateway')",
                           name=op.f("ck_order_tenders_kind")),
        sa.CheckConstraint("status IN ('pending', 'held', 'captured', 'released', 'failed')",
                           name=op.f("ck_order_tenders_status")),
        sa.CheckConstraint("amount > 0 AND rate > 0 AND captured >= 0 AND released >= 0"
                           " AND captured + released <= amount AND refunded >= 0"
                           " AND refunded <= captured AND commission >= 0"
                           " AND commission_refunded >= 0"
                           " AND commission_refunded <= commission",
                           name=op.f("ck_order_tenders_amounts")),
        sa.ForeignKeyConstraint(["order_id", "user_id"], ["orders.id", "orders.user_id"],
                                name=op.f("fk_order_tenders_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_tenders")),
    )
    op.create_index("uq_order_tenders_asset", "order_tenders", ["order_id", "kind", "asset_code"],
                    unique=True)
    op.create_table(
        "order_events",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=False),
        sa.Column("actor_type", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["order_id", "user_id"], ["orders.id", "orders.user_id"],
                                name=op.f("fk_order_events_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    op.create_index("ix_order_events_order", "order_events", ["order_id", "id"])
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    for table in ("order_events", "order_tenders", "order_items", "orders"):
        op.drop_table(table)
    op.execute("DROP SEQUENCE order_numbers")
