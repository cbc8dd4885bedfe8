"""Campaigns tables: saved segments (filters over users), marketing campaigns on a segment
with their A/B variants, the users each campaign reached (so a rerun sends nobody twice),
the variant each user was assigned, and the conversions attributed to a send.

`user_id` belongs to identity; template codes and notification ids to notifications: plain
columns, like every domain's reference to another's. Campaigns, segments and variants are
few and read everywhere; recipients, assignments and conversions belong to a user.
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
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped, one_of
from gullak.kit.ids import uuid7

CHANNELS = ("push", "inbox", "sms", "email")
STATUSES = ("draft", "scheduled", "sending", "paused", "sent", "cancelled")
CONVERSION_SOURCES = ("order", "offer")


class Segment(Timestamped, Base):
    """A saved definition of users: filters combined with AND, evaluated when used."""

    __tablename__ = "campaign_segments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    filters: Mapped[list[Any]] = mapped_column(JSONB)
    created_by: Mapped[uuid.UUID | None]


class Campaign(Timestamped, Base):
    """A marketing send to a segment. Editable while a draft; another admin approves it when
    approval is required; then scheduled, sent in throttled batches from `send_at`."""

    __tablename__ = "notification_campaigns"
    __table_args__ = (
        CheckConstraint(one_of("channel", CHANNELS), name="channel"),
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint("throttle_per_minute > 0 AND attribution_days > 0", name="limits"),
        Index("ix_notification_campaigns_due", "send_at",
              postgresql_where=text("status IN ('scheduled', 'sending')")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(Text)
    segment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaign_segments.id"))
    channel: Mapped[str] = mapped_column(Text)
    template_code: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    send_at: Mapped[dt.datetime | None]
    throttle_per_minute: Mapped[int] = mapped_column(Integer)
    attribution_days: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(Text, server_default=text("'draft'"))
    created_by: Mapped[uuid.UUID | None]
    updated_by: Mapped[uuid.UUID | None]
    approved_by: Mapped[uuid.UUID | None]
    approved_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class Variant(Base):
    """One arm of a campaign's A/B test: its share of the users and, if it differs, its own
    template. A campaign without a test has one variant, "A", at 100 %."""

    __tablename__ = "campaign_variants"
    __table_args__ = (CheckConstraint("percent BETWEEN 0 AND 100", name="percent"),)

    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notification_campaigns.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    percent: Mapped[int] = mapped_column(SmallInteger)
    template_code: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(SmallInteger)


class Recipient(Base):
    """A user a campaign reached, written in the unit of work that asked notifications to
    send: `notification_id` when it was sent, `suppressed` when preferences or caps held it
    back. One row per user per campaign: a rerun finds them and skips them."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        CheckConstraint("suppressed = (notification_id IS NULL)", name="outcome"),
        Index("ix_campaign_recipients_user", "user_id", "sent_at"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notification_campaigns.id"),
                                                   primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    variant: Mapped[str] = mapped_column(Text)
    notification_id: Mapped[uuid.UUID | None]
    suppressed: Mapped[bool] = mapped_column(Boolean)
    sent_at: Mapped[dt.datetime]


class Assignment(Base):
    """The variant of an experiment a user is in (ReZ's ab_test_results). The experiment of a
    campaign is "campaign:<id>"; the variant is a pure function of the experiment and the user,
    kept so that results and exports read it without recomputing."""

    __tablename__ = "experiment_assignments"

    experiment: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    variant: Mapped[str] = mapped_column(Text)
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("notification_campaigns.id"))
    assigned_at: Mapped[dt.datetime]


class Conversion(Base):
    """An order or an offer redemption by a user within the campaign's attribution window
    after the send: the first one counts, once per user per campaign."""

    __tablename__ = "campaign_conversions"
    __table_args__ = (
        CheckConstraint(one_of("source", CONVERSION_SOURCES), name="source"),
        CheckConstraint("revenue IS NULL OR revenue >= 0", name="revenue"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notification_campaigns.id"),
                                                   primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    variant: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    reference_id: Mapped[uuid.UUID]
    revenue: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(Text)
    converted_at: Mapped[dt.datetime]
