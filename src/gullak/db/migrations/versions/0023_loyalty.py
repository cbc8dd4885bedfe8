"""Loyalty: tiers, privé, achievements.

Tiers and each user's standing with the activity it rests on, privé plans with their partner
merchants, subscriptions and their payments, achievements with users' progress and streaks,
and the back office's loyalty permissions.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("loyalty.read", "Read tiers, users' loyalty standing and history, privé plans and"
                     " subscriptions, achievements"),
    ("loyalty.manage", "Change tiers, set a user's tier, manage privé plans and partners,"
                       " add achievements"),
]


def upgrade() -> None:
    # Privé plans are paid through the payments domain, as payments of purpose 'subscription'.
    op.drop_constraint(op.f("ck_payments_purpose"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_purpose"), "payments",
                               "purpose IN ('order', 'topup', 'subscription')")
    op.create_table('achievements',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), server_default=sa.text("''::text"), nullable=False),
    sa.Column('metric', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), server_default=sa.text("'total'::text"), nullable=False),
    sa.Column('target', sa.BigInteger(), nullable=False),
    sa.Column('bonus_asset', sa.Text(), nullable=True),
    sa.Column('bonus_amount', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('position', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'active'::text"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[a-z][a-z0-9_]{1,39}$'", name=op.f('ck_achievements_code')),
    sa.CheckConstraint("kind IN ('total', 'streak')", name=op.f('ck_achievements_kind')),
    sa.CheckConstraint("metric ~ '^[a-z][a-z0-9_]{0,39}$'", name=op.f('ck_achievements_metric')),
    sa.CheckConstraint("status IN ('active', 'retired')", name=op.f('ck_achievements_status')),
    sa.CheckConstraint('target > 0 AND bonus_amount >= 0', name=op.f('ck_achievements_numbers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_achievements')),
    sa.UniqueConstraint('code', name=op.f('uq_achievements_code'))
    )
    op.create_index('ix_achievements_metric', 'achievements', ['metric'], unique=False, postgresql_where=sa.text("status = 'active'"))
    op.create_table('loyalty_activity',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('metric', sa.Text(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reference', sa.Text(), nullable=True),
    sa.CheckConstraint("metric ~ '^[a-z][a-z0-9_]{0,39}$'", name=op.f('ck_loyalty_activity_metric')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_loyalty_activity_amount')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_activity'))
    )
    op.create_index('ix_loyalty_activity_window', 'loyalty_activity', ['user_id', 'metric', 'at'], unique=False)
    op.create_index('uq_loyalty_activity_reference', 'loyalty_activity', ['user_id', 'metric', 'reference'], unique=True, postgresql_where=sa.text('reference IS NOT NULL'))
    op.create_table('loyalty_tier_changes',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('from_tier', sa.Text(), nullable=True),
    sa.Column('to_tier', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor_id', sa.UUID(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_tier_changes'))
    )
    op.create_index('ix_loyalty_tier_changes_user', 'loyalty_tier_changes', ['user_id', 'id'], unique=False)
    op.create_table('loyalty_tiers',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('metric', sa.Text(), nullable=False),
    sa.Column('threshold', sa.BigInteger(), nullable=False),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('multiplier_bp', sa.Integer(), nullable=False),
    sa.Column('benefits', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('grace_days', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[a-z][a-z0-9_]{1,39}$'", name=op.f('ck_loyalty_tiers_code')),
    sa.CheckConstraint("metric IN ('spent', 'earned')", name=op.f('ck_loyalty_tiers_metric')),
    sa.CheckConstraint('threshold >= 0 AND window_days > 0 AND grace_days >= 0 AND multiplier_bp > 0 AND rank >= 0', name=op.f('ck_loyalty_tiers_numbers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_tiers')),
    sa.UniqueConstraint('code', name=op.f('uq_loyalty_tiers_code')),
    sa.UniqueConstraint('rank', name=op.f('uq_loyalty_tiers_rank'))
    )
    op.create_table('prive_plans',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.Text(), server_default=sa.text("'INR'::text"), nullable=False),
    sa.Column('period_days', sa.Integer(), nullable=False),
    sa.Column('grace_days', sa.Integer(), server_default=sa.text('3'), nullable=False),
    sa.Column('multiplier_bp', sa.Integer(), nullable=False),
    sa.Column('discount_bp', sa.Integer(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'active'::text"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[a-z][a-z0-9_]{1,39}$'", name=op.f('ck_prive_plans_code')),
    sa.CheckConstraint("status IN ('active', 'retired')", name=op.f('ck_prive_plans_status')),
    sa.CheckConstraint('price > 0 AND period_days > 0 AND grace_days >= 0 AND multiplier_bp > 0 AND discount_bp BETWEEN 0 AND 10000', name=op.f('ck_prive_plans_numbers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prive_plans')),
    sa.UniqueConstraint('code', name=op.f('uq_prive_plans_code'))
    )
    op.create_table('user_streaks',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('metric', sa.Text(), nullable=False),
    sa.Column('current', sa.Integer(), nullable=False),
    sa.Column('longest', sa.Integer(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'metric', name=op.f('pk_user_streaks'))
    )
    op.create_table('prive_merchants',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('plan_id', sa.UUID(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('discount_bp', sa.Integer(), nullable=True),
    sa.Column('multiplier_bp', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('(discount_bp IS NULL OR discount_bp BETWEEN 0 AND 10000) AND (multiplier_bp IS NULL OR multiplier_bp > 0)', name=op.f('ck_prive_merchants_numbers')),
    sa.ForeignKeyConstraint(['plan_id'], ['prive_plans.id'], name=op.f('fk_prive_merchants_plan_id_prive_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prive_merchants')),
    sa.UniqueConstraint('plan_id', 'merchant_id', name=op.f('uq_prive_merchants_plan_id_merchant_id'))
    )
    op.create_index('ix_prive_merchants_merchant', 'prive_merchants', ['merchant_id'], unique=False)
    op.create_table('prive_subscriptions',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('plan_id', sa.UUID(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('auto_renew', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending_payment', 'active', 'past_due', 'expired', 'cancelled')", name=op.f('ck_prive_subscriptions_status')),
    sa.CheckConstraint('period_end IS NULL OR period_end > period_start', name=op.f('ck_prive_subscriptions_period')),
    sa.ForeignKeyConstraint(['plan_id'], ['prive_plans.id'], name=op.f('fk_prive_subscriptions_plan_id_prive_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prive_subscriptions')),
    sa.UniqueConstraint('id', 'user_id', name=op.f('uq_prive_subscriptions_id_user_id'))
    )
    op.create_index('ix_prive_subscriptions_due', 'prive_subscriptions', ['period_end'], unique=False, postgresql_where=sa.text("status IN ('active', 'past_due')"))
    op.create_index('ix_prive_subscriptions_user', 'prive_subscriptions', ['user_id', 'id'], unique=False)
    op.create_index('uq_prive_subscriptions_live', 'prive_subscriptions', ['user_id'], unique=True, postgresql_where=sa.text("status IN ('pending_payment', 'active', 'past_due')"))
    op.create_table('user_achievements',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('achievement_id', sa.UUID(), nullable=False),
    sa.Column('progress', sa.BigInteger(), nullable=False),
    sa.Column('unlocked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('transfer_id', sa.UUID(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['achievement_id'], ['achievements.id'], name=op.f('fk_user_achievements_achievement_id_achievements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_achievements')),
    sa.UniqueConstraint('user_id', 'achievement_id', name=op.f('uq_user_achievements_user_id_achievement_id'))
    )
    op.create_table('user_loyalty',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('tier_code', sa.Text(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('grace_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tier_code'], ['loyalty_tiers.code'], name=op.f('fk_user_loyalty_tier_code_loyalty_tiers')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_user_loyalty'))
    )
    op.create_index('ix_user_loyalty_review', 'user_loyalty', ['review_at'], unique=False, postgresql_where=sa.text('review_at IS NOT NULL'))
    op.create_table('prive_payments',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('subscription_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('payment_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('for_period_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'open'::text"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('initial', 'renewal')", name=op.f('ck_prive_payments_kind')),
    sa.CheckConstraint("status IN ('open', 'succeeded', 'failed')", name=op.f('ck_prive_payments_status')),
    sa.ForeignKeyConstraint(['subscription_id', 'user_id'], ['prive_subscriptions.id', 'prive_subscriptions.user_id'], name=op.f('fk_prive_payments_subscription_id_prive_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prive_payments')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_prive_payments_payment_id'))
    )
    op.create_index('ix_prive_payments_subscription', 'prive_payments', ['subscription_id', 'id'], unique=False)
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    op.drop_constraint(op.f("ck_payments_purpose"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_purpose"), "payments",
                               "purpose IN ('order', 'topup')")
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.drop_index('ix_prive_payments_subscription', table_name='prive_payments')
    op.drop_table('prive_payments')
    op.drop_index('ix_user_loyalty_review', table_name='user_loyalty', postgresql_where=sa.text('review_at IS NOT NULL'))
    op.drop_table('user_loyalty')
    op.drop_table('user_achievements')
    op.drop_index('uq_prive_subscriptions_live', table_name='prive_subscriptions', postgresql_where=sa.text("status IN ('pending_payment', 'active', 'past_due')"))
    op.drop_index('ix_prive_subscriptions_user', table_name='prive_subscriptions')
    op.drop_index('ix_prive_subscriptions_due', table_name='prive_subscriptions', postgresql_where=sa.text("status IN ('active', 'past_due')"))
    op.drop_table('prive_subscriptions')
    op.drop_index('ix_prive_merchants_merchant', table_name='prive_merchants')
    op.drop_table('prive_merchants')
    op.drop_table('user_streaks')
    op.drop_table('prive_plans')
    op.drop_table('loyalty_tiers')
    op.drop_index('ix_loyalty_tier_changes_user', table_name='loyalty_tier_changes')
    op.drop_table('loyalty_tier_changes')
    op.drop_index('uq_loyalty_activity_reference', table_name='loyalty_activity', postgresql_where=sa.text('reference IS NOT NULL'))
    op.drop_index('ix_loyalty_activity_window', table_name='loyalty_activity')
    op.drop_table('loyalty_activity')
    op.drop_index('ix_achievements_metric', table_name='achievements', postgresql_where=sa.text("status = 'active'"))
    op.drop_table('achievements')
