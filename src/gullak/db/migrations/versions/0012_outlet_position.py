"""Merchants: the outlet position index covers what a nearby search reads (id, merchant, active),
so a crowded bounding box is ordered by distance without reading the table.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_merchant_outlets_position', table_name='merchant_outlets')
    op.create_index('ix_merchant_outlets_position', 'merchant_outlets',
                    ['latitude', 'longitude'], unique=False,
                    postgresql_include=['id', 'merchant_id', 'active'])


def downgrade() -> None:
    op.drop_index('ix_merchant_outlets_position', table_name='merchant_outlets')
    op.create_index('ix_merchant_outlets_position', 'merchant_outlets',
                    ['latitude', 'longitude'], unique=False)
