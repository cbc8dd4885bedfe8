"""Engagement: a board's count of scores per bucket is kept in shards, so that writers of the
same boards at once (the daily conversion's units) do not wait for each other's commit.

Revision ID: 0048
Revises: 0047
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0048"
down_revision = "0047"
branch_labels = None
depends_on = None

SHARDS = 8
# The shard a transaction counts into: the first no other transaction holds (an advisory lock
# until its commit, taken without waiting), so up to eight writers at once never share one;
# past that, one by the transaction's id. A rank sums every shard of the buckets above it.
SHARD_FUNCTION = f"""
CREATE FUNCTION gullak_board_shard() RETURNS smallint LANGUAGE sql VOLATILE AS $$
  SELECT coalesce(
    (SELECT s FROM generate_series(0, {SHARDS - 1}) AS s
     WHERE pg_try_advisory_xact_lock(hashtext('leaderboard_score_buckets'), s) LIMIT 1),
    txid_current() % {SHARDS})::smallint
$$
"""


def upgrade() -> None:
    op.add_column("leaderboard_score_buckets",
                  sa.Column("shard", sa.SmallInteger(), server_default="0", nullable=False))
    op.drop_constraint("pk_leaderboard_score_buckets", "leaderboard_score_buckets")
    op.create_primary_key("pk_leaderboard_score_buckets", "leaderboard_score_buckets",
                          ["board", "bucket", "shard"])
    op.execute(SHARD_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION gullak_board_shard()")
    # Each bucket's shards summed into one row again.
    op.execute("CREATE TEMP TABLE bucket_sums ON COMMIT DROP AS SELECT board, bucket, sum(n) AS n"
               " FROM leaderboard_score_buckets GROUP BY board, bucket")
    op.execute("DELETE FROM leaderboard_score_buckets")
    op.execute("INSERT INTO leaderboard_score_buckets (board, bucket, shard, n)"
               " SELECT board, bucket, 0, n FROM bucket_sums")
    op.drop_constraint("pk_leaderboard_score_buckets", "leaderboard_score_buckets")
    op.drop_column("leaderboard_score_buckets", "shard")
    op.create_primary_key("pk_leaderboard_score_buckets", "leaderboard_score_buckets",
                          ["board", "bucket"])
