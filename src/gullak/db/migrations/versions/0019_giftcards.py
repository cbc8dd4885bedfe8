"""Gift cards and vouchers: cards (each with a ledger account of owner type `gift_card`), bulk
batches, the catalog products sold as cards, vouchers with their once-per-user redemptions,
gift cards as an order tender, and the back office's gift card permissions.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("giftcards.read", "Read gift cards, their batches and designs, and vouchers"),
    ("giftcards.manage", "Issue and void gift cards, sell products as gift cards, add vouchers"),
]
OWNER_TYPES = ("user", "merchant", "platform")
TENDER_KINDS = ("coins", "wallet", "gateway")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _now() -> sa.Column[Any]:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                     nullable=False)


def _updated() -> sa.Column[Any]:
    return sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                     nullable=False)


def _owner_types(values: tuple[str, ...]) -> None:
    op.execute("ALTER TABLE ledger_accounts DROP CONSTRAINT ck_ledger_accounts_owner_type")
    op.execute("ALTER TABLE ledger_accounts ADD CONSTRAINT ck_ledger_accounts_owner_type"
               f" CHECK ({_in('owner_type', values)})")


def _tender_kinds(values: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_order_tenders_kind"), "order_tenders", type_="check")
    op.create_check_constraint(op.f("ck_order_tenders_kind"), "order_tenders",
                               _in("kind", values))


def upgrade() -> None:
    _owner_types((*OWNER_TYPES, "gift_card"))
    op.create_table(
        "gift_card_designs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("merchant_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("face_value", sa.BigInteger(), nullable=False),
        sa.Column("validity_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        _now(), _updated(),
        sa.CheckConstraint("face_value > 0 AND validity_days > 0",
                           name=op.f("ck_gift_card_designs_amounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_card_designs")),
        sa.UniqueConstraint("product_id", name=op.f("uq_gift_card_designs_product_id")),
    )
    op.create_table(
        "gift_card_batches",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("partner", sa.Text(), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("errors", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'[]'::jsonb"), nullable=False),
        _now(),
        sa.CheckConstraint("source IN ('admin', 'partner')",
                           name=op.f("ck_gift_card_batches_source")),
        sa.CheckConstraint("issued >= 0 AND refused >= 0",
                           name=op.f("ck_gift_card_batches_counts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_card_batches")),
    )
    op.create_table(
        "gift_cards",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("code_hash", sa.Text(), nullable=False),
        sa.Column("code_sealed", sa.Text(), nullable=False),
        sa.Column("code_hint", sa.Text(), nullable=False),
        sa.Column("pin_hash", sa.Text(), nullable=False),
        sa.Column("pin_sealed", sa.Text(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("asset_code", sa.Text(), server_default=sa.text("'INR'::text"),
                  nullable=False),
        sa.Column("face_value", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'active'::text"), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.UUID(), nullable=True),
        sa.Column("design_id", sa.UUID(), nullable=True),
        sa.Column("merchant_id", sa.UUID(), nullable=True),
        sa.Column("order_id", sa.UUID(), nullable=True),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_reason", sa.Text(), nullable=True),
        _now(), _updated(),
        sa.CheckConstraint("status IN ('active', 'claimed', 'expired', 'void')",
                           name=op.f("ck_gift_cards_status")),
        sa.CheckConstraint("source IN ('order', 'admin', 'partner')",
                           name=op.f("ck_gift_cards_source")),
        sa.CheckConstraint("face_value > 0 AND failed_attempts >= 0",
                           name=op.f("ck_gift_cards_amounts")),
        sa.ForeignKeyConstraint(["batch_id"], ["gift_card_batches.id"],
                                name=op.f("fk_gift_cards_batch_id_gift_card_batches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_cards")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_gift_cards_code_hash")),
        sa.UniqueConstraint("account_id", name=op.f("uq_gift_cards_account_id")),
    )
    op.create_index("ix_gift_cards_owner", "gift_cards", ["owner_id", "id"],
                    postgresql_where=sa.text("owner_id IS NOT NULL"))
    op.create_index("ix_gift_cards_order", "gift_cards", ["order_id"],
                    postgresql_where=sa.text("order_id IS NOT NULL"))
    op.create_index("ix_gift_cards_batch", "gift_cards", ["batch_id"],
                    postgresql_where=sa.text("batch_id IS NOT NULL"))
    op.create_index("ix_gift_cards_expiry", "gift_cards", ["expires_at"],
                    postgresql_where=sa.text("status = 'active'::text"))
    op.create_table(
        "vouchers",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("asset_code", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("max_uses", sa.BigInteger(), nullable=True),
        sa.Column("uses", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'active'::text"), nullable=False),
        _now(), _updated(),
        sa.CheckConstraint("status IN ('active', 'paused')", name=op.f("ck_vouchers_status")),
        sa.CheckConstraint("amount > 0 AND uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)",
                           name=op.f("ck_vouchers_amounts")),
        sa.CheckConstraint("valid_until > valid_from", name=op.f("ck_vouchers_window")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vouchers")),
    )
    op.create_index("uq_vouchers_code", "vouchers", [sa.text("lower(code)")], unique=True)
    op.create_table(
        "voucher_redemptions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("voucher_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("asset_code", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.UUID(), nullable=False),
        _now(),
        sa.ForeignKeyConstraint(["voucher_id"], ["vouchers.id"],
                                name=op.f("fk_voucher_redemptions_voucher_id_vouchers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_redemptions")),
        sa.UniqueConstraint("voucher_id", "user_id",
                            name=op.f("uq_voucher_redemptions_voucher_id_user_id")),
    )
    op.create_index("ix_voucher_redemptions_user", "voucher_redemptions", ["user_id", "id"])
    # Gift cards pay orders: one tender per card, so a card's id joins the tender's identity.
    op.add_column("order_tenders", sa.Column("gift_card_id", sa.UUID(), nullable=True))
    _tender_kinds((*TENDER_KINDS, "gift_card"))
    op.drop_index("uq_order_tenders_asset", table_name="order_tenders")
    op.create_index("uq_order_tenders_asset", "order_tenders",
                    ["order_id", "kind", "asset_code", "gift_card_id"], unique=True,
                    postgresql_nulls_not_distinct=True)
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.execute("DELETE FROM order_tenders WHERE kind = 'gift_card'")
    op.drop_index("uq_order_tenders_asset", table_name="order_tenders")
    op.create_index("uq_order_tenders_asset", "order_tenders", ["order_id", "kind", "asset_code"],
                    unique=True)
    _tender_kinds(TENDER_KINDS)
    op.drop_column("order_tenders", "gift_card_id")
    for table in ("voucher_redemptions", "vouchers", "gift_cards", "gift_card_batches",
                  "gift_card_designs"):
        op.drop_table(table)
    # Cards' ledger accounts stay (the ledger keeps every entry); the owner type stays allowed
    # while any exists.
    op.execute("""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM ledger_accounts WHERE owner_type = 'gift_card') THEN
            ALTER TABLE ledger_accounts DROP CONSTRAINT ck_ledger_accounts_owner_type;
            ALTER TABLE ledger_accounts ADD CONSTRAINT ck_ledger_accounts_owner_type
              CHECK (owner_type IN ('user', 'merchant', 'platform'));
          END IF;
        END $$""")
