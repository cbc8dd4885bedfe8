"""Ledger: a transfer's time follows the order of entries on each balance row
(ledger_balances.last_posted_at), so a balance "as of T" takes in nothing made after T.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

from gullak.db.migrate import SQL, function_of

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute((SQL / "0013_ledger_posted_at.sql").read_text())


def downgrade() -> None:
    op.execute(function_of("0003_ledger.sql", "ledger_guard_balances"))
    op.execute(function_of("0003_ledger.sql", "ledger_post_transfer"))
    op.execute("DROP FUNCTION ledger_post_each(uuid[], uuid[], text[], uuid[], uuid[], bigint[],"
               " text[], text[], text[], jsonb[], timestamptz[], text[], text[], timestamptz)")
    op.execute((SQL / "0004_ledger_post_each.sql").read_text())
    op.drop_column("ledger_balances", "last_posted_at")
