"""Ledger: a transaction posts to one shard of a sharded account, chosen by its id, instead
of one shard per transfer.

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from gullak.db.migrate import SQL, function_of

revision = "0047"
down_revision = "0046"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute((SQL / "0047_ledger_shard_per_transaction.sql").read_text())


def downgrade() -> None:
    op.execute(function_of("0043_ledger_group_sets.sql", "ledger_post_transfer"))
    op.execute(function_of("0044_ledger_lot_sets.sql", "ledger_post_batch"))
    op.execute("ALTER FUNCTION ledger_post_batch() SET plan_cache_mode = force_generic_plan")
    op.execute(function_of("0043_ledger_group_sets.sql", "ledger_post_each"))
    op.execute(function_of("0014_ledger_commands.sql", "ledger_capture"))
    op.execute("DROP FUNCTION ledger_shard_key()")
