"""Step-up confirmations spent: a verification token is good for one sensitive change.

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "step_up_uses",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("token_id", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "token_id", name=op.f("pk_step_up_uses")),
    )


def downgrade() -> None:
    op.drop_table("step_up_uses")
