"""Ledger: every value-moving command (transfer, batch, hold, capture, release, reversal) is
one function call, idempotency key included; transfers record their actor.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

from gullak.db.migrate import SQL, function_of

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


FUNCTIONS = (
    "ledger_post(text, text, uuid, uuid[], text[], uuid[], uuid[], bigint[], text[], text[],"
    " text[], text[], timestamptz[], timestamptz, text, uuid)",
    "ledger_release(text, text, uuid, timestamptz)",
    "ledger_capture(text, text, uuid, uuid, bigint, text, text, text, jsonb, uuid, uuid,"
    " timestamptz, text, uuid)",
    "ledger_pending_hold(uuid, timestamptz)",
    "ledger_place_hold(text, text, uuid, uuid, text, bigint, timestamptz, text, text, jsonb,"
    " timestamptz)",
    "ledger_reverse(text, text, uuid, uuid, uuid, bigint, text, timestamptz, text, uuid)",
    "ledger_transfer(text, text, uuid, uuid, text, uuid, uuid, bigint, text, text, text, jsonb,"
    " timestamptz, timestamptz, text, uuid)",
    "ledger_claim(text, text)",
    "ledger_replay(text, text)",
)


def upgrade() -> None:
    op.execute((SQL / "0014_ledger_commands.sql").read_text())


def downgrade() -> None:
    op.execute(function_of("0013_ledger_posted_at.sql", "ledger_post_each"))
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
    op.drop_column("ledger_transfers", "actor_id")
    op.drop_column("ledger_transfers", "actor_type")
    op.drop_column("ledger_idempotency", "transfer_id")
