"""Rewards: rules and their versions, campaigns with budgets, rewards, why each rule applied
or not, usage for the caps, debts left by refunds, and the permissions to read and manage them.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("rewards.read", "Read reward rules, campaigns, rewards, debts and why rules applied"),
    ("rewards.manage", "Write reward rules and campaigns, pause and activate them"),
    ("rewards.events", "Report app events that reward rules may pay for"),
]
TABLES = ("reward_app_events", "reward_debts", "reward_evaluations", "reward_usage",
          "rewards", "reward_rule_versions", "reward_rules", "reward_campaign_users",
          "reward_campaigns", "reward_segment_members", "reward_user_stats")


def upgrade() -> None:
    op.create_table('reward_app_events',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_app_events')),
    sa.UniqueConstraint('name', 'key', name=op.f('uq_reward_app_events_name_key'))
    )
    op.create_table('reward_campaigns',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('asset_code', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'draft'::text"), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('budget', sa.BigInteger(), nullable=True),
    sa.Column('spent', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('per_user_limit', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'active', 'paused', 'ended')", name=op.f('ck_reward_campaigns_status')),
    sa.CheckConstraint('ends_at IS NULL OR ends_at > starts_at', name=op.f('ck_reward_campaigns_window')),
    sa.CheckConstraint('per_user_limit IS NULL OR per_user_limit > 0', name=op.f('ck_reward_campaigns_per_user_limit')),
    sa.CheckConstraint('spent >= 0 AND (budget IS NULL OR spent <= budget)', name=op.f('ck_reward_campaigns_budget')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_campaigns'))
    )
    op.create_table('reward_segment_members',
    sa.Column('segment', sa.Text(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('segment', 'user_id', name=op.f('pk_reward_segment_members'))
    )
    op.create_table('reward_user_stats',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('completed_orders', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_reward_user_stats'))
    )
    op.create_table('reward_campaign_users',
    sa.Column('campaign_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('rewards', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('amount', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['reward_campaigns.id'], name=op.f('fk_reward_campaign_users_campaign_id_reward_campaigns')),
    sa.PrimaryKeyConstraint('campaign_id', 'user_id', name=op.f('pk_reward_campaign_users'))
    )
    op.create_table('reward_rules',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('trigger', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'active'::text"), nullable=False),
    sa.Column('campaign_id', sa.UUID(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('active', 'paused')", name=op.f('ck_reward_rules_status')),
    sa.ForeignKeyConstraint(['campaign_id'], ['reward_campaigns.id'], name=op.f('fk_reward_rules_campaign_id_reward_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_rules'))
    )
    op.create_index('ix_reward_rules_trigger', 'reward_rules', ['trigger', 'status'], unique=False)
    op.create_table('reward_rule_versions',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('rule_id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.Text(), nullable=False),
    sa.Column('conditions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('asset_code', sa.Text(), nullable=False),
    sa.Column('tier_multiplier', sa.Boolean(), nullable=False),
    sa.Column('max_per_reward', sa.BigInteger(), nullable=True),
    sa.Column('caps', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('hold_days', sa.Integer(), nullable=False),
    sa.Column('lifetime_days', sa.Integer(), nullable=True),
    sa.Column('funding', sa.Text(), nullable=False),
    sa.Column('funder_merchant_id', sa.UUID(), nullable=True),
    sa.Column('timezone', sa.Text(), nullable=False),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("funding IN ('platform', 'merchant')", name=op.f('ck_reward_rule_versions_funding')),
    sa.CheckConstraint('value >= 0 AND (max_per_reward IS NULL OR max_per_reward > 0) AND hold_days >= 0 AND (lifetime_days IS NULL OR lifetime_days > 0)', name=op.f('ck_reward_rule_versions_amounts')),
    sa.ForeignKeyConstraint(['rule_id'], ['reward_rules.id'], name=op.f('fk_reward_rule_versions_rule_id_reward_rules')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_rule_versions')),
    sa.UniqueConstraint('rule_id', 'version', name=op.f('uq_reward_rule_versions_rule_id_version'))
    )
    op.create_table('reward_usage',
    sa.Column('rule_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('bucket', sa.Text(), nullable=False),
    sa.Column('rewards', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['reward_rules.id'], name=op.f('fk_reward_usage_rule_id_reward_rules')),
    sa.PrimaryKeyConstraint('rule_id', 'user_id', 'bucket', name=op.f('pk_reward_usage'))
    )
    op.create_table('reward_evaluations',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('reference_type', sa.Text(), nullable=False),
    sa.Column('reference_id', sa.Text(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('trigger', sa.Text(), nullable=False),
    sa.Column('decisions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_evaluations'))
    )
    op.create_index('ix_reward_evaluations_reference', 'reward_evaluations', ['reference_type', 'reference_id'], unique=False)
    op.create_table('rewards',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('rule_id', sa.UUID(), nullable=False),
    sa.Column('rule_version_id', sa.UUID(), nullable=False),
    sa.Column('campaign_id', sa.UUID(), nullable=True),
    sa.Column('trigger', sa.Text(), nullable=False),
    sa.Column('asset_code', sa.Text(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('reversed', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'::text"), nullable=False),
    sa.Column('reference_type', sa.Text(), nullable=False),
    sa.Column('reference_id', sa.Text(), nullable=False),
    sa.Column('funder_account_id', sa.UUID(), nullable=False),
    sa.Column('base_amount', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('refunded', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('lifetime_days', sa.Integer(), nullable=True),
    sa.Column('confirm_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lot_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'confirmed', 'reversed')", name=op.f('ck_rewards_status')),
    sa.CheckConstraint('amount > 0 AND reversed >= 0 AND reversed <= amount', name=op.f('ck_rewards_amounts')),
    sa.ForeignKeyConstraint(['campaign_id'], ['reward_campaigns.id'], name=op.f('fk_rewards_campaign_id_reward_campaigns')),
    sa.ForeignKeyConstraint(['rule_id'], ['reward_rules.id'], name=op.f('fk_rewards_rule_id_reward_rules')),
    sa.ForeignKeyConstraint(['rule_version_id'], ['reward_rule_versions.id'], name=op.f('fk_rewards_rule_version_id_reward_rule_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rewards')),
    sa.UniqueConstraint('rule_id', 'reference_type', 'reference_id', 'user_id', name=op.f('uq_rewards_rule_id_reference_type_reference_id_user_id')),
    sa.UniqueConstraint('id', 'user_id', name=op.f('uq_rewards_id_user_id'))
    )
    op.create_index('ix_rewards_due', 'rewards', ['confirm_at'], unique=False, postgresql_where=sa.text("status = 'pending'::text"))
    op.create_index('ix_rewards_reference', 'rewards', ['reference_type', 'reference_id'], unique=False)
    op.create_index('ix_rewards_user', 'rewards', ['user_id', 'id'], unique=False)
    op.create_table('reward_debts',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('asset_code', sa.Text(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('settled', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'open'::text"), nullable=False),
    sa.Column('reward_id', sa.UUID(), nullable=False),
    sa.Column('creditor_account_id', sa.UUID(), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('open', 'settled')", name=op.f('ck_reward_debts_status')),
    sa.CheckConstraint('amount > 0 AND settled >= 0 AND settled <= amount', name=op.f('ck_reward_debts_amounts')),
    sa.ForeignKeyConstraint(['reward_id', 'user_id'], ['rewards.id', 'rewards.user_id'], name=op.f('fk_reward_debts_reward_id_rewards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_debts'))
    )
    op.create_index('ix_reward_debts_open', 'reward_debts', ['user_id', 'asset_code'], unique=False, postgresql_where=sa.text("status = 'open'::text"))

    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    for table in TABLES:
        op.drop_table(table)
