"""Discovery: the search query log, the results clicked, popular searches per city.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("search.read", "Read the search query log and its clicks"),
]


def upgrade() -> None:
    op.create_table('search_queries',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('endpoint', sa.Text(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=True),
    sa.Column('client_hash', sa.Text(), nullable=True),
    sa.Column('query', sa.Text(), nullable=True),
    sa.Column('normalized_query', sa.Text(), nullable=True),
    sa.Column('city', sa.Text(), nullable=True),
    sa.Column('filters', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('results', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('results_count', sa.Integer(), nullable=False),
    sa.Column('first_click_position', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("endpoint IN ('search', 'nearby')", name=op.f('ck_search_queries_endpoint')),
    sa.CheckConstraint('results_count >= 0', name=op.f('ck_search_queries_results_count')),
    sa.CheckConstraint('first_click_position >= 1', name=op.f('ck_search_queries_first_click_position')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_queries'))
    )
    op.create_index('ix_search_queries_city_created_at', 'search_queries', ['city', 'created_at'], unique=False)
    op.create_index('ix_search_queries_created_at', 'search_queries', ['created_at'], unique=False)
    op.create_index('ix_search_queries_user_id_created_at', 'search_queries', ['user_id', 'created_at'], unique=False)
    op.create_table('search_clicks',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('query_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('result_id', sa.UUID(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('merchant', 'outlet', 'product', 'offer')", name=op.f('ck_search_clicks_kind')),
    sa.CheckConstraint('position >= 1', name=op.f('ck_search_clicks_position')),
    sa.ForeignKeyConstraint(['query_id'], ['search_queries.id'], name=op.f('fk_search_clicks_query_id_search_queries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_clicks')),
    sa.UniqueConstraint('query_id', 'kind', 'result_id', name=op.f('uq_search_clicks_query_id_kind_result_id'))
    )
    op.create_table('popular_searches',
    sa.Column('city', sa.Text(), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('searches', sa.Integer(), nullable=False),
    sa.Column('searchers', sa.Integer(), nullable=False),
    sa.Column('clicks', sa.Integer(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('city', 'query', name=op.f('pk_popular_searches'))
    )
    op.create_index('ix_popular_searches_city_rank', 'popular_searches', ['city', 'rank'], unique=False)
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{code}'" for code, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.drop_index('ix_popular_searches_city_rank', table_name='popular_searches')
    op.drop_table('popular_searches')
    op.drop_table('search_clicks')
    op.drop_index('ix_search_queries_user_id_created_at', table_name='search_queries')
    op.drop_index('ix_search_queries_created_at', table_name='search_queries')
    op.drop_index('ix_search_queries_city_created_at', table_name='search_queries')
    op.drop_table('search_queries')
