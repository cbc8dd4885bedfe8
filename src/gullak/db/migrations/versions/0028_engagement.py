"""Engagement: leaderboards, snapshots, follows.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

PERMISSIONS = [
    ("engagement.read", "Read leaderboards, their snapshots and follows"),
    ("engagement.manage", "Rebuild leaderboards from the verified step records"),
]
NOW = sa.text("now()")
# A score's bucket on a board (about 1.1% wide: 64 a doubling), None below 1. Written once in
# SQL so that every write path buckets alike; `engagement.boards.bucket` is its Python twin
# (same float8 operations, in the same order), which the rank read's bound relies on.
BUCKET_FUNCTION = """
CREATE FUNCTION gullak_board_bucket(score bigint) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN score > 0
              THEN floor(ln(score::float8) / ln(2::float8) * 64)::integer END
$$
"""


def upgrade() -> None:
    op.create_table(
        "leaderboards",
        sa.Column("board", sa.Text(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("starts", sa.Date(), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entries", sa.Integer(), nullable=True),
        sa.CheckConstraint("metric IN ('steps', 'coins')", name=op.f("ck_leaderboards_metric")),
        sa.CheckConstraint("period IN ('weekly', 'monthly', 'alltime')",
                           name=op.f("ck_leaderboards_period")),
        sa.PrimaryKeyConstraint("board", name=op.f("pk_leaderboards")),
    )
    op.create_index("ix_leaderboards_open", "leaderboards", ["period", "starts"],
                    postgresql_where=sa.text("closed_at IS NULL"))
    op.create_table(
        "leaderboard_entries",
        sa.Column("board", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("board", "user_id", name=op.f("pk_leaderboard_entries")),
    )
    op.create_index("ix_leaderboard_entries_rank", "leaderboard_entries",
                    ["board", "score", "user_id"])
    op.execute(BUCKET_FUNCTION)
    # How many entries of each board have a score in each bucket: a rank is the buckets above
    # plus a short range of the entries' index, not a scan of everyone ranked above.
    op.create_table(
        "leaderboard_score_buckets",
        sa.Column("board", sa.Text(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("board", "bucket", name=op.f("pk_leaderboard_score_buckets")),
    )
    op.create_table(
        "leaderboard_snapshots",
        sa.Column("board", sa.Text(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("rank > 0 AND score > 0", name=op.f("ck_leaderboard_snapshots_amounts")),
        sa.PrimaryKeyConstraint("board", "rank", name=op.f("pk_leaderboard_snapshots")),
    )
    op.create_index("ix_leaderboard_snapshots_user", "leaderboard_snapshots", ["user_id", "board"])
    op.create_table(
        "follows",
        sa.Column("follower_id", sa.UUID(), nullable=False),
        sa.Column("followee_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint("follower_id <> followee_id", name=op.f("ck_follows_not_self")),
        sa.PrimaryKeyConstraint("follower_id", "followee_id", name=op.f("pk_follows")),
    )
    op.create_index("ix_follows_followee", "follows", ["followee_id", "follower_id"])
    op.create_table(
        "engagement_members",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("city", sa.Text(), nullable=True),
        sa.Column("college_id", sa.UUID(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_engagement_members")),
    )
    permissions = sa.table("permissions", sa.column("code"), sa.column("description"))
    op.bulk_insert(permissions, [{"code": c, "description": d} for c, d in PERMISSIONS])


def downgrade() -> None:
    codes = ", ".join(f"'{c}'" for c, _ in PERMISSIONS)
    op.execute(f"DELETE FROM role_permissions WHERE permission IN ({codes})")
    op.execute(f"DELETE FROM permissions WHERE code IN ({codes})")
    for table in ("engagement_members", "follows", "leaderboard_snapshots",
                  "leaderboard_score_buckets", "leaderboard_entries", "leaderboards"):
        op.drop_table(table)
    op.execute("DROP FUNCTION gullak_board_bucket(bigint)")
