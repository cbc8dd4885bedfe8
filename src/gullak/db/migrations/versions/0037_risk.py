"""Risk: findings of the fraud rules (`risk_events`) with their admin review, the users they
blocked (`risk_blocks`), the cities users signed in from (`risk_sign_in_places`), and the
permissions to read and review them.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("risk.read", "Read risk events and blocks"),
    ("risk.review", "Review risk events and lift blocks"),
]


def upgrade() -> None:
    op.create_table('risk_blocks',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('event_id', sa.UUID(), nullable=False),
    sa.Column('rule', sa.Text(), nullable=False),
    sa.Column('blocked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lifted_by', sa.UUID(), nullable=True),
    sa.Column('lift_note', sa.Text(), nullable=True),
    sa.CheckConstraint('(lifted_at IS NULL) = (lifted_by IS NULL)', name=op.f('ck_risk_blocks_lift')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_blocks')),
    sa.UniqueConstraint('user_id', name=op.f('uq_risk_blocks_user_id'))
    )
    op.create_table('risk_events',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('subject_type', sa.Text(), nullable=False),
    sa.Column('subject_id', sa.Text(), nullable=False),
    sa.Column('rule', sa.Text(), nullable=False),
    sa.Column('score', sa.BigInteger(), nullable=False),
    sa.Column('signals', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('blocked', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'::text"), nullable=False),
    sa.Column('reviewed_by', sa.UUID(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(status = 'pending') = (reviewed_at IS NULL)", name=op.f('ck_risk_events_review')),
    sa.CheckConstraint("rule IN ('suspicious_sign_in', 'device_accounts', 'redemption_velocity', 'referral_ring', 'withdrawal_amount', 'withdrawal_velocity')", name=op.f('ck_risk_events_rule')),
    sa.CheckConstraint("status IN ('pending', 'confirmed', 'dismissed')", name=op.f('ck_risk_events_status')),
    sa.CheckConstraint("subject_type IN ('user', 'device', 'referral', 'redemption', 'withdrawal')", name=op.f('ck_risk_events_subject_type')),
    sa.CheckConstraint('score BETWEEN 0 AND 100', name=op.f('ck_risk_events_score')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_events'))
    )
    op.create_index('ix_risk_events_rule', 'risk_events', ['rule', 'id'], unique=False)
    op.create_index('ix_risk_events_status', 'risk_events', ['status', 'id'], unique=False)
    op.create_index('ix_risk_events_user', 'risk_events', ['user_id', 'id'], unique=False)
    op.create_table('risk_sign_in_places',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('city', sa.Text(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'city', name=op.f('pk_risk_sign_in_places'))
    )

    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.drop_table('risk_sign_in_places')
    op.drop_index('ix_risk_events_user', table_name='risk_events')
    op.drop_index('ix_risk_events_status', table_name='risk_events')
    op.drop_index('ix_risk_events_rule', table_name='risk_events')
    op.drop_table('risk_events')
    op.drop_table('risk_blocks')
