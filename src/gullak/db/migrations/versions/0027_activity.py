"""Activity: step records and validations, conversions, goals, challenges.

Step records partitioned by month of their day (partitions.step_records_pYYYY_MM, made from
last month to three months on here, then by the job `activity.ensure_partitions`), the daily
summaries with their validation state and coins, the anti-cheat runs, the devices seen, and
the activity permissions.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("activity.read", "Read users' steps, their validations and the review queue"),
    ("activity.review", "Approve or reject step days held for review"),
    ("activity.manage", "Create and cancel step challenges"),
]
TABLES = ("challenge_participants", "challenges", "step_validations", "daily_step_summary", "step_devices", "step_records")


def _now(name: str = "created_at") -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"),
                     nullable=False)


def upgrade() -> None:
    op.create_table(
        "step_records",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("utc_offset_minutes", sa.SmallInteger(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Text(), nullable=False),
        sa.Column("distance_m", sa.Integer(), nullable=True),
        sa.Column("calories", sa.Integer(), nullable=True),
        sa.Column("active_minutes", sa.Integer(), nullable=True),
        _now("synced_at"),
        sa.CheckConstraint("source IN ('device', 'apple_health', 'google_fit', 'manual')",
                           name=op.f("ck_step_records_source")),
        sa.CheckConstraint("kind IN ('day', 'interval')", name=op.f("ck_step_records_kind")),
        sa.CheckConstraint("count >= 0 AND (distance_m IS NULL OR distance_m >= 0)"
                           " AND (calories IS NULL OR calories >= 0)"
                           " AND (active_minutes IS NULL OR active_minutes >= 0)",
                           name=op.f("ck_step_records_numbers")),
        sa.CheckConstraint("kind = 'day' OR end_at > start_at",
                           name=op.f("ck_step_records_interval")),
        sa.PrimaryKeyConstraint("user_id", "day", "source", "kind", "start_at",
                                name=op.f("pk_step_records")),
        postgresql_partition_by="RANGE (day)",
    )
    op.create_index("ix_step_records_device", "step_records", ["device_id", "day"])
    _partitions()
    op.create_table(
        "step_devices",
        sa.Column("device_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "user_id", name=op.f("pk_step_devices")),
    )
    op.create_table(
        "daily_step_summary",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("steps", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("distance_m", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("by_source", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("utc_offset_minutes", sa.SmallInteger(), nullable=True),
        sa.Column("pattern", sa.Text(), nullable=True),
        sa.Column("early_bird", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'open'::text"), nullable=False),
        sa.Column("score", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("verified_steps", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("multiplier_bp", sa.Integer(), server_default=sa.text("10000"),
                  nullable=False),
        sa.Column("credited", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("unrecovered", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("posted_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("post_amount", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _now(), _now("updated_at"),
        sa.CheckConstraint("status IN ('open', 'verified', 'partial', 'review', 'rejected')",
                           name=op.f("ck_daily_step_summary_status")),
        sa.CheckConstraint("steps >= 0 AND verified_steps >= 0 AND credited >= 0 AND score >= 0"
                           " AND version >= 0 AND posted_version >= 0"
                           " AND posted_version <= version AND multiplier_bp > 0",
                           name=op.f("ck_daily_step_summary_numbers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_step_summary")),
        sa.UniqueConstraint("user_id", "day", name=op.f("uq_daily_step_summary_user_id_day")),
    )
    op.create_index("ix_daily_step_summary_day", "daily_step_summary", ["day", "status"])
    op.create_index("ix_daily_step_summary_unposted", "daily_step_summary", ["day"],
                    postgresql_where=sa.text("posted_version < version"))
    op.create_table(
        "step_validations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("summary_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reasons", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.UUID(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        _now(),
        sa.CheckConstraint(
            "outcome IN ('verified', 'partial', 'review', 'rejected', 'approved')",
            name=op.f("ck_step_validations_outcome")),
        sa.CheckConstraint("score >= 0 AND steps >= 0", name=op.f("ck_step_validations_numbers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_validations")),
    )
    op.create_index("ix_step_validations_summary", "step_validations", ["summary_id", "id"])
    op.create_index("ix_step_validations_review", "step_validations", ["id"],
                    postgresql_where=sa.text("outcome = 'review'::text AND decided_at IS NULL"))
    op.create_table(
        "challenges",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("asset_code", sa.Text(), nullable=False),
        sa.Column("entry_fee", sa.BigInteger(), nullable=False),
        sa.Column("sponsor_amount", sa.BigInteger(), server_default=sa.text("0"),
                  nullable=False),
        sa.Column("prize_split_bp", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("max_participants", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'open'::text"), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=False),
        sa.Column("created_by_kind", sa.Text(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        _now(), _now("updated_at"),
        sa.CheckConstraint("kind IN ('solo', 'friends', 'college', 'company')",
                           name=op.f("ck_challenges_kind")),
        sa.CheckConstraint("status IN ('open', 'finished', 'cancelled')",
                           name=op.f("ck_challenges_status")),
        sa.CheckConstraint("entry_fee >= 0 AND sponsor_amount >= 0 AND ends_on >= starts_on"
                           " AND max_participants > 0", name=op.f("ck_challenges_numbers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_challenges")),
        sa.UniqueConstraint("code", name=op.f("uq_challenges_code")),
    )
    op.create_index("ix_challenges_status", "challenges", ["status", "ends_on"])
    op.create_table(
        "challenge_participants",
        sa.Column("challenge_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("team", sa.Text(), nullable=True),
        sa.Column("hold_id", sa.UUID(), nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("steps", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("prize", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("prize >= 0 AND steps >= 0",
                           name=op.f("ck_challenge_participants_numbers")),
        sa.PrimaryKeyConstraint("challenge_id", "user_id",
                                name=op.f("pk_challenge_participants")),
    )
    op.create_index("ix_challenge_participants_user", "challenge_participants",
                    ["user_id", "challenge_id"])
    op.execute("CREATE SEQUENCE challenge_code_seq")
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def _partitions() -> None:
    """From last month (the resync window reaches back at most four weeks) to three months
    on, as the job `activity.ensure_partitions` does after."""
    op.execute("""
        DO $$
        DECLARE m timestamptz;
        BEGIN
          FOR m IN SELECT generate_series(date_trunc('month', now() - interval '1 month'),
                                          date_trunc('month', now() + interval '3 months'),
                                          interval '1 month') LOOP
            EXECUTE format('CREATE TABLE IF NOT EXISTS partitions.%I PARTITION OF step_records'
                           ' FOR VALUES FROM (%L) TO (%L)',
                           'step_records_p' || to_char(m, 'YYYY_MM'), m::date,
                           (m + interval '1 month')::date);
          END LOOP;
        END $$""")


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.execute("DROP SEQUENCE challenge_code_seq")
    # Dropping a partitioned table drops its partitions.
    for table in TABLES:
        op.drop_table(table)
