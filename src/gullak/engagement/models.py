"""Engagement tables: the boards (registry, entries and closed periods' snapshots), follows,
and what the boards show of a user.

A board's key is `{metric}:{period}:{start}:{scope}` (`steps:weekly:2026-11-30:global`,
`coins:alltime:all:city:pune`); the same text names its Redis sorted set. Ranks: score
descending, then user id ascending (ids are time-ordered, so of two equal scores the older
account ranks first), in both implementations. `user_id` belongs to identity: plain columns.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger, CheckConstraint, Date, Index, Integer, SmallInteger, Text, func, text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, one_of

METRICS = ("steps", "coins")
PERIODS = ("weekly", "monthly", "alltime")


class Leaderboard(Base):
    """Every board that ever had an entry; a closed one (its period over) has a snapshot and
    takes no more scores."""

    __tablename__ = "leaderboards"
    __table_args__ = (
        CheckConstraint(one_of("metric", METRICS), name="metric"),
        CheckConstraint(one_of("period", PERIODS), name="period"),
        Index("ix_leaderboards_open", "period", "starts", postgresql_where=text("closed_at IS NULL")),
    )

    board: Mapped[str] = mapped_column(Text, primary_key=True)
    metric: Mapped[str] = mapped_column(Text)
    period: Mapped[str] = mapped_column(Text)
    starts: Mapped[dt.date | None] = mapped_column(Date)  # NULL for all time
    scope: Mapped[str] = mapped_column(Text)  # global, city:<name>, college:<id>
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    closed_at: Mapped[dt.datetime | None]
    entries: Mapped[int | None] = mapped_column(Integer)  # in the snapshot, once closed


class LeaderboardEntry(Base):
    """A user's score on an open board (the PostgreSQL implementation). Zero and below leave
    the board. Top-N is a range of `ix_leaderboard_entries_rank`; own rank is the score buckets
    above (`LeaderboardScoreBucket`) plus a range of that index within its own bucket."""

    __tablename__ = "leaderboard_entries"
    __table_args__ = (Index("ix_leaderboard_entries_rank", "board", "score", "user_id"),)

    board: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    score: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class LeaderboardScoreBucket(Base):
    """How many entries of a board score in a bucket (`gullak_board_bucket(score)`, about 1.1%
    wide), kept by every write in the same statement as the entries: own rank sums the buckets
    above and counts only its own bucket's entries. Each bucket is counted in shards
    (`gullak_board_shard()`, migration 0048), one for each writer at once: its count is the
    sum of its shards."""

    __tablename__ = "leaderboard_score_buckets"

    board: Mapped[str] = mapped_column(Text, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("0"))
    n: Mapped[int] = mapped_column(BigInteger)


class LeaderboardSnapshot(Base):
    """A closed board's final standing, kept for history and for paying prizes."""

    __tablename__ = "leaderboard_snapshots"
    __table_args__ = (
        CheckConstraint("rank > 0 AND score > 0", name="amounts"),
        Index("ix_leaderboard_snapshots_user", "user_id", "board"),
    )

    board: Mapped[str] = mapped_column(Text, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[uuid.UUID]
    score: Mapped[int] = mapped_column(BigInteger)


class Follow(Base):
    __tablename__ = "follows"
    __table_args__ = (
        CheckConstraint("follower_id <> followee_id", name="not_self"),
        Index("ix_follows_followee", "followee_id", "follower_id"),
    )

    follower_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    followee_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Member(Base):
    """What the boards show of a user and where they rank (a copy refreshed at each score, so
    that a top-100 read is one query): display name (never a phone), city, verified college."""

    __tablename__ = "engagement_members"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)  # normalised: lower case, trimmed
    college_id: Mapped[uuid.UUID | None]
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
