"""Catalog: category tree, products with images and variants, inventory and reservations,
product feed imports and sources; events and flash sales.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("catalog.manage", "Create, change and delete categories"),
    ("catalog.products", "Manage any merchant's products, stock and product feeds"),
    ("inventory.reserve", "Reserve stock and commit or release reservations (checkout)"),
    ("events.manage", "Create, schedule, edit and cancel events and flash sales"),
]


def upgrade() -> None:
    # 0007 creates it too; kept here so that the products' trigram index never depends on it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table('catalog_events',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('slug', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), server_default=sa.text("'event'::text"), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('banner_url', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default=sa.text("'draft'::text"), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cities', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
    sa.Column('segments', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{all}'::text[]"), nullable=False),
    sa.Column('featured_merchant_ids', postgresql.ARRAY(sa.UUID()), server_default=sa.text("'{}'::uuid[]"), nullable=False),
    sa.Column('discount_percent', sa.Integer(), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('event', 'flash_sale')", name=op.f('ck_catalog_events_kind')),
    sa.CheckConstraint("status IN ('draft', 'scheduled', 'live', 'ended', 'cancelled')", name=op.f('ck_catalog_events_status')),
    sa.CheckConstraint('discount_percent BETWEEN 1 AND 100', name=op.f('ck_catalog_events_discount')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_catalog_events_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_events')),
    sa.UniqueConstraint('slug', name=op.f('uq_catalog_events_slug'))
    )
    op.create_index('ix_catalog_events_cities', 'catalog_events', ['cities'], unique=False, postgresql_using='gin')
    op.create_index('ix_catalog_events_due', 'catalog_events', ['status', 'starts_at'], unique=False)
    op.create_table('categories',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('parent_id', sa.UUID(), nullable=True),
    sa.Column('path', postgresql.ARRAY(sa.UUID()), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('slug', sa.Text(), nullable=False),
    sa.Column('type', sa.Text(), server_default=sa.text("'both'::text"), nullable=False),
    sa.Column('display_order', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('icon_url', sa.Text(), nullable=True),
    sa.Column('seo_title', sa.Text(), nullable=True),
    sa.Column('seo_description', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("type IN ('offer', 'product', 'both')", name=op.f('ck_categories_type')),
    sa.CheckConstraint('level = cardinality(path) - 1', name=op.f('ck_categories_level')),
    sa.ForeignKeyConstraint(['parent_id'], ['categories.id'], name=op.f('fk_categories_parent_id_categories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_categories')),
    sa.UniqueConstraint('slug', name=op.f('uq_categories_slug'))
    )
    op.create_index('ix_categories_parent', 'categories', ['parent_id', 'display_order'], unique=False)
    op.create_index('ix_categories_path', 'categories', ['path'], unique=False, postgresql_using='gin')
    op.create_table('product_feed_imports',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('format', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('full', sa.Boolean(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('removed', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('errors', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_feed_imports'))
    )
    op.create_index('ix_product_feed_imports_merchant', 'product_feed_imports', ['merchant_id', 'created_at'], unique=False)
    op.create_table('product_feed_sources',
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('format', sa.Text(), nullable=False),
    sa.Column('full', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("format IN ('csv', 'json')", name=op.f('ck_product_feed_sources_format')),
    sa.PrimaryKeyConstraint('merchant_id', name=op.f('pk_product_feed_sources'))
    )
    op.create_table('products',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('merchant_id', sa.UUID(), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('slug', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('original_price', sa.BigInteger(), nullable=True),
    sa.Column('asset_code', sa.Text(), server_default=sa.text("'INR'::text"), nullable=False),
    sa.Column('category_id', sa.UUID(), nullable=True),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
    sa.Column('city', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default=sa.text("'active'::text"), nullable=False),
    sa.Column('source', sa.Text(), server_default=sa.text("'manual'::text"), nullable=False),
    sa.Column('search', postgresql.TSVECTOR(), sa.Computed("setweight(to_tsvector('english'::regconfig, name), 'A') || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')", persisted=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("source IN ('manual', 'feed')", name=op.f('ck_products_source')),
    sa.CheckConstraint("status IN ('active', 'inactive', 'archived')", name=op.f('ck_products_status')),
    sa.CheckConstraint('original_price IS NULL OR price <= original_price', name=op.f('ck_products_price_not_above_original')),
    sa.CheckConstraint('price >= 0', name=op.f('ck_products_price')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_products_category_id_categories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('merchant_id', 'sku', name=op.f('uq_products_merchant_id_sku')),
    sa.UniqueConstraint('merchant_id', 'slug', name=op.f('uq_products_merchant_id_slug'))
    )
    op.create_index('ix_products_category', 'products', ['category_id'], unique=False)
    op.create_index('ix_products_merchant', 'products', ['merchant_id', 'id'], unique=False)
    op.create_index('ix_products_name_trgm', 'products', [sa.literal_column('lower(name)')], unique=False, postgresql_using='gin', postgresql_ops={'lower(name)': 'gin_trgm_ops'})
    op.create_index('ix_products_name_prefix', 'products', [sa.literal_column('lower(name)')], unique=False, postgresql_ops={'lower(name)': 'text_pattern_ops'})
    op.create_index('ix_products_search', 'products', ['search'], unique=False, postgresql_using='gin')
    op.create_index('ix_products_tags', 'products', ['tags'], unique=False, postgresql_using='gin')
    op.create_table('product_images',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('product_id', sa.UUID(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('alt', sa.Text(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('position >= 0', name=op.f('ck_product_images_position')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_images_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_images')),
    sa.UniqueConstraint('product_id', 'position', name=op.f('uq_product_images_product_id_position'))
    )
    op.create_table('product_variants',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('product_id', sa.UUID(), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('cost_price', sa.BigInteger(), nullable=False),
    sa.Column('selling_price', sa.BigInteger(), nullable=False),
    sa.Column('face_value', sa.BigInteger(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('cost_price >= 0 AND cost_price <= selling_price', name=op.f('ck_product_variants_cost')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_variants_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_variants')),
    sa.UniqueConstraint('product_id', 'sku', name=op.f('uq_product_variants_product_id_sku'))
    )
    op.create_table('inventory',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('product_id', sa.UUID(), nullable=False),
    sa.Column('variant_id', sa.UUID(), nullable=True),
    sa.Column('on_hand', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('reserved', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('on_hand >= 0', name=op.f('ck_inventory_on_hand')),
    sa.CheckConstraint('reserved >= 0 AND reserved <= on_hand', name=op.f('ck_inventory_reserved')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_inventory_product_id_products'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['variant_id'], ['product_variants.id'], name=op.f('fk_inventory_variant_id_product_variants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inventory'))
    )
    op.create_index('uq_inventory_product', 'inventory', ['product_id'], unique=True, postgresql_where=sa.text('variant_id IS NULL'))
    op.create_index('uq_inventory_variant', 'inventory', ['variant_id'], unique=True, postgresql_where=sa.text('variant_id IS NOT NULL'))
    op.create_table('inventory_reservations',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('stock_id', sa.UUID(), nullable=False),
    sa.Column('product_id', sa.UUID(), nullable=False),
    sa.Column('variant_id', sa.UUID(), nullable=True),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'::text"), nullable=False),
    sa.Column('reference', sa.Text(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'committed', 'released', 'expired')", name=op.f('ck_inventory_reservations_status')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_inventory_reservations_quantity')),
    sa.ForeignKeyConstraint(['stock_id'], ['inventory.id'], name=op.f('fk_inventory_reservations_stock_id_inventory'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inventory_reservations'))
    )
    op.create_index('ix_inventory_reservations_pending', 'inventory_reservations', ['expires_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_index('ix_inventory_reservations_stock', 'inventory_reservations', ['stock_id'], unique=False)
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{code}'" for code, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.drop_index('ix_inventory_reservations_stock', table_name='inventory_reservations')
    op.drop_index('ix_inventory_reservations_pending', table_name='inventory_reservations', postgresql_where=sa.text("status = 'pending'"))
    op.drop_table('inventory_reservations')
    op.drop_index('uq_inventory_variant', table_name='inventory', postgresql_where=sa.text('variant_id IS NOT NULL'))
    op.drop_index('uq_inventory_product', table_name='inventory', postgresql_where=sa.text('variant_id IS NULL'))
    op.drop_table('inventory')
    op.drop_table('product_variants')
    op.drop_table('product_images')
    op.drop_index('ix_products_tags', table_name='products', postgresql_using='gin')
    op.drop_index('ix_products_search', table_name='products', postgresql_using='gin')
    op.drop_index('ix_products_name_prefix', table_name='products')
    op.drop_index('ix_products_name_trgm', table_name='products', postgresql_using='gin', postgresql_ops={'lower(name)': 'gin_trgm_ops'})
    op.drop_index('ix_products_merchant', table_name='products')
    op.drop_index('ix_products_category', table_name='products')
    op.drop_table('products')
    op.drop_table('product_feed_sources')
    op.drop_index('ix_product_feed_imports_merchant', table_name='product_feed_imports')
    op.drop_table('product_feed_imports')
    op.drop_index('ix_categories_path', table_name='categories', postgresql_using='gin')
    op.drop_index('ix_categories_parent', table_name='categories')
    op.drop_table('categories')
    op.drop_index('ix_catalog_events_due', table_name='catalog_events')
    op.drop_index('ix_catalog_events_cities', table_name='catalog_events', postgresql_using='gin')
    op.drop_table('catalog_events')
