"""Loyalty: tiers, privé, achievements.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Privé plans are paid through the payments domain, as payments of purpose 'subscription'.
    op.drop_constraint(op.f("ck_payments_purpose"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_purpose"), "payments",
                               "purpose IN ('order', 'topup', 'subscription')")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_payments_purpose"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_purpose"), "payments",
                               "purpose IN ('order', 'topup')")
