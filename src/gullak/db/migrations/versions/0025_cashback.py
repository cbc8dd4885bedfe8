"""Affiliate cashback: networks, conversions.

Networks (how each proves its postbacks, its status words), cashbacks (one per conversion a
network reported, matched to its click or kept for review), and the events as received,
partitioned by month of their id (gullak.db.partitions) from this month to three months on; the
daily job `system.ensure_partitions` makes the months after. And the cashback permissions.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

MONTHS_AHEAD = 3
PERMISSIONS = [
    ("cashback.read", "Read affiliate networks, cashbacks and the postbacks received"),
    ("cashback.manage", "Add and change affiliate networks, upload their reports, confirm,"
                        " assign and dismiss cashbacks"),
]


def _now(name: str = "created_at") -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"),
                     nullable=False)


def _jsonb(name: str) -> sa.Column[Any]:
    return sa.Column(name, postgresql.JSONB(astext_type=sa.Text()),
                     server_default=sa.text("'{}'::jsonb"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "cashback_networks",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("auth_mode", sa.Text(), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("secret_hint", sa.Text(), nullable=False),
        sa.Column("signature_header", sa.Text(), nullable=False),
        sa.Column("token_param", sa.Text(), nullable=False),
        _jsonb("status_map"), _jsonb("field_map"),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("refused_postbacks", sa.BigInteger(), server_default=sa.text("0"),
                  nullable=False),
        sa.Column("last_refused_at", sa.DateTime(timezone=True), nullable=True),
        _now(), _now("updated_at"),
        sa.CheckConstraint("auth_mode IN ('hmac', 'token')",
                           name=op.f("ck_cashback_networks_auth_mode")),
        sa.CheckConstraint("refused_postbacks >= 0", name=op.f("ck_cashback_networks_counts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cashback_networks")),
        sa.UniqueConstraint("code", name=op.f("uq_cashback_networks_code")),
    )
    op.create_table(
        "cashbacks",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("network_id", sa.UUID(), nullable=False),
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.Column("click_id", sa.UUID(), nullable=True),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("offer_id", sa.UUID(), nullable=True),
        sa.Column("merchant_id", sa.UUID(), nullable=True),
        sa.Column("currency", sa.Text(), server_default=sa.text("'INR'::text"), nullable=False),
        sa.Column("order_amount", sa.BigInteger(), nullable=False),
        sa.Column("commission", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("credited", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("revision", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("network_status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pending_account_id", sa.UUID(), nullable=True),
        sa.Column("main_account_id", sa.UUID(), nullable=True),
        _now(), _now("updated_at"),
        sa.CheckConstraint(
            "status IN ('unmatched', 'pending', 'confirmed', 'rejected', 'dismissed')",
            name=op.f("ck_cashbacks_status")),
        sa.CheckConstraint("network_status IN ('pending', 'confirmed', 'rejected')",
                           name=op.f("ck_cashbacks_network_status")),
        sa.CheckConstraint("amount >= 0 AND credited >= 0 AND order_amount >= 0"
                           " AND (commission IS NULL OR commission >= 0) AND revision >= 0",
                           name=op.f("ck_cashbacks_amounts")),
        sa.CheckConstraint("status IN ('unmatched', 'dismissed') OR user_id IS NOT NULL",
                           name=op.f("ck_cashbacks_owner")),
        sa.ForeignKeyConstraint(["network_id"], ["cashback_networks.id"],
                                name=op.f("fk_cashbacks_network_id_cashback_networks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cashbacks")),
        sa.UniqueConstraint("network_id", "transaction_id",
                            name=op.f("uq_cashbacks_network_id_transaction_id")),
    )
    op.create_index("ix_cashbacks_user", "cashbacks", ["user_id", "id"],
                    postgresql_where=sa.text("user_id IS NOT NULL"))
    op.create_index("ix_cashbacks_status", "cashbacks", ["status", "id"])
    op.create_index("ix_cashbacks_unsettled", "cashbacks", ["id"], postgresql_where=sa.text(
        "status = 'confirmed'::text AND settled_at IS NULL"))
    op.create_table(
        "cashback_events",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("network_id", sa.UUID(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        _jsonb("fields"),
        sa.Column("transaction_id", sa.Text(), nullable=True),
        sa.Column("network_status", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("cashback_id", sa.UUID(), nullable=True),
        _now("received_at"),
        sa.CheckConstraint("source IN ('postback', 'report')",
                           name=op.f("ck_cashback_events_source")),
        sa.CheckConstraint(
            "outcome IN ('applied', 'duplicate', 'ignored', 'unmatched', 'invalid')",
            name=op.f("ck_cashback_events_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cashback_events")),
        postgresql_partition_by="RANGE (id)",
    )
    op.create_index("ix_cashback_events_network", "cashback_events", ["network_id", "id"])
    op.create_index("ix_cashback_events_cashback", "cashback_events", ["cashback_id"],
                    postgresql_where=sa.text("cashback_id IS NOT NULL"))
    op.get_bind().execute(sa.text(
        "SELECT gullak_create_partitions('cashback_events', now(),"
        " now() + make_interval(months => :ahead))"), {"ahead": MONTHS_AHEAD})
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    # Dropping a partitioned table drops its partitions.
    for table in ("cashback_events", "cashbacks", "cashback_networks"):
        op.drop_table(table)
