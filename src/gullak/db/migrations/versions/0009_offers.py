"""Offers: offers with their rules and approval workflow, redemptions and the per-user
counters that keep limits exact, saves and shares, and views and clicks partitioned by month.

The partitions (one per month, plus a default one so that no row is ever refused) live in
the `offer_partitions` schema; this migration creates those of the current and next months,
and the periodic job `offers.ensure_partitions` keeps creating them ahead of time.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("offers.read", "Read every merchant's offers, redemptions and their tracking"),
    ("offers.manage", "Create and edit offers of any merchant; pause, resume, feature, boost"),
    ("offers.review", "Approve or reject offers submitted for review"),
    ("redemptions.manage", "Complete, cancel and refund offer redemptions"),
]
PARTITIONED = ("offer_views", "offer_clicks")
SCHEMA = "offer_partitions"

# The months are UTC months, like the job's (see offers/service.py `ensure_partitions`).
PARTITIONS_NOW = """
DO $$
DECLARE
  parent text;
  month timestamptz;
BEGIN
  FOREACH parent IN ARRAY ARRAY['offer_views', 'offer_clicks'] LOOP
    FOR month IN SELECT generate_series(date_trunc('month', now() AT TIME ZONE 'UTC'),
                                        date_trunc('month', now() AT TIME ZONE 'UTC')
                                          + interval '1 month', interval '1 month')
                        AT TIME ZONE 'UTC' LOOP
      EXECUTE format('CREATE TABLE offer_partitions.%I PARTITION OF public.%I'
                     ' FOR VALUES FROM (%L) TO (%L)',
                     parent || '_p' || to_char(month AT TIME ZONE 'UTC', 'YYYY_MM'), parent,
                     month, month + interval '1 month');
    END LOOP;
  END LOOP;
END $$
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table('offers',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('category_id', sa.UUID(), nullable=True),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('terms', sa.Text(), nullable=True),
    sa.Column('image_url', sa.Text(), nullable=True),
    sa.Column('banner_url', sa.Text(), nullable=True),
    sa.Column('coupon_code', sa.Text(), nullable=True),
    sa.Column('discount_kind', sa.Text(), nullable=True),
    sa.Column('discount_value', sa.BigInteger(), nullable=True),
    sa.Column('max_discount', sa.BigInteger(), nullable=True),
    sa.Column('cashback_kind', sa.Text(), nullable=True),
    sa.Column('cashback_value', sa.BigInteger(), nullable=True),
    sa.Column('max_cashback', sa.BigInteger(), nullable=True),
    sa.Column('bogo_buy', sa.Integer(), nullable=True),
    sa.Column('bogo_get', sa.Integer(), nullable=True),
    sa.Column('freebie_item', sa.Text(), nullable=True),
    sa.Column('min_order_value', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('coins_required', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('coins_earned', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('branded_coins_earned', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('branded_asset_code', sa.Text(), nullable=True),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('weekdays', postgresql.ARRAY(sa.Text()), nullable=True),
    sa.Column('hours', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('total_limit', sa.Integer(), nullable=True),
    sa.Column('per_user_limit', sa.Integer(), nullable=True),
    sa.Column('redemptions_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('segments', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{all}'::text[]"), nullable=False),
    sa.Column('audience_tags', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
    sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
    sa.Column('cities', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
    sa.Column('min_level', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('outlet_ids', postgresql.ARRAY(sa.UUID()), server_default=sa.text("'{}'::uuid[]"), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'draft'::text"), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reviewed_by', sa.UUID(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('is_featured', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('boosted_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('display_priority', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.Column('keywords', sa.Text(), server_default=sa.text("''::text"), nullable=False),
    sa.Column('search_vector', postgresql.TSVECTOR(), sa.Computed("setweight(to_tsvector('english'::regconfig, title), 'A') || setweight(to_tsvector('simple'::regconfig, coalesce(coupon_code, '')), 'B') || setweight(to_tsvector('english'::regconfig, keywords), 'B') || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')", persisted=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("cashback_kind <> 'percent' OR cashback_value BETWEEN 1 AND 10000", name=op.f('ck_offers_cashback_percent')),
    sa.CheckConstraint("cashback_kind IN ('percent', 'fixed')", name=op.f('ck_offers_cashback_kind')),
    sa.CheckConstraint("discount_kind <> 'percent' OR discount_value BETWEEN 1 AND 10000", name=op.f('ck_offers_discount_percent')),
    sa.CheckConstraint("discount_kind IN ('percent', 'fixed')", name=op.f('ck_offers_discount_kind')),
    sa.CheckConstraint("status IN ('draft', 'pending', 'active', 'paused', 'expired', 'rejected')", name=op.f('ck_offers_status')),
    sa.CheckConstraint("type <> 'coupon_code' OR coupon_code IS NOT NULL", name=op.f('ck_offers_coupon_code')),
    sa.CheckConstraint("type IN ('discount_percent', 'discount_fixed', 'bogo', 'freebie', 'cashback', 'coupon_code', 'deal', 'sale')", name=op.f('ck_offers_type')),
    sa.CheckConstraint('min_order_value >= 0 AND coins_required >= 0 AND coins_earned >= 0 AND branded_coins_earned >= 0', name=op.f('ck_offers_amounts')),
    sa.CheckConstraint('redemptions_count >= 0 AND (total_limit IS NULL OR redemptions_count <= total_limit)', name=op.f('ck_offers_redemptions')),
    sa.CheckConstraint('valid_until > valid_from', name=op.f('ck_offers_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers'))
    )
    op.create_index('ix_offers_active', 'offers', ['valid_until', 'valid_from'], unique=False, postgresql_where=sa.text("status = 'active'::text"))
    op.create_index('ix_offers_cities', 'offers', ['cities'], unique=False, postgresql_using='gin', postgresql_where=sa.text("status = 'active'::text"))
    op.create_index('ix_offers_merchant', 'offers', ['merchant_id', 'id'], unique=False)
    op.create_index('ix_offers_open_until', 'offers', ['valid_until'], unique=False, postgresql_where=sa.text("status = ANY (ARRAY['draft'::text, 'pending'::text, 'active'::text, 'paused'::text])"))
    op.create_index('ix_offers_search', 'offers', ['search_vector'], unique=False, postgresql_using='gin', postgresql_where=sa.text("status = 'active'::text"))
    op.create_index('ix_offers_tags', 'offers', ['tags'], unique=False, postgresql_using='gin', postgresql_where=sa.text("status = 'active'::text"))
    op.create_index('ix_offers_title_trgm', 'offers', ['title'], unique=False, postgresql_using='gin', postgresql_ops={'title': 'gin_trgm_ops'}, postgresql_where=sa.text("status = 'active'::text"))
    op.create_index('uq_offers_coupon_code', 'offers', [sa.literal_column('lower(coupon_code)')], unique=True, postgresql_where=sa.text("coupon_code IS NOT NULL AND status = ANY (ARRAY['draft'::text, 'pending'::text, 'active'::text, 'paused'::text])"))
    op.create_table('offer_redemptions',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('offer_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('outlet_id', sa.UUID(), nullable=True),
    sa.Column('order_ref', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'::text"), nullable=False),
    sa.Column('original_amount', sa.BigInteger(), nullable=False),
    sa.Column('discount_amount', sa.BigInteger(), nullable=False),
    sa.Column('final_amount', sa.BigInteger(), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('coins_used', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('coins_earned', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('cashback_coins', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('branded_coins_earned', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('branded_asset_code', sa.Text(), nullable=True),
    sa.Column('hold_id', sa.UUID(), nullable=True),
    sa.Column('spend_transfer_id', sa.UUID(), nullable=True),
    sa.Column('earn_transfer_ids', postgresql.ARRAY(sa.UUID()), server_default=sa.text("'{}'::uuid[]"), nullable=False),
    sa.Column('idempotency_key', sa.Text(), nullable=True),
    sa.Column('request_hash', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'completed', 'cancelled', 'refunded')", name=op.f('ck_offer_redemptions_status')),
    sa.CheckConstraint('original_amount >= 0 AND discount_amount >= 0 AND final_amount >= 0 AND coins_used >= 0 AND coins_earned >= 0 AND cashback_coins >= 0 AND branded_coins_earned >= 0', name=op.f('ck_offer_redemptions_amounts')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_offer_redemptions_offer_id_offers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offer_redemptions')),
    sa.UniqueConstraint('code', name=op.f('uq_offer_redemptions_code')),
    sa.UniqueConstraint('user_id', 'idempotency_key', name=op.f('uq_offer_redemptions_user_id_idempotency_key'))
    )
    op.create_index('ix_offer_redemptions_merchant', 'offer_redemptions', ['merchant_id', 'id'], unique=False)
    op.create_index('ix_offer_redemptions_offer', 'offer_redemptions', ['offer_id', 'status'], unique=False)
    op.create_index('ix_offer_redemptions_pending', 'offer_redemptions', ['expires_at'], unique=False, postgresql_where=sa.text("status = 'pending'::text"))
    op.create_index('ix_offer_redemptions_user', 'offer_redemptions', ['user_id', 'id'], unique=False)
    op.create_table('offer_user_redemptions',
    sa.Column('offer_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.CheckConstraint('count >= 0', name=op.f('ck_offer_user_redemptions_count')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_offer_user_redemptions_offer_id_offers')),
    sa.PrimaryKeyConstraint('offer_id', 'user_id', name=op.f('pk_offer_user_redemptions'))
    )
    op.create_table('offer_saves',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('offer_id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_offer_saves_offer_id_offers')),
    sa.PrimaryKeyConstraint('user_id', 'offer_id', name=op.f('pk_offer_saves'))
    )
    op.create_index('ix_offer_saves_offer', 'offer_saves', ['offer_id'], unique=False)
    op.create_table('offer_shares',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('offer_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('channel', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_offer_shares_offer_id_offers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offer_shares'))
    )
    op.create_index('ix_offer_shares_offer', 'offer_shares', ['offer_id', 'created_at'], unique=False)
    op.create_table('offer_views',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('offer_id', sa.UUID(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('client_hash', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', 'created_at', name=op.f('pk_offer_views')),
    postgresql_partition_by='RANGE (created_at)'
    )
    op.create_index('ix_offer_views_offer', 'offer_views', ['offer_id', 'created_at'], unique=False)
    op.create_table('offer_clicks',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('offer_id', sa.UUID(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=True),
    sa.Column('tracking_url', sa.Text(), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('device_type', sa.Text(), nullable=True),
    sa.Column('client_hash', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', 'created_at', name=op.f('pk_offer_clicks')),
    postgresql_partition_by='RANGE (created_at)'
    )
    op.create_index('ix_offer_clicks_offer', 'offer_clicks', ['offer_id', 'created_at'], unique=False)
    op.create_index('ix_offer_clicks_user', 'offer_clicks', ['user_id', 'created_at'], unique=False)
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    for parent in PARTITIONED:
        op.execute(f"CREATE TABLE {SCHEMA}.{parent}_default PARTITION OF public.{parent} DEFAULT")
    op.execute(PARTITIONS_NOW)
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    # Dropping a partitioned table drops its partitions.
    for table in ("offer_clicks", "offer_views", "offer_shares", "offer_saves",
                  "offer_user_redemptions", "offer_redemptions", "offers"):
        op.drop_table(table)
    op.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
