"""Ledger: group commit of independent transfers (ledger_post_each).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql" / "0004_ledger_post_each.sql"


def upgrade() -> None:
    op.execute(SQL.read_text())


def downgrade() -> None:
    op.execute("DROP FUNCTION ledger_post_each(uuid[], uuid[], text[], uuid[], uuid[], bigint[],"
               " text[], text[], text[], jsonb[], timestamptz[], text[], text[], timestamptz)")
