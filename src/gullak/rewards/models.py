"""Rewards tables.

A rule is a name and a status; what it does lives in its versions, which are never updated:
an edit adds a version, and each reward names the version that granted it. Value is never a
column here: every reward is ledger transfers (funder -> the user's `pending` account, then
`pending` -> `main` on confirmation). `user_id`, `merchant_id` and order ids belong to other
domains: plain columns.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
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

RULE_STATUSES = ("active", "paused")
CAMPAIGN_STATUSES = ("draft", "active", "paused", "ended")
REWARD_STATUSES = ("pending", "confirmed", "reversed")
DEBT_STATUSES = ("open", "settled")
FUNDING = ("platform", "merchant")


class Campaign(Timestamped, Base):
    __tablename__ = "reward_campaigns"
    __table_args__ = (
        CheckConstraint(one_of("status", CAMPAIGN_STATUSES), name="status"),
        # The budget is exact: a grant that would pass it is refused by this very row.
        CheckConstraint("spent >= 0 AND (budget IS NULL OR spent <= budget)", name="budget"),
        CheckConstraint("per_user_limit IS NULL OR per_user_limit > 0", name="per_user_limit"),
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="window"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(Text)
    asset_code: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'draft'::text"))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime | None]
    budget: Mapped[int | None] = mapped_column(BigInteger)
    spent: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    per_user_limit: Mapped[int | None] = mapped_column(Integer)


class CampaignUser(Base):
    """How many rewards of a campaign a user received (its per-user limit)."""

    __tablename__ = "reward_campaign_users"

    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_campaigns.id"),
                                                   primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    rewards: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    amount: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class Rule(Timestamped, Base):
    __tablename__ = "reward_rules"
    __table_args__ = (
        CheckConstraint(one_of("status", RULE_STATUSES), name="status"),
        Index("ix_reward_rules_trigger", "trigger", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(Text)  # the current version's, to find rules fast
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'::text"))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("reward_campaigns.id"))
    version: Mapped[int] = mapped_column(Integer)  # the current version's number
    version_id: Mapped[uuid.UUID]


class RuleVersion(Base):
    """What a rule did from `created_at` on; never updated."""

    __tablename__ = "reward_rule_versions"
    __table_args__ = (
        UniqueConstraint("rule_id", "version"),
        CheckConstraint(one_of("funding", FUNDING), name="funding"),
        CheckConstraint("value >= 0 AND (max_per_reward IS NULL OR max_per_reward > 0)"
                        " AND hold_days >= 0 AND (lifetime_days IS NULL OR lifetime_days > 0)",
                        name="amounts"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_rules.id"))
    version: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(Text)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONB)
    kind: Mapped[str] = mapped_column(Text)
    value: Mapped[int] = mapped_column(BigInteger)
    asset_code: Mapped[str] = mapped_column(Text)
    tier_multiplier: Mapped[bool]
    max_per_reward: Mapped[int | None] = mapped_column(BigInteger)
    caps: Mapped[list[Any]] = mapped_column(JSONB)
    hold_days: Mapped[int] = mapped_column(Integer)
    lifetime_days: Mapped[int | None] = mapped_column(Integer)
    funding: Mapped[str] = mapped_column(Text)
    funder_merchant_id: Mapped[uuid.UUID | None]
    timezone: Mapped[str] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Reward(Timestamped, Base):
    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint(one_of("status", REWARD_STATUSES), name="status"),
        CheckConstraint("amount > 0 AND reversed >= 0 AND reversed <= amount", name="amounts"),
        # One reward per rule, occasion and user, whatever is retried.
        UniqueConstraint("rule_id", "reference_type", "reference_id", "user_id"),
        UniqueConstraint("id", "user_id"),  # the target of its debts' foreign key
        Index("ix_rewards_user", "user_id", "id"),
        Index("ix_rewards_reference", "reference_type", "reference_id"),
        Index("ix_rewards_due", "confirm_at", postgresql_where=text("status = 'pending'::text")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_rules.id"))
    rule_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_rule_versions.id"))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("reward_campaigns.id"))
    trigger: Mapped[str] = mapped_column(Text)
    asset_code: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    reversed: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'::text"))
    reference_type: Mapped[str] = mapped_column(Text)
    reference_id: Mapped[str] = mapped_column(Text)
    funder_account_id: Mapped[uuid.UUID]
    # The order's eligible amount when earned, and what was refunded of it since.
    base_amount: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    refunded: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    lifetime_days: Mapped[int | None] = mapped_column(Integer)
    confirm_at: Mapped[dt.datetime]
    confirmed_at: Mapped[dt.datetime | None]
    lot_expires_at: Mapped[dt.datetime | None]


class Evaluation(Base):
    """One occasion evaluated: every rule considered, with its version, whether it applied
    and, if not, why (a reason code), in `decisions`."""

    __tablename__ = "reward_evaluations"
    __table_args__ = (Index("ix_reward_evaluations_reference", "reference_type", "reference_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    reference_type: Mapped[str] = mapped_column(Text)
    reference_id: Mapped[str] = mapped_column(Text)
    user_id: Mapped[uuid.UUID]
    trigger: Mapped[str] = mapped_column(Text)
    # [{rule_id, rule_version_id, applied, reason, amount, asset_code, reward_id}]
    decisions: Mapped[list[Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Usage(Base):
    """What a user received from a rule in one period bucket (`d2026-12-06`, `w2026-49`,
    `m2026-12`, `all`): the caps read it."""

    __tablename__ = "reward_usage"

    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reward_rules.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    bucket: Mapped[str] = mapped_column(Text, primary_key=True)
    rewards: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)


class UserStats(Base):
    """Completed orders per user, kept by the order handler (new vs returning, first order)."""

    __tablename__ = "reward_user_stats"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    completed_orders: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class SegmentMember(Base):
    __tablename__ = "reward_segment_members"

    segment: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Debt(Timestamped, Base):
    """What a refund could not take back because the user had spent it; settled from the
    user's next confirmations in the asset, paid to `creditor_account_id`."""

    __tablename__ = "reward_debts"
    __table_args__ = (
        CheckConstraint(one_of("status", DEBT_STATUSES), name="status"),
        CheckConstraint("amount > 0 AND settled >= 0 AND settled <= amount", name="amounts"),
        Index("ix_reward_debts_open", "user_id", "asset_code",
              postgresql_where=text("status = 'open'::text")),
        ForeignKeyConstraint(["reward_id", "user_id"], ["rewards.id", "rewards.user_id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    asset_code: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    settled: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'open'::text"))
    reward_id: Mapped[uuid.UUID]
    creditor_account_id: Mapped[uuid.UUID]
    settled_at: Mapped[dt.datetime | None]


class AppEvent(Base):
    __tablename__ = "reward_app_events"
    __table_args__ = (UniqueConstraint("name", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
