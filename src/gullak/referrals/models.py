"""Referrals tables: programs (the condition a referee meets), referral tiers, referrals with
their outcome, risk events, colleges, student verifications and ambassadors.

`user_id`, `referrer_id`, `referee_id` belong to identity: plain columns, like every domain's
reference to another's rows. A referee's phone is kept only as a keyed hash, to recognise an
account opened again with the same number.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped, one_of
from gullak.kit.ids import uuid7

CONDITIONS = ("first_order", "first_topup", "steps")
REFERRAL_STATUSES = ("pending", "qualified", "rewarded", "refused")
COLLEGE_STATUSES = ("active", "inactive")
CLAIM_STATUSES = ("pending", "verified", "rejected")
AMBASSADOR_STATUSES = ("applied", "active", "rejected", "suspended")


class ReferralProgram(Timestamped, Base):
    """What a referee must do for both sides to be rewarded, and what an ambassador earns per
    qualified referral by default. One program is active at a time; a referral keeps the
    condition it was recorded under."""

    __tablename__ = "referral_programs"
    __table_args__ = (
        CheckConstraint(one_of("condition", CONDITIONS), name="condition"),
        CheckConstraint("(condition = 'steps') = (steps_required IS NOT NULL)", name="steps"),
        CheckConstraint("steps_required > 0 AND commission_amount >= 0"
                        " AND commission_bp BETWEEN 0 AND 10000", name="amounts"),
        Index("uq_referral_programs_active", "active", unique=True,
              postgresql_where=text("active")),
        UniqueConstraint("name"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(Text)
    condition: Mapped[str] = mapped_column(Text)
    steps_required: Mapped[int | None] = mapped_column(Integer)
    commission_amount: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    commission_bp: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class ReferralTier(Timestamped, Base):
    """More rewarded referrals, a bigger multiplier for the rules that pay referrals."""

    __tablename__ = "referral_tiers"
    __table_args__ = (
        CheckConstraint("min_referrals >= 0 AND multiplier_bp > 0", name="amounts"),
        UniqueConstraint("min_referrals"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    label: Mapped[str] = mapped_column(Text)
    min_referrals: Mapped[int] = mapped_column(Integer)
    multiplier_bp: Mapped[int] = mapped_column(Integer)


class Referral(Timestamped, Base):
    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint(one_of("status", REFERRAL_STATUSES), name="status"),
        CheckConstraint(one_of("condition", CONDITIONS), name="condition"),
        CheckConstraint("(status = 'refused') = (refused_reason IS NOT NULL)", name="refused"),
        # One referral per referee, whatever races.
        UniqueConstraint("referee_id"),
        Index("ix_referrals_referrer", "referrer_id", "id"),
        Index("ix_referrals_status", "status", "id"),
        Index("ix_referrals_phone", "referee_phone_hash"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    referrer_id: Mapped[uuid.UUID]
    referee_id: Mapped[uuid.UUID]
    code: Mapped[str] = mapped_column(Text)  # the referral code used at sign-up
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("referral_programs.id"))
    condition: Mapped[str] = mapped_column(Text)
    steps_required: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'::text"))
    refused_reason: Mapped[str | None] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(Text)  # the referee's at sign-up
    referee_phone_hash: Mapped[str | None] = mapped_column(Text)
    # What met the condition: ('order', id) or ('payment', id), and its amount in paise.
    qualified_by: Mapped[str | None] = mapped_column(Text)
    qualifying_amount: Mapped[int | None] = mapped_column(BigInteger)
    referral_count: Mapped[int | None] = mapped_column(Integer)
    tier_label: Mapped[str | None] = mapped_column(Text)
    multiplier_bp: Mapped[int | None] = mapped_column(Integer)
    ambassador_id: Mapped[uuid.UUID | None]
    commission: Mapped[int | None] = mapped_column(BigInteger)  # INR paise paid
    commission_transfer_id: Mapped[uuid.UUID | None]
    qualified_at: Mapped[dt.datetime | None]
    rewarded_at: Mapped[dt.datetime | None]


class ReferralRiskEvent(Base):
    __tablename__ = "referral_risk_events"
    __table_args__ = (
        Index("ix_referral_risk_events_user", "user_id", "id"),
        Index("ix_referral_risk_events_kind", "kind", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    referral_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("referrals.id"))
    kind: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class College(Timestamped, Base):
    __tablename__ = "colleges"
    __table_args__ = (
        CheckConstraint(one_of("status", COLLEGE_STATUSES), name="status"),
        Index("uq_colleges_name_city", func.lower(text("name")), func.lower(text("city")),
              unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(Text)
    city: Mapped[str] = mapped_column(Text)
    domain: Mapped[str | None] = mapped_column(Text)  # the college's email domain
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'::text"))


class UserCollege(Timestamped, Base):
    """A student's claim to a college, with a reference to the uploaded ID proof; an admin
    verifies or rejects it."""

    __tablename__ = "user_colleges"
    __table_args__ = (
        CheckConstraint(one_of("status", CLAIM_STATUSES), name="status"),
        # One live claim per user: a rejected one may be followed by another.
        Index("uq_user_colleges_live", "user_id", unique=True,
              postgresql_where=text("status <> 'rejected'::text")),
        Index("ix_user_colleges_status", "status", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    college_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("colleges.id"))
    student_id_number: Mapped[str] = mapped_column(Text)
    document_ref: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'::text"))
    reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[uuid.UUID | None]
    reviewed_at: Mapped[dt.datetime | None]


class StudentAmbassador(Timestamped, Base):
    """A verified student who applied; once approved, their qualified referrals earn
    commission (their own amount or rate, else the program's)."""

    __tablename__ = "student_ambassadors"
    __table_args__ = (
        CheckConstraint(one_of("status", AMBASSADOR_STATUSES), name="status"),
        CheckConstraint("commission_amount >= 0 AND commission_bp BETWEEN 0 AND 10000",
                        name="amounts"),
        UniqueConstraint("user_id"),
        UniqueConstraint("code"),
        Index("ix_student_ambassadors_status", "status", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    college_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("colleges.id"))
    code: Mapped[str] = mapped_column(Text)  # the referral code the ambassador shares
    status: Mapped[str] = mapped_column(Text, server_default=text("'applied'::text"))
    commission_amount: Mapped[int | None] = mapped_column(BigInteger)
    commission_bp: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    appointed_by: Mapped[uuid.UUID | None]
    appointed_at: Mapped[dt.datetime | None]
