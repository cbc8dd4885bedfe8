"""Campaigns.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("campaigns.read", "See segments, marketing campaigns and their results"),
    ("campaigns.manage", "Create and change segments and marketing campaigns"),
    ("campaigns.approve", "Approve another admin's marketing campaign for sending"),
]


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "campaign_segments",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("filters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_segments")),
    )
    op.create_table(
        "notification_campaigns",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("segment_id", sa.UUID(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("template_code", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("throttle_per_minute", sa.Integer(), nullable=False),
        sa.Column("attribution_days", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'draft'"), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("updated_by", sa.UUID(), nullable=True),
        sa.Column("approved_by", sa.UUID(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint("channel IN ('push', 'inbox', 'sms', 'email')",
                           name=op.f("ck_notification_campaigns_channel")),
        sa.CheckConstraint("status IN ('draft', 'scheduled', 'sending', 'paused', 'sent',"
                           " 'cancelled')", name=op.f("ck_notification_campaigns_status")),
        sa.CheckConstraint("throttle_per_minute > 0 AND attribution_days > 0",
                           name=op.f("ck_notification_campaigns_limits")),
        sa.ForeignKeyConstraint(["segment_id"], ["campaign_segments.id"],
                                name=op.f("fk_notification_campaigns_segment_id_campaign_segments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_campaigns")),
    )
    op.create_index("ix_notification_campaigns_due", "notification_campaigns", ["send_at"],
                    unique=False,
                    postgresql_where=sa.text("status IN ('scheduled', 'sending')"))
    op.create_table(
        "campaign_variants",
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("percent", sa.SmallInteger(), nullable=False),
        sa.Column("template_code", sa.Text(), nullable=True),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("percent BETWEEN 0 AND 100", name=op.f("ck_campaign_variants_percent")),
        sa.ForeignKeyConstraint(["campaign_id"], ["notification_campaigns.id"],
                                name=op.f("fk_campaign_variants_campaign_id_notification_campaigns"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_id", "code", name=op.f("pk_campaign_variants")),
    )
    op.create_table(
        "campaign_recipients",
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("variant", sa.Text(), nullable=False),
        sa.Column("notification_id", sa.UUID(), nullable=True),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("suppressed = (notification_id IS NULL)",
                           name=op.f("ck_campaign_recipients_outcome")),
        sa.ForeignKeyConstraint(["campaign_id"], ["notification_campaigns.id"],
                                name=op.f("fk_campaign_recipients_campaign_id_notification_campaigns")),
        sa.PrimaryKeyConstraint("campaign_id", "user_id", name=op.f("pk_campaign_recipients")),
    )
    op.create_index("ix_campaign_recipients_user", "campaign_recipients", ["user_id", "sent_at"],
                    unique=False)
    op.create_table(
        "experiment_assignments",
        sa.Column("experiment", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("variant", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["notification_campaigns.id"],
                                name=op.f("fk_experiment_assignments_campaign_id_notification_campaigns")),
        sa.PrimaryKeyConstraint("experiment", "user_id", name=op.f("pk_experiment_assignments")),
    )
    op.create_table(
        "campaign_conversions",
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("variant", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("reference_id", sa.UUID(), nullable=False),
        sa.Column("revenue", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.Text(), nullable=True),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("source IN ('order', 'offer')",
                           name=op.f("ck_campaign_conversions_source")),
        sa.CheckConstraint("revenue IS NULL OR revenue >= 0",
                           name=op.f("ck_campaign_conversions_revenue")),
        sa.ForeignKeyConstraint(["campaign_id"], ["notification_campaigns.id"],
                                name=op.f("fk_campaign_conversions_campaign_id_notification_campaigns")),
        sa.PrimaryKeyConstraint("campaign_id", "user_id", name=op.f("pk_campaign_conversions")),
    )
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.drop_table("campaign_conversions")
    op.drop_table("experiment_assignments")
    op.drop_index("ix_campaign_recipients_user", table_name="campaign_recipients")
    op.drop_table("campaign_recipients")
    op.drop_table("campaign_variants")
    op.drop_index("ix_notification_campaigns_due", table_name="notification_campaigns")
    op.drop_table("notification_campaigns")
    op.drop_table("campaign_segments")
