"""Payments: payment intents and every call to a provider about them, refunds, the raw
gateway events (append-only: what was received never changes; only the processing mark is
written, once), the sandbox gateway's own orders, and the sequence of top-up invoice numbers.

`gateway_events` is a plain table: exactly-once intake rests on a unique (provider, event_id),
which PostgreSQL cannot enforce on a table partitioned by id.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("payments.read", "Read any user's payments"),
    ("payments.refund", "Refund payments, in full or in part"),
]

APPEND_ONLY = """
CREATE FUNCTION gateway_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' THEN
    RAISE EXCEPTION 'gateway_events is append-only' USING ERRCODE = 'restrict_violation';
  END IF;
  IF OLD.processed_at IS NOT NULL
     OR (NEW.id, NEW.provider, NEW.event_id, NEW.kind, NEW.ref, NEW.amount, NEW.payload,
         NEW.received_at) IS DISTINCT FROM
        (OLD.id, OLD.provider, OLD.event_id, OLD.kind, OLD.ref, OLD.amount, OLD.payload,
         OLD.received_at) THEN
    RAISE EXCEPTION 'gateway_events is append-only' USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER gateway_events_append_only BEFORE UPDATE OR DELETE ON gateway_events
  FOR EACH ROW EXECUTE FUNCTION gateway_events_append_only();
CREATE TRIGGER gateway_events_no_truncate BEFORE TRUNCATE ON gateway_events
  FOR EACH STATEMENT EXECUTE FUNCTION gateway_events_append_only();
"""


def upgrade() -> None:
    op.execute("CREATE SEQUENCE payment_invoice_seq")
    op.create_table(
        "payments",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("reference_id", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'created'::text"),
                  nullable=False),
        sa.Column("refunded_amount", sa.BigInteger(), server_default=sa.text("0"),
                  nullable=False),
        sa.Column("gateway", sa.Text(), nullable=False),
        sa.Column("gateway_ref", sa.Text(), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("invoice_number", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("purpose IN ('order', 'topup')", name=op.f("ck_payments_purpose")),
        sa.CheckConstraint("status IN ('created', 'pending', 'succeeded', 'failed',"
                           " 'cancelled', 'expired')", name=op.f("ck_payments_status")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount")),
        sa.CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount",
                           name=op.f("ck_payments_refunded")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("user_id", "idempotency_key",
                            name=op.f("uq_payments_user_id_idempotency_key")),
        sa.UniqueConstraint("invoice_number", name=op.f("uq_payments_invoice_number")),
        sa.UniqueConstraint("user_id", "id", name=op.f("uq_payments_user_id_id")),
    )
    op.create_index("ix_payments_user", "payments", ["user_id", "purpose", "id"])
    op.create_index("ix_payments_gateway_ref", "payments", ["gateway", "gateway_ref"],
                    unique=True)
    op.create_index("ix_payments_reference", "payments", ["purpose", "reference_id"])
    op.create_index("ix_payments_open", "payments", ["updated_at"], postgresql_where=sa.text(
        "status = ANY (ARRAY['created'::text, 'pending'::text])"))
    op.create_table(
        "payment_attempts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=False),
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column("request", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["user_id", "payment_id"], ["payments.user_id", "payments.id"],
                                name=op.f("fk_payment_attempts_user_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_attempts")),
    )
    op.create_index("ix_payment_attempts_payment", "payment_attempts", ["payment_id", "id"])
    op.create_table(
        "payment_refunds",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'::text"),
                  nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("gateway_ref", sa.Text(), nullable=True),
        sa.Column("transfer_id", sa.UUID(), nullable=True),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')",
                           name=op.f("ck_payment_refunds_status")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_refunds_amount")),
        sa.ForeignKeyConstraint(["user_id", "payment_id"], ["payments.user_id", "payments.id"],
                                name=op.f("fk_payment_refunds_user_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_refunds")),
        sa.UniqueConstraint("payment_id", "idempotency_key",
                            name=op.f("uq_payment_refunds_payment_id_idempotency_key")),
    )
    op.create_table(
        "gateway_events",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_events")),
        sa.UniqueConstraint("provider", "event_id",
                            name=op.f("uq_gateway_events_provider_event_id")),
    )
    op.create_index("ix_gateway_events_unprocessed", "gateway_events", ["id"],
                    postgresql_where=sa.text("processed_at IS NULL"))
    op.execute(APPEND_ONLY)
    op.create_table(
        "payment_sandbox_orders",
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'::text"),
                  nullable=False),
        sa.Column("refunded", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("refunds", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_payment_sandbox_orders")),
    )
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.drop_table("payment_sandbox_orders")
    op.drop_table("gateway_events")
    op.execute("DROP FUNCTION gateway_events_append_only()")
    op.drop_table("payment_refunds")
    op.drop_table("payment_attempts")
    op.drop_table("payments")
    op.execute("DROP SEQUENCE payment_invoice_seq")
