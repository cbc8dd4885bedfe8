"""Ledger: a group of standalone transfers is posted through the set path of a batch, each
transfer keeping its own transaction; its keys refer to their transfers.

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-07
"""

from __future__ import annotations

import re

from alembic import op

from gullak.db.migrate import SQL, function_of

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute((SQL / "0043_ledger_group_sets.sql").read_text())


def downgrade() -> None:
    op.execute(function_of("0014_ledger_commands.sql", "ledger_post_each"))
    op.execute(function_of("0015_ledger_batch_sets.sql", "ledger_post_transfer"))
    op.execute(function_of("0015_ledger_batch_sets.sql", "ledger_post_batch"))
    # A view's column cannot be dropped: the view (and its trigger) is made again as 0015 did.
    op.execute("DROP VIEW ledger_batch")
    made = re.findall(r"^CREATE (?:VIEW ledger_batch|TRIGGER ledger_batch_post).*?;$",
                      (SQL / "0015_ledger_batch_sets.sql").read_text(), re.DOTALL | re.MULTILINE)
    assert len(made) == 2
    for statement in made:
        op.execute(statement)
