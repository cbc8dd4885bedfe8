"""Merchants: merchants and their onboarding, outlets, merchant users, documents, bank
accounts, commissions, reviews; CMS pages and SEO redirects. Creates pg_trgm, which the
search indexes of later migrations use too.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("merchants.read", "Read merchants, their outlets, users, documents and bank accounts"),
    ("merchants.manage", "Create and edit merchants, outlets, merchant users, bank accounts"
                         " and commissions"),
    ("merchants.review", "Move merchants through onboarding; verify or reject documents"),
    ("reviews.moderate", "Hide and restore user reviews"),
    ("content.manage", "Edit CMS pages and SEO redirects"),
]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table('merchants',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('slug', sa.Text(), nullable=False),
    sa.Column('legal_name', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('logo_url', sa.Text(), nullable=True),
    sa.Column('website', sa.Text(), nullable=True),
    sa.Column('email', sa.Text(), nullable=True),
    sa.Column('phone', sa.Text(), nullable=True),
    sa.Column('city', sa.Text(), nullable=True),
    sa.Column('category_id', sa.UUID(), nullable=True),
    sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
    sa.Column('tags_text', sa.Text(), server_default=sa.text("''::text"), nullable=False),
    sa.Column('gstin', sa.Text(), nullable=True),
    sa.Column('pan', sa.Text(), nullable=True),
    sa.Column('fssai', sa.Text(), nullable=True),
    sa.Column('package_tier', sa.Text(), server_default=sa.text("'basic'::text"), nullable=False),
    sa.Column('commission_bps', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('settlement_frequency', sa.Text(), server_default=sa.text("'weekly'::text"), nullable=False),
    sa.Column('affiliate_network', sa.Text(), nullable=True),
    sa.Column('affiliate_id', sa.Text(), nullable=True),
    sa.Column('tracking_url_template', sa.Text(), nullable=True),
    sa.Column('default_cashback_bps', sa.Integer(), nullable=True),
    sa.Column('default_cashback_amount', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'::text"), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('live_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rating_sum', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('rating_count', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('rating_avg', sa.Numeric(precision=3, scale=2, asdecimal=False), server_default=sa.text('0'), nullable=False),
    sa.Column('search', postgresql.TSVECTOR(), sa.Computed("setweight(to_tsvector('simple'::regconfig, coalesce(name, '')), 'A') || setweight(to_tsvector('simple'::regconfig, coalesce(tags_text, '')), 'B') || setweight(to_tsvector('simple'::regconfig, coalesce(city, '')), 'B') || setweight(to_tsvector('simple'::regconfig, coalesce(description, '')), 'C')", persisted=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'documents_submitted', 'verified', 'live', 'suspended', 'rejected')", name=op.f('ck_merchants_status')),
    sa.CheckConstraint('commission_bps BETWEEN 0 AND 10000', name=op.f('ck_merchants_commission_bps')),
    sa.CheckConstraint('rating_count >= 0 AND rating_sum >= 0', name=op.f('ck_merchants_rating')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchants')),
    sa.UniqueConstraint('slug', name=op.f('uq_merchants_slug'))
    )
    op.create_index('ix_merchants_category_id', 'merchants', ['category_id'], unique=False)
    op.create_index('ix_merchants_name_trgm', 'merchants', [sa.literal_column('lower(name)')], unique=False, postgresql_using='gin', postgresql_ops={'lower(name)': 'gin_trgm_ops'})
    op.create_index('ix_merchants_search', 'merchants', ['search'], unique=False, postgresql_using='gin')
    op.create_index('ix_merchants_status_city', 'merchants', ['status', 'city'], unique=False)
    op.create_table('merchant_outlets',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('city', sa.Text(), nullable=False),
    sa.Column('state', sa.Text(), nullable=True),
    sa.Column('postal_code', sa.Text(), nullable=True),
    sa.Column('phone', sa.Text(), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=False),
    sa.Column('longitude', sa.Float(), nullable=False),
    sa.Column('timezone', sa.Text(), server_default=sa.text("'Asia/Kolkata'::text"), nullable=False),
    sa.Column('hours', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('features', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
    sa.Column('open_minutes', postgresql.INT4MULTIRANGE(), server_default=sa.text("'{}'::int4multirange"), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('latitude BETWEEN -90 AND 90', name=op.f('ck_merchant_outlets_latitude')),
    sa.CheckConstraint('longitude BETWEEN -180 AND 180', name=op.f('ck_merchant_outlets_longitude')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_merchant_outlets_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_outlets'))
    )
    op.create_index(op.f('ix_merchant_outlets_merchant_id'), 'merchant_outlets', ['merchant_id'], unique=False)
    op.create_index('ix_merchant_outlets_position', 'merchant_outlets', ['latitude', 'longitude'], unique=False)
    op.create_table('merchant_users',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('email', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('role', sa.Text(), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'active'::text"), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("role IN ('owner', 'manager', 'staff')", name=op.f('ck_merchant_users_role')),
    sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f('ck_merchant_users_status')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_merchant_users_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_users'))
    )
    op.create_index(op.f('ix_merchant_users_merchant_id'), 'merchant_users', ['merchant_id'], unique=False)
    op.create_index('uq_merchant_users_email', 'merchant_users', [sa.literal_column('lower(email)')], unique=True)
    op.create_table('merchant_documents',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('document_type', sa.Text(), nullable=False),
    sa.Column('number', sa.Text(), nullable=True),
    sa.Column('file_url', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'::text"), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('reviewed_by', sa.UUID(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'verified', 'rejected')", name=op.f('ck_merchant_documents_status')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_merchant_documents_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_documents'))
    )
    op.create_index(op.f('ix_merchant_documents_merchant_id'), 'merchant_documents', ['merchant_id'], unique=False)
    op.create_table('merchant_bank_accounts',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('account_holder', sa.Text(), nullable=False),
    sa.Column('account_number', sa.Text(), nullable=False),
    sa.Column('account_last4', sa.Text(), nullable=False),
    sa.Column('ifsc', sa.Text(), nullable=False),
    sa.Column('bank_name', sa.Text(), nullable=True),
    sa.Column('is_primary', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'::text"), nullable=False),
    sa.Column('verified_name', sa.Text(), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('provider', sa.Text(), nullable=True),
    sa.Column('provider_ref', sa.Text(), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'verified', 'failed')", name=op.f('ck_merchant_bank_accounts_status')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_merchant_bank_accounts_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_bank_accounts'))
    )
    op.create_index(op.f('ix_merchant_bank_accounts_merchant_id'), 'merchant_bank_accounts', ['merchant_id'], unique=False)
    op.create_index('uq_merchant_bank_accounts_primary', 'merchant_bank_accounts', ['merchant_id'], unique=True, postgresql_where=sa.text('is_primary'))
    op.create_table('merchant_commissions',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('category_id', sa.UUID(), nullable=True),
    sa.Column('rate_bps', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('rate_bps BETWEEN 0 AND 10000', name=op.f('ck_merchant_commissions_rate_bps')),
    sa.CheckConstraint('valid_until IS NULL OR valid_until > valid_from', name=op.f('ck_merchant_commissions_window')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_merchant_commissions_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_commissions'))
    )
    op.create_index('ix_merchant_commissions_lookup', 'merchant_commissions', ['merchant_id', 'category_id', 'valid_from'], unique=False)
    op.create_table('merchant_reviews',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('outlet_id', sa.UUID(), nullable=True),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('order_id', sa.Text(), nullable=False),
    sa.Column('rating', sa.SmallInteger(), nullable=False),
    sa.Column('sub_ratings', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('verified_purchase', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('responded_by', sa.UUID(), nullable=True),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.Text(), server_default=sa.text("'visible'::text"), nullable=False),
    sa.Column('moderation_reason', sa.Text(), nullable=True),
    sa.Column('moderated_by', sa.UUID(), nullable=True),
    sa.Column('moderated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('flag_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('visible', 'hidden')", name=op.f('ck_merchant_reviews_status')),
    sa.CheckConstraint('rating BETWEEN 1 AND 5', name=op.f('ck_merchant_reviews_rating')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_merchant_reviews_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['outlet_id'], ['merchant_outlets.id'], name=op.f('fk_merchant_reviews_outlet_id_merchant_outlets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_reviews')),
    sa.UniqueConstraint('user_id', 'order_id', name=op.f('uq_merchant_reviews_user_id_order_id'))
    )
    op.create_index('ix_merchant_reviews_merchant', 'merchant_reviews', ['merchant_id', 'created_at', 'id'], unique=False, postgresql_where=sa.text("status = 'visible'::text"))
    op.create_table('merchant_review_flags',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('review_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['review_id'], ['merchant_reviews.id'], name=op.f('fk_merchant_review_flags_review_id_merchant_reviews')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_review_flags')),
    sa.UniqueConstraint('review_id', 'user_id', name=op.f('uq_merchant_review_flags_review_id_user_id'))
    )
    op.create_table('cms_pages',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('slug', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('published', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('seo_title', sa.Text(), nullable=True),
    sa.Column('seo_description', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cms_pages')),
    sa.UniqueConstraint('slug', name=op.f('uq_cms_pages_slug'))
    )
    op.create_table('seo_redirects',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('source_path', sa.Text(), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('status_code', sa.SmallInteger(), server_default=sa.text('301'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('source_path <> target', name=op.f('ck_seo_redirects_not_self')),
    sa.CheckConstraint('status_code IN (301, 302)', name=op.f('ck_seo_redirects_status_code')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_seo_redirects')),
    sa.UniqueConstraint('source_path', name=op.f('uq_seo_redirects_source_path'))
    )
    permissions = sa.table("permissions", sa.column("code", sa.Text),
                           sa.column("description", sa.Text))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{code}'" for code, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.drop_table('seo_redirects')
    op.drop_table('cms_pages')
    op.drop_table('merchant_review_flags')
    op.drop_table('merchant_reviews')
    op.drop_table('merchant_commissions')
    op.drop_table('merchant_bank_accounts')
    op.drop_table('merchant_documents')
    op.drop_table('merchant_users')
    op.drop_table('merchant_outlets')
    op.drop_table('merchants')
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
