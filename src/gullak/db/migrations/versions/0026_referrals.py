"""Referrals, colleges, ambassadors: referral programs (the condition a referee meets) and
referral tiers, referrals with their outcome and the risk events of refused ones, colleges,
student verifications and student ambassadors, and the back office's referral permissions.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("referrals.read", "Read referrals, their risk events, programs, tiers, colleges, student"
     " verifications and ambassadors"),
    ("referrals.manage", "Configure referral programs and tiers, colleges, review student"
     " verifications and ambassadors"),
]
TABLES = ("referral_risk_events", "referrals", "student_ambassadors", "user_colleges",
          "referral_tiers", "referral_programs", "colleges")


def upgrade() -> None:
    op.create_table('colleges',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('city', sa.Text(), nullable=False),
    sa.Column('domain', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default=sa.text("'active'::text"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('active', 'inactive')", name=op.f('ck_colleges_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_colleges'))
    )
    op.create_index('uq_colleges_name_city', 'colleges', [sa.literal_column('lower(name)'), sa.literal_column('lower(city)')], unique=True)
    op.create_table('referral_programs',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('condition', sa.Text(), nullable=False),
    sa.Column('steps_required', sa.Integer(), nullable=True),
    sa.Column('commission_amount', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('commission_bp', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(condition = 'steps') = (steps_required IS NOT NULL)", name=op.f('ck_referral_programs_steps')),
    sa.CheckConstraint("condition IN ('first_order', 'first_topup', 'steps')", name=op.f('ck_referral_programs_condition')),
    sa.CheckConstraint('steps_required > 0 AND commission_amount >= 0 AND commission_bp BETWEEN 0 AND 10000', name=op.f('ck_referral_programs_amounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_programs')),
    sa.UniqueConstraint('name', name=op.f('uq_referral_programs_name'))
    )
    op.create_index('uq_referral_programs_active', 'referral_programs', ['active'], unique=True, postgresql_where=sa.text('active'))
    op.create_table('referral_tiers',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('min_referrals', sa.Integer(), nullable=False),
    sa.Column('multiplier_bp', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('min_referrals >= 0 AND multiplier_bp > 0', name=op.f('ck_referral_tiers_amounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_tiers')),
    sa.UniqueConstraint('min_referrals', name=op.f('uq_referral_tiers_min_referrals'))
    )
    op.create_table('referrals',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('referrer_id', sa.UUID(), nullable=False),
    sa.Column('referee_id', sa.UUID(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('program_id', sa.UUID(), nullable=True),
    sa.Column('condition', sa.Text(), nullable=False),
    sa.Column('steps_required', sa.Integer(), nullable=True),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'::text"), nullable=False),
    sa.Column('refused_reason', sa.Text(), nullable=True),
    sa.Column('device_id', sa.Text(), nullable=True),
    sa.Column('referee_phone_hash', sa.Text(), nullable=True),
    sa.Column('qualified_by', sa.Text(), nullable=True),
    sa.Column('qualifying_amount', sa.BigInteger(), nullable=True),
    sa.Column('referral_count', sa.Integer(), nullable=True),
    sa.Column('tier_label', sa.Text(), nullable=True),
    sa.Column('multiplier_bp', sa.Integer(), nullable=True),
    sa.Column('ambassador_id', sa.UUID(), nullable=True),
    sa.Column('commission', sa.BigInteger(), nullable=True),
    sa.Column('commission_transfer_id', sa.UUID(), nullable=True),
    sa.Column('qualified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rewarded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(status = 'refused') = (refused_reason IS NOT NULL)", name=op.f('ck_referrals_refused')),
    sa.CheckConstraint("condition IN ('first_order', 'first_topup', 'steps')", name=op.f('ck_referrals_condition')),
    sa.CheckConstraint("status IN ('pending', 'qualified', 'rewarded', 'refused')", name=op.f('ck_referrals_status')),
    sa.ForeignKeyConstraint(['program_id'], ['referral_programs.id'], name=op.f('fk_referrals_program_id_referral_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referrals')),
    sa.UniqueConstraint('referee_id', name=op.f('uq_referrals_referee_id'))
    )
    op.create_index('ix_referrals_phone', 'referrals', ['referee_phone_hash'], unique=False)
    op.create_index('ix_referrals_referrer', 'referrals', ['referrer_id', 'id'], unique=False)
    op.create_index('ix_referrals_status', 'referrals', ['status', 'id'], unique=False)
    op.create_table('student_ambassadors',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('college_id', sa.UUID(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'applied'::text"), nullable=False),
    sa.Column('commission_amount', sa.BigInteger(), nullable=True),
    sa.Column('commission_bp', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('appointed_by', sa.UUID(), nullable=True),
    sa.Column('appointed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('applied', 'active', 'rejected', 'suspended')", name=op.f('ck_student_ambassadors_status')),
    sa.CheckConstraint('commission_amount >= 0 AND commission_bp BETWEEN 0 AND 10000', name=op.f('ck_student_ambassadors_amounts')),
    sa.ForeignKeyConstraint(['college_id'], ['colleges.id'], name=op.f('fk_student_ambassadors_college_id_colleges')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_student_ambassadors')),
    sa.UniqueConstraint('code', name=op.f('uq_student_ambassadors_code')),
    sa.UniqueConstraint('user_id', name=op.f('uq_student_ambassadors_user_id'))
    )
    op.create_index('ix_student_ambassadors_status', 'student_ambassadors', ['status', 'id'], unique=False)
    op.create_table('user_colleges',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('college_id', sa.UUID(), nullable=False),
    sa.Column('student_id_number', sa.Text(), nullable=False),
    sa.Column('document_ref', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'::text"), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('reviewed_by', sa.UUID(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'verified', 'rejected')", name=op.f('ck_user_colleges_status')),
    sa.ForeignKeyConstraint(['college_id'], ['colleges.id'], name=op.f('fk_user_colleges_college_id_colleges')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_colleges'))
    )
    op.create_index('ix_user_colleges_status', 'user_colleges', ['status', 'id'], unique=False)
    op.create_index('uq_user_colleges_live', 'user_colleges', ['user_id'], unique=True, postgresql_where=sa.text("status <> 'rejected'::text"))
    op.create_table('referral_risk_events',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('referral_id', sa.UUID(), nullable=True),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('details', postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['referral_id'], ['referrals.id'], name=op.f('fk_referral_risk_events_referral_id_referrals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_risk_events'))
    )
    op.create_index('ix_referral_risk_events_kind', 'referral_risk_events', ['kind', 'id'], unique=False)
    op.create_index('ix_referral_risk_events_user', 'referral_risk_events', ['user_id', 'id'], unique=False)

    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    for table in TABLES:
        op.drop_table(table)
