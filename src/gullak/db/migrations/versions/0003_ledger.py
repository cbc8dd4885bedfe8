"""Ledger: assets, accounts, sharded balances, transfers, holds, expiring lots, limits.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQL = Path(__file__).resolve().parent.parent / "sql" / "0003_ledger.sql"


def upgrade() -> None:
    op.execute(SQL.read_text())


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE ledger_idempotency, ledger_spend, ledger_hold_lots, ledger_lots,
                   ledger_holds, ledger_transfers, ledger_balances, ledger_accounts,
                   ledger_assets;
        DROP SEQUENCE ledger_transfer_seq;
        DROP FUNCTION ledger_resolve_hold(), ledger_place_hold(), ledger_post_transfer(),
                      ledger_refuse(uuid, uuid, text),
                      ledger_consume_lots(uuid, bigint, timestamptz, uuid, uuid),
                      ledger_immutable(), ledger_guard_new_balance(), ledger_guard_balances();
        """
    )
