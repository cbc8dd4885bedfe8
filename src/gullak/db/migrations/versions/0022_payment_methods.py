"""Payment methods checkout offers (UserState's payment types), and the permission to turn
them on and off.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

PERMISSIONS = [("payments.manage", "Turn payment methods on and off, rename and reorder them")]
# UserState's seed rows (QR codes are listed there but not enabled), and India's own.
METHODS = [
    ("CREDIT_CARD", "Credit and debit cards", True),
    ("UPI", "UPI", True),
    ("NETBANKING", "Net banking", True),
    ("BANK_TRANSFER", "Bank transfer", True),
    ("E_WALLET", "E-wallets", True),
    ("RETAIL_OUTLET", "Retail outlets", True),
    ("QR_CODE", "QR codes", False),
]


def upgrade() -> None:
    op.create_table(
        "payment_methods",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("code ~ '^[A-Z][A-Z0-9_]{1,31}$'",
                           name=op.f("ck_payment_methods_code")),
        sa.CheckConstraint("position >= 0", name=op.f("ck_payment_methods_position")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_payment_methods")),
    )
    methods = sa.table("payment_methods", sa.column("code"), sa.column("name"),
                       sa.column("enabled"), sa.column("position"))
    op.bulk_insert(methods, [{"code": c, "name": n, "enabled": e, "position": i}
                             for i, (c, n, e) in enumerate(METHODS)])
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    op.drop_table("payment_methods")
