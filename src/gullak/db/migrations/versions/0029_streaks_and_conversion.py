"""Streak freezes (the missed days a month's allowance covered), and the daily conversion's
index: a day's open summaries in user order, without the settled ones.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("user_streaks", sa.Column("freezes_used", sa.Integer(), nullable=False,
                                            server_default="0"))
    op.add_column("user_streaks", sa.Column("freeze_month", sa.Date(), nullable=True))
    op.drop_index("ix_daily_step_summary_day", table_name="daily_step_summary")
    op.create_index("ix_daily_step_summary_open", "daily_step_summary", ["day", "user_id"],
                    postgresql_where=sa.text("status = 'open'"))


def downgrade() -> None:
    op.drop_index("ix_daily_step_summary_open", table_name="daily_step_summary")
    op.create_index("ix_daily_step_summary_day", "daily_step_summary", ["day", "status"])
    op.drop_column("user_streaks", "freeze_month")
    op.drop_column("user_streaks", "freezes_used")
