"""Discovery: the dictionary of searchable words that misspelt queries are corrected against.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('search_terms',
    sa.Column('term', sa.Text(), nullable=False),
    sa.Column('documents', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('term', name=op.f('pk_search_terms'))
    )
    op.create_index('ix_search_terms_trgm', 'search_terms', ['term'], unique=False,
                    postgresql_using='gin', postgresql_ops={'term': 'gin_trgm_ops'})


def downgrade() -> None:
    op.drop_index('ix_search_terms_trgm', table_name='search_terms',
                  postgresql_using='gin', postgresql_ops={'term': 'gin_trgm_ops'})
    op.drop_table('search_terms')
