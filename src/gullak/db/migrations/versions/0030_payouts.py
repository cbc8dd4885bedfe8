"""Payouts: bank channels, payout methods and their verification, withdrawals with their
review decisions, disbursements (one per attempt at a provider), the providers' raw
callbacks, the sandbox provider's books, the sequence of withdrawal codes, and the name on a
KYC document (payout methods' bank names are matched against it).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("payouts.read", "Read any owner's payout methods, withdrawals and disbursements"),
    ("payouts.review", "Approve or reject withdrawals"),
    ("payouts.manage", "Edit withdrawals, bank channels and merchants' payout methods"),
]
# Xendit's Indonesian payout channels that UserState pays to (docs.xendit.co, Payouts
# channel codes); more are added by admins.
CHANNELS = [
    ("ID_BCA", "Bank Central Asia", "bank", ["BCA"]),
    ("ID_BNI", "Bank Negara Indonesia", "bank", ["BNI"]),
    ("ID_BRI", "Bank Rakyat Indonesia", "bank", ["BRI"]),
    ("ID_MANDIRI", "Bank Mandiri", "bank", ["MANDIRI"]),
    ("ID_PERMATA", "Bank Permata", "bank", ["PERMATA"]),
    ("ID_CIMB", "CIMB Niaga", "bank", ["CIMB"]),
    ("ID_OVO", "OVO", "ewallet", ["OVO"]),
    ("ID_DANA", "DANA", "ewallet", ["DANA"]),
    ("ID_GOPAY", "GoPay", "ewallet", ["GOPAY"]),
    ("ID_SHOPEEPAY", "ShopeePay", "ewallet", ["SHOPEEPAY"]),
]


def upgrade() -> None:
    op.create_table('bank_channels',
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('aliases', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("type IN ('bank', 'ewallet')", name=op.f('ck_bank_channels_type')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_bank_channels'))
    )
    op.create_table('payout_events',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('provider', sa.Text(), nullable=False),
    sa.Column('event_id', sa.Text(), nullable=False),
    sa.Column('ref', sa.Text(), nullable=True),
    sa.Column('reference', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), nullable=True),
    sa.Column('failure', sa.Text(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_events')),
    sa.UniqueConstraint('provider', 'event_id', name=op.f('uq_payout_events_provider_event_id'))
    )
    op.create_table('payout_sandbox',
    sa.Column('ref', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('reference', sa.Text(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('destination', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('failure', sa.Text(), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('ref', name=op.f('pk_payout_sandbox')),
    sa.UniqueConstraint('key', name=op.f('uq_payout_sandbox_key'))
    )
    op.create_table('payout_methods',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('owner_type', sa.Text(), nullable=False),
    sa.Column('owner_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('holder_name', sa.Text(), nullable=False),
    sa.Column('account_number', sa.Text(), nullable=True),
    sa.Column('upi_id', sa.Text(), nullable=True),
    sa.Column('last4', sa.Text(), nullable=False),
    sa.Column('ifsc', sa.Text(), nullable=True),
    sa.Column('channel_code', sa.Text(), nullable=True),
    sa.Column('operator', sa.Text(), nullable=True),
    sa.Column('fingerprint', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'"), nullable=False),
    sa.Column('provider', sa.Text(), nullable=True),
    sa.Column('verification_ref', sa.Text(), nullable=True),
    sa.Column('registered_name', sa.Text(), nullable=True),
    sa.Column('name_score', sa.Integer(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('usable_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(kind = 'upi') = (upi_id IS NOT NULL) AND (kind = 'upi') = (account_number IS NULL) AND (kind = 'bank') = (ifsc IS NOT NULL) AND (kind = 'bank_channel') = (channel_code IS NOT NULL) AND (kind = 'mobile') = (operator IS NOT NULL)", name=op.f('ck_payout_methods_destination')),
    sa.CheckConstraint("kind IN ('bank', 'upi', 'bank_channel', 'mobile')", name=op.f('ck_payout_methods_kind')),
    sa.CheckConstraint("owner_type IN ('user', 'merchant')", name=op.f('ck_payout_methods_owner_type')),
    sa.CheckConstraint("status IN ('pending', 'verified', 'failed', 'removed')", name=op.f('ck_payout_methods_status')),
    sa.CheckConstraint('name_score BETWEEN 0 AND 100', name=op.f('ck_payout_methods_name_score')),
    sa.ForeignKeyConstraint(['channel_code'], ['bank_channels.code'], name=op.f('fk_payout_methods_channel_code_bank_channels')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_methods'))
    )
    op.create_index('ix_payout_methods_owner', 'payout_methods', ['owner_type', 'owner_id'], unique=False)
    op.create_index('uq_payout_methods_destination', 'payout_methods', ['owner_type', 'owner_id', 'fingerprint'], unique=True, postgresql_where=sa.text("status <> 'removed'"))
    op.create_table('withdrawals',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('owner_type', sa.Text(), nullable=False),
    sa.Column('owner_id', sa.UUID(), nullable=False),
    sa.Column('purpose', sa.Text(), server_default=sa.text("'withdrawal'"), nullable=False),
    sa.Column('kind', sa.Text(), server_default=sa.text("'payout'"), nullable=False),
    sa.Column('source_account_id', sa.UUID(), nullable=False),
    sa.Column('asset_code', sa.Text(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.Column('tax', sa.BigInteger(), nullable=False),
    sa.Column('net', sa.BigInteger(), nullable=False),
    sa.Column('method_id', sa.UUID(), nullable=True),
    sa.Column('hold_id', sa.UUID(), nullable=True),
    sa.Column('status', sa.Text(), server_default=sa.text("'review'"), nullable=False),
    sa.Column('approvals_needed', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('round', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('auto_approved', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('created_by', sa.UUID(), nullable=False),
    sa.Column('created_by_kind', sa.Text(), nullable=False),
    sa.Column('edited_by', sa.UUID(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('reference_type', sa.Text(), nullable=True),
    sa.Column('reference_id', sa.Text(), nullable=True),
    sa.Column('idempotency_key', sa.Text(), nullable=False),
    sa.Column('request_hash', sa.Text(), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("owner_type IN ('user', 'merchant')", name=op.f('ck_withdrawals_owner_type')),
    sa.CheckConstraint("purpose IN ('withdrawal', 'settlement')", name=op.f('ck_withdrawals_purpose')),
    sa.CheckConstraint("kind IN ('payout', 'gift_voucher')", name=op.f('ck_withdrawals_kind')),
    sa.CheckConstraint("(kind = 'payout') = (method_id IS NOT NULL)", name=op.f('ck_withdrawals_method')),
    sa.CheckConstraint("status IN ('review', 'approved', 'processing', 'paid', 'failed', 'rejected', 'cancelled')", name=op.f('ck_withdrawals_status')),
    sa.CheckConstraint('amount > 0 AND fee >= 0 AND tax >= 0 AND net > 0 AND net = amount - fee - tax', name=op.f('ck_withdrawals_amounts')),
    sa.CheckConstraint('approvals_needed BETWEEN 1 AND 2 AND round >= 1', name=op.f('ck_withdrawals_review')),
    sa.ForeignKeyConstraint(['method_id'], ['payout_methods.id'], name=op.f('fk_withdrawals_method_id_payout_methods')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_withdrawals')),
    sa.UniqueConstraint('code', name=op.f('uq_withdrawals_code')),
    sa.UniqueConstraint('owner_type', 'owner_id', 'idempotency_key', name=op.f('uq_withdrawals_owner_type_owner_id_idempotency_key'))
    )
    op.create_index('ix_withdrawals_open', 'withdrawals', ['status', 'id'], unique=False, postgresql_where=sa.text("status IN ('review', 'approved', 'processing')"))
    op.create_index('ix_withdrawals_owner', 'withdrawals', ['owner_type', 'owner_id', 'id'], unique=False)
    op.create_table('disbursements',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('withdrawal_id', sa.UUID(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('provider', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('provider_ref', sa.Text(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'created'"), nullable=False),
    sa.Column('failure', sa.Text(), nullable=True),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('created', 'processing', 'succeeded', 'failed', 'reversed')", name=op.f('ck_disbursements_status')),
    sa.CheckConstraint('amount > 0 AND attempt >= 1', name=op.f('ck_disbursements_amounts')),
    sa.ForeignKeyConstraint(['withdrawal_id'], ['withdrawals.id'], name=op.f('fk_disbursements_withdrawal_id_withdrawals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disbursements')),
    sa.UniqueConstraint('key', name=op.f('uq_disbursements_key')),
    sa.UniqueConstraint('provider', 'provider_ref', name=op.f('uq_disbursements_provider_provider_ref')),
    sa.UniqueConstraint('withdrawal_id', 'attempt', name=op.f('uq_disbursements_withdrawal_id_attempt'))
    )
    op.create_index('ix_disbursements_waiting', 'disbursements', ['updated_at'], unique=False, postgresql_where=sa.text("status IN ('created', 'processing')"))
    op.create_index('uq_disbursements_live', 'disbursements', ['withdrawal_id'], unique=True, postgresql_where=sa.text("status IN ('created', 'processing', 'succeeded')"))
    op.create_table('withdrawal_decisions',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('withdrawal_id', sa.UUID(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('admin_id', sa.UUID(), nullable=False),
    sa.Column('decision', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("decision IN ('approve', 'reject')", name=op.f('ck_withdrawal_decisions_decision')),
    sa.ForeignKeyConstraint(['withdrawal_id'], ['withdrawals.id'], name=op.f('fk_withdrawal_decisions_withdrawal_id_withdrawals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_withdrawal_decisions')),
    sa.UniqueConstraint('withdrawal_id', 'round', 'admin_id', name=op.f('uq_withdrawal_decisions_withdrawal_id_round_admin_id'))
    )
    op.add_column('kyc_records', sa.Column('name', sa.Text(), nullable=True))
    op.execute("CREATE SEQUENCE withdrawal_code_seq")
    # A gift-voucher withdrawal issues a card of source 'withdrawal'.
    op.drop_constraint("ck_gift_cards_source", "gift_cards")
    op.create_check_constraint("source", "gift_cards",
                               "source IN ('order', 'admin', 'partner', 'withdrawal')")
    channels = sa.table("bank_channels", sa.column("code"), sa.column("name"),
                        sa.column("type"), sa.column("currency"),
                        sa.column("aliases", postgresql.ARRAY(sa.Text())))
    op.bulk_insert(channels, [{"code": c, "name": n, "type": t, "currency": "IDR",
                               "aliases": a} for c, n, t, a in CHANNELS])
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.execute("DROP SEQUENCE withdrawal_code_seq")
    op.drop_constraint("ck_gift_cards_source", "gift_cards")
    op.create_check_constraint("source", "gift_cards", "source IN ('order', 'admin', 'partner')")
    op.drop_column('kyc_records', 'name')
    op.drop_table('withdrawal_decisions')
    op.drop_index('uq_disbursements_live', table_name='disbursements', postgresql_where=sa.text("status IN ('created', 'processing', 'succeeded')"))
    op.drop_index('ix_disbursements_waiting', table_name='disbursements', postgresql_where=sa.text("status IN ('created', 'processing')"))
    op.drop_table('disbursements')
    op.drop_index('ix_withdrawals_owner', table_name='withdrawals')
    op.drop_index('ix_withdrawals_open', table_name='withdrawals', postgresql_where=sa.text("status IN ('review', 'approved', 'processing')"))
    op.drop_table('withdrawals')
    op.drop_index('uq_payout_methods_destination', table_name='payout_methods', postgresql_where=sa.text("status <> 'removed'"))
    op.drop_index('ix_payout_methods_owner', table_name='payout_methods')
    op.drop_table('payout_methods')
    op.drop_table('payout_sandbox')
    op.drop_table('payout_events')
    op.drop_table('bank_channels')
