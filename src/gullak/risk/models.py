"""The risk domain's tables.

`user_id` names identity's user (a plain column: another domain's table). Every row here
carries the user it is about, so the tables distribute by user with everything else.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import CheckConstraint, Index, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, one_of
from gullak.kit.ids import uuid7

RULES = ("suspicious_sign_in", "device_accounts", "redemption_velocity", "referral_ring",
         "withdrawal_amount", "withdrawal_velocity")
SUBJECTS = ("user", "device", "referral", "redemption", "withdrawal")
STATUSES = ("pending", "confirmed", "dismissed")


class RiskEvent(Base):
    """One rule's finding about a user: its score (0 to 100), the signals behind it, whether it
    blocked the user, and an admin's review (pending until confirmed or dismissed)."""

    __tablename__ = "risk_events"
    __table_args__ = (
        CheckConstraint(one_of("rule", RULES), name="rule"),
        CheckConstraint(one_of("subject_type", SUBJECTS), name="subject_type"),
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint("score BETWEEN 0 AND 100", name="score"),
        CheckConstraint("(status = 'pending') = (reviewed_at IS NULL)", name="review"),
        Index("ix_risk_events_user", "user_id", "id"),
        Index("ix_risk_events_status", "status", "id"),
        Index("ix_risk_events_rule", "rule", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    subject_type: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)
    score: Mapped[int]
    signals: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    blocked: Mapped[bool] = mapped_column(server_default=text("false"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'::text"))
    reviewed_by: Mapped[uuid.UUID | None]
    reviewed_at: Mapped[dt.datetime | None]
    review_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class RiskBlock(Base):
    """A user refused at sign-in, redemption and withdrawal, from the risk event that scored at
    or above the block threshold until an admin lifts it. One row per user: a later block
    after a lift reuses it."""

    __tablename__ = "risk_blocks"
    __table_args__ = (
        UniqueConstraint("user_id"),
        CheckConstraint("(lifted_at IS NULL) = (lifted_by IS NULL)", name="lift"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    event_id: Mapped[uuid.UUID]
    rule: Mapped[str] = mapped_column(Text)
    blocked_at: Mapped[dt.datetime]
    lifted_at: Mapped[dt.datetime | None]
    lifted_by: Mapped[uuid.UUID | None]
    lift_note: Mapped[str | None] = mapped_column(Text)


class SignInPlace(Base):
    """A city a user signed in from, to tell a new city from a known one."""

    __tablename__ = "risk_sign_in_places"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    city: Mapped[str] = mapped_column(Text, primary_key=True)
    first_seen_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
