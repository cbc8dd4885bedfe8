"""Merchant settlements: each merchant's settlement of a period with its statement lines
(unique per merchant and what they settle, so no order, refund or charge is settled twice),
the sequence of settlement codes, and the permission to run them. How often a merchant is
settled is the merchant's own `settlement_frequency`.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("payouts.settle", "Run merchant settlements"),
]


def upgrade() -> None:
    op.create_table('settlements',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('net', sa.BigInteger(), nullable=False),
    sa.Column('payable', sa.BigInteger(), nullable=False),
    sa.Column('carried_forward', sa.BigInteger(), nullable=False),
    sa.Column('line_count', sa.Integer(), nullable=False),
    sa.Column('withdrawal_id', sa.UUID(), nullable=True),
    sa.Column('scan_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.UUID(), nullable=False),
    sa.Column('created_by_kind', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(status = 'nothing_to_pay') = (payable = 0) AND (status IN ('paying', 'paid', 'returned')) = (withdrawal_id IS NOT NULL)", name=op.f('ck_settlements_payout')),
    sa.CheckConstraint("status IN ('nothing_to_pay', 'unpaid', 'paying', 'paid', 'returned')", name=op.f('ck_settlements_status')),
    sa.CheckConstraint('payable >= 0 AND payable <= GREATEST(net, 0) AND carried_forward = net - payable AND line_count >= 0', name=op.f('ck_settlements_amounts')),
    sa.CheckConstraint('period_end >= period_start AND period_end - period_start <= 30', name=op.f('ck_settlements_period')),
    sa.ForeignKeyConstraint(['withdrawal_id'], ['withdrawals.id'], name=op.f('fk_settlements_withdrawal_id_withdrawals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlements')),
    sa.UniqueConstraint('code', name=op.f('uq_settlements_code')),
    sa.UniqueConstraint('merchant_id', 'period_start', 'period_end', name=op.f('uq_settlements_merchant_id_period_start_period_end'))
    )
    op.create_index('ix_settlements_merchant', 'settlements', ['merchant_id', 'id'], unique=False)
    op.create_index('ix_settlements_status', 'settlements', ['status', 'id'], unique=False)
    op.create_table('settlement_lines',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('settlement_id', sa.UUID(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('transfer_id', sa.UUID(), nullable=True),
    sa.Column('order_id', sa.UUID(), nullable=True),
    sa.Column('order_number', sa.Text(), nullable=True),
    sa.Column('reference_type', sa.Text(), nullable=True),
    sa.Column('reference_id', sa.Text(), nullable=True),
    sa.Column('rate_bps', sa.Integer(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('carried', sa.Boolean(), nullable=False),
    sa.CheckConstraint("kind IN ('order', 'commission', 'refund', 'commission_refund', 'reward', 'gift_card', 'adjustment', 'carry', 'payout_returned')", name=op.f('ck_settlement_lines_kind')),
    sa.CheckConstraint('amount <> 0', name=op.f('ck_settlement_lines_amount')),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlements.id'], name=op.f('fk_settlement_lines_settlement_id_settlements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_lines')),
    sa.UniqueConstraint('merchant_id', 'source', name=op.f('uq_settlement_lines_merchant_id_source'))
    )
    op.create_index('ix_settlement_lines_settlement', 'settlement_lines', ['settlement_id', 'due_at'], unique=False)

    op.execute("CREATE SEQUENCE settlement_code_seq")
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.execute("DROP SEQUENCE settlement_code_seq")
    op.drop_index('ix_settlement_lines_settlement', table_name='settlement_lines')
    op.drop_table('settlement_lines')
    op.drop_index('ix_settlements_status', table_name='settlements')
    op.drop_index('ix_settlements_merchant', table_name='settlements')
    op.drop_table('settlements')
