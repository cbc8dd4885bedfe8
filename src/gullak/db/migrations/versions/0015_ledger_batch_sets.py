"""Ledger: a batch is posted as a set (one update per balance row, balances after from a
running sum), with the per-row path for lots, spend limits and refusals.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from gullak.db.migrate import SQL, function_of

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute((SQL / "0015_ledger_batch_sets.sql").read_text())


def downgrade() -> None:
    op.execute("DROP FUNCTION ledger_post(text, text, uuid, uuid[], text[], uuid[], uuid[],"
               " bigint[], text[], text[], text[], text[], timestamptz[], timestamptz, text,"
               " uuid)")
    op.execute(function_of("0014_ledger_commands.sql", "ledger_post"))
    op.execute(function_of("0013_ledger_posted_at.sql", "ledger_post_transfer"))
    op.execute("DROP VIEW ledger_batch")
    op.execute("DROP FUNCTION ledger_post_batch()")
