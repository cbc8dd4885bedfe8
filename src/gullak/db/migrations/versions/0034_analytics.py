"""Analytics: activity events partitioned by UTC month of their time (in the schema
`analytics_partitions`, with a DEFAULT partition that catches a month not made yet), the days
marked for recomputation, and the user, merchant, offer and platform daily summaries.

`analytics_create_partition(at)` makes the month of `at` (moving into it whatever the default
partition caught of that month); this migration makes the current and next months, and the
job `analytics.partitions` keeps making them ahead and drops those past the retention.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("analytics.read", "Read activity analytics: summaries, active users, user statistics"),
]
SCHEMA = "analytics_partitions"

CREATE_PARTITION = """
CREATE FUNCTION analytics_create_partition(at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  month timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
  lo timestamptz := month AT TIME ZONE 'UTC';
  hi timestamptz := (month + interval '1 month') AT TIME ZONE 'UTC';
  name text := 'activity_events_p' || to_char(month, 'YYYY_MM');
BEGIN
  -- One maker at a time (the job, the CLI, a write that found no month): the check holds.
  PERFORM pg_advisory_xact_lock(hashtext('analytics_create_partition'));
  IF to_regclass(format('analytics_partitions.%I', name)) IS NOT NULL THEN
    RETURN NULL;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM analytics_partitions.activity_events_default
                 WHERE occurred_at >= lo AND occurred_at < hi) THEN
    EXECUTE format('CREATE TABLE analytics_partitions.%I PARTITION OF public.activity_events'
                   ' FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    RETURN name;
  END IF;
  -- Rows written while the month had no partition wait in the default one: move them in.
  -- The lock keeps new ones from landing there until the month is attached.
  LOCK TABLE analytics_partitions.activity_events_default IN ACCESS EXCLUSIVE MODE;
  EXECUTE format('CREATE TABLE analytics_partitions.%I (LIKE public.activity_events'
                 ' INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
  EXECUTE format('WITH moved AS (DELETE FROM analytics_partitions.activity_events_default'
                 ' WHERE occurred_at >= %L AND occurred_at < %L RETURNING *)'
                 ' INSERT INTO analytics_partitions.%I SELECT * FROM moved', lo, hi, name);
  EXECUTE format('ALTER TABLE public.activity_events ATTACH PARTITION analytics_partitions.%I'
                 ' FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
  RETURN name;
END $$
"""


def _counts() -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column(c, sa.BigInteger(), server_default=sa.text("0"), nullable=False)
            for c in ("events", "views", "clicks", "redemptions")] + [
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False)]


def _numbers(*names: str) -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column(n, sa.BigInteger(), server_default=sa.text("0"), nullable=False)
            for n in names]


def upgrade() -> None:
    op.create_table(
        "activity_events",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("client_event_id", sa.Text(), nullable=True),
        sa.Column("merchant_id", sa.UUID(), nullable=True),
        sa.Column("offer_id", sa.UUID(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("unit", sa.Text(), nullable=True),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.CheckConstraint("source IN ('client', 'server')",
                           name=op.f("ck_activity_events_source")),
        sa.CheckConstraint("source = 'server' OR (user_id IS NOT NULL"
                           " AND client_event_id IS NOT NULL)",
                           name=op.f("ck_activity_events_client_key")),
        sa.PrimaryKeyConstraint("id", "occurred_at", name=op.f("pk_activity_events")),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    op.create_index("uq_activity_events_client", "activity_events",
                    ["user_id", "occurred_at", "client_event_id"], unique=True)
    op.create_index("ix_activity_events_occurred", "activity_events", ["occurred_at"],
                    postgresql_using="brin")
    op.create_index("ix_activity_events_merchant", "activity_events",
                    ["merchant_id", "occurred_at"],
                    postgresql_where=sa.text("merchant_id IS NOT NULL"))
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    op.execute(f"CREATE TABLE {SCHEMA}.activity_events_default"
               " PARTITION OF public.activity_events DEFAULT")
    op.execute(CREATE_PARTITION)
    op.execute("SELECT analytics_create_partition(now()),"
               " analytics_create_partition(now() + interval '1 month')")

    op.create_table(
        "analytics_stale_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_analytics_stale_days")),
    )
    op.create_table(
        "user_daily_summaries",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_numbers("sessions", "searches", "orders", "spent", "paid", "rewards", "cashback",
                  "withdrawn", "steps"),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_user_daily_summaries")),
    )
    op.create_index("ix_user_daily_summaries_day", "user_daily_summaries", ["day"])
    op.create_table(
        "merchant_daily_summaries",
        sa.Column("merchant_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_numbers("visitors", "orders", "gmv", "reviews"),
        *_counts(),
        sa.PrimaryKeyConstraint("merchant_id", "day", name=op.f("pk_merchant_daily_summaries")),
    )
    op.create_index("ix_merchant_daily_summaries_day", "merchant_daily_summaries", ["day"])
    op.create_table(
        "offer_daily_summaries",
        sa.Column("offer_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("merchant_id", sa.UUID(), nullable=True),
        *_numbers("viewers", "clickers", "redeemers"),
        *_counts(),
        sa.PrimaryKeyConstraint("offer_id", "day", name=op.f("pk_offer_daily_summaries")),
    )
    op.create_index("ix_offer_daily_summaries_day", "offer_daily_summaries", ["day"])
    op.create_index("ix_offer_daily_summaries_merchant", "offer_daily_summaries",
                    ["merchant_id", "day"])
    op.create_table(
        "platform_daily_summaries",
        sa.Column("day", sa.Date(), nullable=False),
        *_numbers("events", "active_users", "sign_ups", "coins_issued", "coins_spent",
                  "coins_expired", "cashback_pending", "cashback_confirmed", "orders", "gmv",
                  "refunds", "withdrawals", "withdrawn", "steps"),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_platform_daily_summaries")),
    )
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    for table in ("platform_daily_summaries", "offer_daily_summaries",
                  "merchant_daily_summaries", "user_daily_summaries", "analytics_stale_days"):
        op.drop_table(table)
    op.execute("DROP FUNCTION analytics_create_partition(timestamptz)")
    op.drop_table("activity_events")
    op.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
