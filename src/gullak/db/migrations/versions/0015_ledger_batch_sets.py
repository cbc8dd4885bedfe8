"""Ledger: a batch is posted as a set (one update per balance row, balances after from a
running sum), with the per-row path for lots, spend limits and refusals.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import re
from pathlib import Path

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql"


def _function_of(file: str, name: str) -> str:
    """A function as an earlier migration left it, to put back on downgrade."""
    found = re.search(rf"^CREATE (?:OR REPLACE )?FUNCTION {name}\(.*?^END \$\$;",
                      (SQL / file).read_text(), re.DOTALL | re.MULTILINE)
    assert found is not None, f"{name} not found in {file}"
    return re.sub(r"^CREATE (?:OR REPLACE )?FUNCTION", "CREATE OR REPLACE FUNCTION",
                  found.group(0), count=1)


def upgrade() -> None:
    op.execute((SQL / "0015_ledger_batch_sets.sql").read_text())


def downgrade() -> None:
    op.execute("DROP FUNCTION ledger_post(text, text, uuid, uuid[], text[], uuid[], uuid[],"
               " bigint[], text[], text[], text[], text[], timestamptz[], timestamptz, text,"
               " uuid)")
    op.execute(_function_of("0014_ledger_commands.sql", "ledger_post"))
    op.execute(_function_of("0013_ledger_posted_at.sql", "ledger_post_transfer"))
    op.execute("DROP VIEW ledger_batch")
    op.execute("DROP FUNCTION ledger_post_batch()")
