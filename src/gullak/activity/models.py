"""Activity tables.

Step records are partitioned by month of their `day` (not of an id like the append-only
tables of `gullak.db.partitions`): a resync replaces a sample in place, so the sample's key
(user, day, source, kind, start) must be a unique key, and a unique key of a partitioned
table holds its partition column. Retention drops whole months. Coins are never a balance
here: each day's credit is a ledger transfer with reference ('step_day', summary id).
`user_id` belongs to identity: a plain column.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Index,
    Integer,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped, one_of
from gullak.kit.ids import uuid7

SOURCES = ("device", "apple_health", "google_fit", "manual")
KINDS = ("day", "interval")
STATUSES = ("open", "verified", "partial", "review", "rejected")
OUTCOMES = ("verified", "partial", "review", "rejected", "approved")


class StepRecord(Base):
    """One sample as a phone synced it: a day's total or an interval's count, from one
    source. A resync of the same (day, source, kind, start) replaces it."""

    __tablename__ = "step_records"
    __table_args__ = (
        CheckConstraint(one_of("source", SOURCES), name="source"),
        CheckConstraint(one_of("kind", KINDS), name="kind"),
        CheckConstraint("count >= 0 AND (distance_m IS NULL OR distance_m >= 0)"
                        " AND (calories IS NULL OR calories >= 0)"
                        " AND (active_minutes IS NULL OR active_minutes >= 0)", name="numbers"),
        CheckConstraint("kind = 'day' OR end_at > start_at", name="interval"),
        Index("ix_step_records_device", "device_id", "day"),
        {"postgresql_partition_by": "RANGE (day)"},
    )

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    # An interval's start; for a day's total, midnight UTC of the day.
    start_at: Mapped[dt.datetime] = mapped_column(primary_key=True)
    end_at: Mapped[dt.datetime | None]
    utc_offset_minutes: Mapped[int | None] = mapped_column(SmallInteger)
    count: Mapped[int] = mapped_column(Integer)
    device_id: Mapped[str] = mapped_column(Text)
    distance_m: Mapped[int | None] = mapped_column(Integer)
    calories: Mapped[int | None] = mapped_column(Integer)
    active_minutes: Mapped[int | None] = mapped_column(Integer)
    synced_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class DaySummary(Timestamped, Base):
    """A user's day: the merged total of its records, its validation state, and the coins
    credited for it (`credited`, of which `version`'s change is posted once
    `posted_version` reaches `version`)."""

    __tablename__ = "daily_step_summary"
    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint("steps >= 0 AND verified_steps >= 0 AND credited >= 0 AND score >= 0"
                        " AND version >= 0 AND posted_version >= 0"
                        " AND posted_version <= version AND multiplier_bp > 0", name="numbers"),
        UniqueConstraint("user_id", "day"),
        # The conversion claims a day's open summaries in user order (batch.settle_many).
        Index("ix_daily_step_summary_open", "day", "user_id",
              postgresql_where=text("status = 'open'::text")),
        Index("ix_daily_step_summary_unposted", "day", postgresql_where=text(
            "posted_version < version")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    day: Mapped[dt.date]
    steps: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    distance_m: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    by_source: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    utc_offset_minutes: Mapped[int | None] = mapped_column(SmallInteger)
    pattern: Mapped[str | None] = mapped_column(Text)  # the day's interval shape, hashed
    early_bird: Mapped[bool] = mapped_column(server_default=text("false"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'open'::text"))
    score: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    verified_steps: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    multiplier_bp: Mapped[int] = mapped_column(Integer, server_default=text("10000"))
    credited: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Coins the user no longer had when a correction took some back: left on the day.
    unrecovered: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    posted_version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    post_amount: Mapped[int] = mapped_column(Integer, server_default=text("0"))  # signed


class Validation(Base):
    """One anti-cheat run over a day: its score, the reasons, and what came of it (a review
    decision included)."""

    __tablename__ = "step_validations"
    __table_args__ = (
        CheckConstraint(one_of("outcome", OUTCOMES), name="outcome"),
        CheckConstraint("score >= 0 AND steps >= 0", name="numbers"),
        Index("ix_step_validations_summary", "summary_id", "id"),
        Index("ix_step_validations_review", "id", postgresql_where=text(
            "outcome = 'review'::text AND decided_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    summary_id: Mapped[uuid.UUID]  # the day's summary (same user): a plain column
    user_id: Mapped[uuid.UUID]
    day: Mapped[dt.date]
    steps: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    outcome: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[uuid.UUID | None]
    decision: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Device(Base):
    """Which users synced from a device, and when last: many accounts on one phone."""

    __tablename__ = "step_devices"

    device_id: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    last_seen_at: Mapped[dt.datetime]


CHALLENGE_KINDS = ("solo", "friends", "college", "company")
CHALLENGE_STATUSES = ("open", "finished", "cancelled")


class Challenge(Timestamped, Base):
    """A time-boxed step challenge: from `starts_on` through `ends_on` (days), an entry fee
    in coins held at joining, a pool (the fees plus a sponsor's amount) paid by rank per
    `prize_split_bp` when it ends. College and company challenges rank teams."""

    __tablename__ = "challenges"
    __table_args__ = (
        CheckConstraint(one_of("kind", CHALLENGE_KINDS), name="kind"),
        CheckConstraint(one_of("status", CHALLENGE_STATUSES), name="status"),
        CheckConstraint("entry_fee >= 0 AND sponsor_amount >= 0 AND ends_on >= starts_on"
                        " AND max_participants > 0", name="numbers"),
        UniqueConstraint("code"),
        Index("ix_challenges_status", "status", "ends_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    code: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    starts_on: Mapped[dt.date]
    ends_on: Mapped[dt.date]
    asset_code: Mapped[str] = mapped_column(Text)
    entry_fee: Mapped[int]
    sponsor_amount: Mapped[int] = mapped_column(server_default=text("0"))
    prize_split_bp: Mapped[list[Any]] = mapped_column(JSONB)
    max_participants: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text, server_default=text("'open'::text"))
    created_by: Mapped[uuid.UUID]
    created_by_kind: Mapped[str] = mapped_column(Text)
    finished_at: Mapped[dt.datetime | None]


class Participant(Base):
    """A user in a challenge (in a team for college and company ones), the hold on the
    entry fee, and the prize paid."""

    __tablename__ = "challenge_participants"
    __table_args__ = (
        CheckConstraint("prize >= 0 AND steps >= 0", name="numbers"),
        Index("ix_challenge_participants_user", "user_id", "challenge_id"),
    )

    challenge_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    team: Mapped[str | None] = mapped_column(Text)
    hold_id: Mapped[uuid.UUID | None]
    joined_at: Mapped[dt.datetime]
    steps: Mapped[int] = mapped_column(server_default=text("0"))  # at the end
    rank: Mapped[int | None] = mapped_column(Integer)
    prize: Mapped[int] = mapped_column(server_default=text("0"))
