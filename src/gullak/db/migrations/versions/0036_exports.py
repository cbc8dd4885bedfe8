"""Exports: the run log of dataset exports (`warehouse_exports`) and the permissions to run
and read them.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("exports.run", "Run dataset exports (CSV, Parquet)"),
    ("exports.read", "Read dataset exports and download their files"),
]


def upgrade() -> None:
    op.create_table('warehouse_exports',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('dataset', sa.Text(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('format', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'queued'"), nullable=False),
    sa.Column('row_count', sa.BigInteger(), nullable=True),
    sa.Column('byte_count', sa.BigInteger(), nullable=True),
    sa.Column('checksum', sa.Text(), nullable=True),
    sa.Column('location', sa.Text(), server_default=sa.text("'storage'"), nullable=False),
    sa.Column('path', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('requested_by', sa.UUID(), nullable=True),
    sa.Column('requested_by_kind', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name=op.f('ck_warehouse_exports_status')),
    sa.CheckConstraint("format IN ('csv', 'parquet')", name=op.f('ck_warehouse_exports_format')),
    sa.CheckConstraint("requested_by_kind IN ('admin', 'service', 'cli', 'schedule')", name=op.f('ck_warehouse_exports_requester')),
    sa.CheckConstraint("location IN ('storage', 'file')", name=op.f('ck_warehouse_exports_location')),
    sa.CheckConstraint('period_end > period_start', name=op.f('ck_warehouse_exports_period')),
    sa.CheckConstraint("status <> 'done' OR (row_count >= 0 AND byte_count >= 0 AND checksum IS NOT NULL AND path IS NOT NULL AND finished_at IS NOT NULL)", name=op.f('ck_warehouse_exports_done')),
    sa.CheckConstraint("status <> 'failed' OR error IS NOT NULL", name=op.f('ck_warehouse_exports_failed')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_warehouse_exports'))
    )
    op.create_index('ix_warehouse_exports_status', 'warehouse_exports', ['status', 'id'], unique=False)
    op.create_index('ix_warehouse_exports_dataset', 'warehouse_exports', ['dataset', 'id'], unique=False)
    op.create_index('uq_warehouse_exports_scheduled', 'warehouse_exports', ['dataset', 'period_start', 'format'], unique=True, postgresql_where=sa.text("requested_by_kind = 'schedule' AND status <> 'failed'"))

    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.drop_index('uq_warehouse_exports_scheduled', table_name='warehouse_exports',
                  postgresql_where=sa.text("requested_by_kind = 'schedule' AND status <> 'failed'"))
    op.drop_index('ix_warehouse_exports_dataset', table_name='warehouse_exports')
    op.drop_index('ix_warehouse_exports_status', table_name='warehouse_exports')
    op.drop_table('warehouse_exports')
