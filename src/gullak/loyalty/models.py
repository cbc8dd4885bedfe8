"""Loyalty tables.

Tiers are configuration; a user's standing is one row (`user_loyalty`, none for a user in the
lowest tier), and what it rests on is the append-only `loyalty_activity`: every amount spent,
earned or reported, once per reference. Privé plans, their partner merchants, subscriptions
and the payments that paid them; achievements, each user's progress and streaks.
`user_id`, `merchant_id` and `payment_id` belong to other domains: plain columns.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
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

TIER_METRICS = ("spent", "earned")
PLAN_STATUSES = ("active", "retired")
SUBSCRIPTION_STATUSES = ("pending_payment", "active", "past_due", "expired", "cancelled")
LIVE = ("pending_payment", "active", "past_due")
PAYMENT_KINDS = ("initial", "renewal")
PAYMENT_STATUSES = ("open", "succeeded", "failed")
ACHIEVEMENT_KINDS = ("total", "streak")
ACHIEVEMENT_STATUSES = ("active", "retired")
CODE = "code ~ '^[a-z][a-z0-9_]{1,39}$'"


class LoyaltyTier(Timestamped, Base):
    """One rung of the ladder: reached when `metric` over the last `window_days` reaches
    `threshold`, held for a period of `window_days`, lost only after `grace_days` more."""

    __tablename__ = "loyalty_tiers"
    __table_args__ = (
        CheckConstraint(CODE, name="code"),
        CheckConstraint(one_of("metric", TIER_METRICS), name="metric"),
        CheckConstraint("threshold >= 0 AND window_days > 0 AND grace_days >= 0"
                        " AND multiplier_bp > 0 AND rank >= 0", name="numbers"),
        UniqueConstraint("code"),
        UniqueConstraint("rank"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    rank: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(Text)
    threshold: Mapped[int]  # INR paise spent, or coins earned
    window_days: Mapped[int] = mapped_column(Integer)
    multiplier_bp: Mapped[int] = mapped_column(Integer)
    benefits: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    grace_days: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class LoyaltyActivity(Base):
    """What counts towards tiers and achievements: one row per thing reported, never changed.
    The reference (an order, a reward, a day's steps) makes a second telling a no-op."""

    __tablename__ = "loyalty_activity"
    __table_args__ = (
        CheckConstraint("metric ~ '^[a-z][a-z0-9_]{0,39}$'", name="metric"),
        CheckConstraint("amount >= 0", name="amount"),
        Index("uq_loyalty_activity_reference", "user_id", "metric", "reference", unique=True,
              postgresql_where=text("reference IS NOT NULL")),
        Index("ix_loyalty_activity_window", "user_id", "metric", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    metric: Mapped[str] = mapped_column(Text)
    amount: Mapped[int]
    at: Mapped[dt.datetime]
    reference: Mapped[str | None] = mapped_column(Text)


class UserLoyalty(Base):
    """A user's tier now. `review_at` is when the daily review looks again: the period's end,
    or the end of the grace that followed it."""

    __tablename__ = "user_loyalty"
    __table_args__ = (
        Index("ix_user_loyalty_review", "review_at", postgresql_where=text("review_at IS NOT NULL")),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tier_code: Mapped[str] = mapped_column(Text, ForeignKey("loyalty_tiers.code"))
    since: Mapped[dt.datetime]
    period_end: Mapped[dt.datetime | None]
    grace_until: Mapped[dt.datetime | None]
    review_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class LoyaltyTierChange(Base):
    __tablename__ = "loyalty_tier_changes"
    __table_args__ = (Index("ix_loyalty_tier_changes_user", "user_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    from_tier: Mapped[str | None] = mapped_column(Text)
    to_tier: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[uuid.UUID | None]
    at: Mapped[dt.datetime]


class PrivePlan(Timestamped, Base):
    __tablename__ = "prive_plans"
    __table_args__ = (
        CheckConstraint(CODE, name="code"),
        CheckConstraint(one_of("status", PLAN_STATUSES), name="status"),
        CheckConstraint("price > 0 AND period_days > 0 AND grace_days >= 0"
                        " AND multiplier_bp > 0 AND discount_bp BETWEEN 0 AND 10000",
                        name="numbers"),
        UniqueConstraint("code"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    price: Mapped[int]  # INR paise per period
    currency: Mapped[str] = mapped_column(Text, server_default=text("'INR'::text"))
    period_days: Mapped[int] = mapped_column(Integer)
    grace_days: Mapped[int] = mapped_column(Integer, server_default=text("3"))
    multiplier_bp: Mapped[int] = mapped_column(Integer)
    discount_bp: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'::text"))


class PriveMerchant(Timestamped, Base):
    """A partner merchant of a plan, with its own discount or multiplier if it gives more."""

    __tablename__ = "prive_merchants"
    __table_args__ = (
        CheckConstraint("(discount_bp IS NULL OR discount_bp BETWEEN 0 AND 10000)"
                        " AND (multiplier_bp IS NULL OR multiplier_bp > 0)", name="numbers"),
        UniqueConstraint("plan_id", "merchant_id"),
        Index("ix_prive_merchants_merchant", "merchant_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prive_plans.id"))
    merchant_id: Mapped[uuid.UUID]
    discount_bp: Mapped[int | None] = mapped_column(Integer)
    multiplier_bp: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class PriveSubscription(Timestamped, Base):
    __tablename__ = "prive_subscriptions"
    __table_args__ = (
        UniqueConstraint("id", "user_id"),  # the target of its payments' foreign key
        CheckConstraint(one_of("status", SUBSCRIPTION_STATUSES), name="status"),
        CheckConstraint("period_end IS NULL OR period_end > period_start", name="period"),
        # One live subscription per user, whatever races.
        Index("uq_prive_subscriptions_live", "user_id", unique=True,
              postgresql_where=text(one_of("status", LIVE))),
        Index("ix_prive_subscriptions_user", "user_id", "id"),
        Index("ix_prive_subscriptions_due", "period_end",
              postgresql_where=text("status IN ('active', 'past_due')")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prive_plans.id"))
    status: Mapped[str] = mapped_column(Text)
    period_start: Mapped[dt.datetime | None]
    period_end: Mapped[dt.datetime | None]
    auto_renew: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    cancelled_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]


class PrivePayment(Base):
    """A payment (payments domain) asked for a subscription: the first, or a renewal of the
    period ending at `for_period_end`."""

    __tablename__ = "prive_payments"
    __table_args__ = (
        CheckConstraint(one_of("kind", PAYMENT_KINDS), name="kind"),
        CheckConstraint(one_of("status", PAYMENT_STATUSES), name="status"),
        UniqueConstraint("payment_id"),
        Index("ix_prive_payments_subscription", "subscription_id", "id"),
        ForeignKeyConstraint(["subscription_id", "user_id"],
                             ["prive_subscriptions.id", "prive_subscriptions.user_id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    subscription_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    payment_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(Text)
    for_period_end: Mapped[dt.datetime | None]
    amount: Mapped[int]
    status: Mapped[str] = mapped_column(Text, server_default=text("'open'::text"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    settled_at: Mapped[dt.datetime | None]


class Achievement(Timestamped, Base):
    """Unlocked when the total of `metric` reaches `target`, or (kind 'streak') when it is
    reported on `target` days in a row."""

    __tablename__ = "achievements"
    __table_args__ = (
        CheckConstraint(CODE, name="code"),
        CheckConstraint("metric ~ '^[a-z][a-z0-9_]{0,39}$'", name="metric"),
        CheckConstraint(one_of("kind", ACHIEVEMENT_KINDS), name="kind"),
        CheckConstraint(one_of("status", ACHIEVEMENT_STATUSES), name="status"),
        CheckConstraint("target > 0 AND bonus_amount >= 0", name="numbers"),
        UniqueConstraint("code"),
        Index("ix_achievements_metric", "metric", postgresql_where=text("status = 'active'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default=text("''::text"))
    metric: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, server_default=text("'total'::text"))
    target: Mapped[int]
    bonus_asset: Mapped[str | None] = mapped_column(Text)
    bonus_amount: Mapped[int] = mapped_column(server_default=text("0"))
    position: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'::text"))


class UserAchievement(Base):
    __tablename__ = "user_achievements"
    __table_args__ = (
        UniqueConstraint("user_id", "achievement_id"),  # unlocked, and paid, once
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    achievement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("achievements.id"))
    progress: Mapped[int]
    unlocked_at: Mapped[dt.datetime | None]
    transfer_id: Mapped[uuid.UUID | None]  # the bonus
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class UserStreak(Base):
    """Consecutive days (in the user's time zone) a metric was reported; a missed day is
    forgiven while the month's freezes last (`GULLAK_STREAK_FREEZES_PER_MONTH`)."""

    __tablename__ = "user_streaks"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    metric: Mapped[str] = mapped_column(Text, primary_key=True)
    current: Mapped[int] = mapped_column(Integer)
    longest: Mapped[int] = mapped_column(Integer)
    last_day: Mapped[dt.date] = mapped_column(Date)
    # Missed days covered by the month's freeze allowance, counted in `freeze_month`.
    freezes_used: Mapped[int] = mapped_column(Integer, server_default="0")
    freeze_month: Mapped[dt.date | None] = mapped_column(Date)
