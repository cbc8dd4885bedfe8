"""Partner companies, their orders and outbound webhooks.

Partners (RTMN's company_integrations) with their API key's digest and sealed signing secret;
users' links to them (the consent behind every partner order); partner orders (RTMN's
cross_company_orders: the partner's reference of one of our orders); the webhook outbox and its
delivery log; and the back office's partner permissions.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("partners.read", "Read partner companies, their orders and webhook deliveries"),
    ("partners.manage", "Manage partners, rotate their keys, replay their webhooks"),
]


def _now() -> sa.Column[dt.datetime]:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                     nullable=False)


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'active'::text"), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("events", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("merchant_ids", postgresql.ARRAY(sa.UUID()), nullable=True),
        sa.Column("key_holder", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("signing_secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        _now(),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("status IN ('active', 'suspended')", name=op.f("ck_partners_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("name", name=op.f("uq_partners_name")),
        sa.UniqueConstraint("key_holder", name=op.f("uq_partners_key_holder")),
    )
    op.create_table(
        "partner_links",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("partner_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'active'::text"), nullable=False),
        _now(),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('active', 'revoked')",
                           name=op.f("ck_partner_links_status")),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"],
                                name=op.f("fk_partner_links_partner_id_partners")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_links")),
        sa.UniqueConstraint("partner_id", "user_id",
                            name=op.f("uq_partner_links_partner_id_user_id")),
        sa.UniqueConstraint("id", "user_id", name=op.f("uq_partner_links_id_user_id")),
    )
    op.create_index("ix_partner_links_user", "partner_links", ["user_id"])
    op.create_table(
        "partner_orders",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("partner_id", sa.UUID(), nullable=False),
        sa.Column("external_ref", sa.Text(), nullable=False),
        sa.Column("link_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("order_number", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        _now(),
        sa.ForeignKeyConstraint(["link_id", "user_id"],
                                ["partner_links.id", "partner_links.user_id"],
                                name=op.f("fk_partner_orders_link_id_partner_links")),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"],
                                name=op.f("fk_partner_orders_partner_id_partners")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_partner_orders_order_id")),
        sa.UniqueConstraint("id", "user_id", name=op.f("uq_partner_orders_id_user_id")),
        sa.UniqueConstraint("partner_id", "external_ref",
                            name=op.f("uq_partner_orders_partner_id_external_ref")),
    )
    op.create_index("ix_partner_orders_partner", "partner_orders", ["partner_id", "id"])
    op.create_table(
        "partner_events",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("partner_id", sa.UUID(), nullable=False),
        sa.Column("partner_order_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'::text"),
                  nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("series", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        _now(),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')",
                           name=op.f("ck_partner_events_status")),
        sa.CheckConstraint("attempts >= 0 AND series >= 1 AND sequence >= 1",
                           name=op.f("ck_partner_events_counts")),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"],
                                name=op.f("fk_partner_events_partner_id_partners")),
        sa.ForeignKeyConstraint(["partner_order_id", "user_id"],
                                ["partner_orders.id", "partner_orders.user_id"],
                                name=op.f("fk_partner_events_partner_order_id_partner_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_events")),
        sa.UniqueConstraint("partner_order_id", "sequence",
                            name=op.f("uq_partner_events_partner_order_id_sequence")),
        sa.UniqueConstraint("id", "user_id", name=op.f("uq_partner_events_id_user_id")),
    )
    op.create_index("ix_partner_events_partner", "partner_events", ["partner_id", "id"])
    op.create_index("ix_partner_events_due", "partner_events", ["next_attempt_at"],
                    postgresql_where=sa.text("status = 'pending'::text"))
    op.create_table(
        "partner_deliveries",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("partner_id", sa.UUID(), nullable=False),
        sa.Column("series", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["event_id", "user_id"],
                                ["partner_events.id", "partner_events.user_id"],
                                name=op.f("fk_partner_deliveries_event_id_partner_events")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_deliveries")),
    )
    op.create_index("ix_partner_deliveries_event", "partner_deliveries", ["event_id", "id"])
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    for table in ("partner_deliveries", "partner_events", "partner_orders", "partner_links",
                  "partners"):
        op.drop_table(table)
