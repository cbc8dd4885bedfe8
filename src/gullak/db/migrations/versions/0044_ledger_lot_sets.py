"""Ledger: credits to accounts of expiring coins (lots) are posted through a batch's set path.

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from gullak.db.migrate import SQL, function_of

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute((SQL / "0044_ledger_lot_sets.sql").read_text())


def downgrade() -> None:
    op.execute(function_of("0043_ledger_group_sets.sql", "ledger_post_batch"))
    op.execute("ALTER FUNCTION ledger_post_batch() SET plan_cache_mode = force_generic_plan")
