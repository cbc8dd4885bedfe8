"""The notifications domain's tables.

A notification is what one `notify` call made for one user: the inbox shows it, and each
outside channel it goes to (push per device, SMS, email) has a delivery row, sent by a job
outside the transaction with the delivery's id as the provider's idempotency key. Templates
are reference data; preferences are one row per user. The two sandbox outboxes keep what the
sandbox push and email senders would have sent, one row per delivery id.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped, one_of
from gullak.kit.ids import uuid7

CHANNELS = ("inbox", "push", "sms", "email")
OUTSIDE_CHANNELS = ("push", "sms", "email")
CATEGORIES = ("transactional", "account", "rewards", "orders", "marketing")
DELIVERY_STATUSES = ("queued", "sending", "sent", "failed")


class NotificationTemplate(Timestamped, Base):
    """What a kind of notification says, per locale and channel: `content[locale][channel]`
    holds title/body (push, inbox), text (sms) or subject/text/html (email), with `{name}`
    placeholders drawn from `variables` only."""

    __tablename__ = "notification_templates"
    __table_args__ = (CheckConstraint(one_of("category", CATEGORIES), name="category"),)

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    category: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    channels: Mapped[list[str]] = mapped_column(ARRAY(Text))
    variables: Mapped[list[str]] = mapped_column(ARRAY(Text))
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class Notification(Base):
    """One notification to one user, as the inbox shows it (rendered in the user's locale)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_inbox", "user_id", "id",
              postgresql_where=text("inbox AND deleted_at IS NULL")),
        Index("ix_notifications_category", "user_id", "category", "created_at"),
        Index("uq_notifications_key", "user_id", "key", unique=True,
              postgresql_where=text("key IS NOT NULL")),
        UniqueConstraint("id", "user_id"),  # the target of the deliveries' foreign key
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    template: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    channels: Mapped[list[str]] = mapped_column(ARRAY(Text))
    inbox: Mapped[bool] = mapped_column(Boolean)
    campaign_id: Mapped[uuid.UUID | None]
    variant: Mapped[str | None] = mapped_column(Text)
    key: Mapped[str | None] = mapped_column(Text)
    read_at: Mapped[dt.datetime | None]
    deleted_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]


class NotificationDelivery(Base):
    """One notification on one outside channel and destination. `sending` with a lease: a
    worker claimed it and may have called the provider; past the lease it is sent again with
    the same key (its id), which the provider (or sandbox) takes as the same message."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        CheckConstraint(one_of("channel", OUTSIDE_CHANNELS), name="channel"),
        CheckConstraint(one_of("status", DELIVERY_STATUSES), name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("uq_notification_deliveries_target", "notification_id", "channel", "target",
              unique=True),
        Index("ix_notification_deliveries_due", "not_before",
              postgresql_where=text("status IN ('queued', 'sending')")),
        Index("ix_notification_deliveries_user", "user_id", "id"),
        # With the user's id, so a delivery lives beside its notification when distributed.
        ForeignKeyConstraint(["notification_id", "user_id"],
                             ["notifications.id", "notifications.user_id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    notification_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    channel: Mapped[str] = mapped_column(Text)
    platform: Mapped[str | None] = mapped_column(Text)  # push: android, ios, web
    target: Mapped[str] = mapped_column(Text)  # push token, phone or email address
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text, server_default=text("'queued'"))
    not_before: Mapped[dt.datetime]
    lease_until: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    provider: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class NotificationPreference(Base):
    """A user's choices: `channels[category][channel]` false turns that off (absent: on),
    and quiet hours in the user's time zone."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    time_zone: Mapped[str] = mapped_column(Text)
    quiet_start: Mapped[dt.time | None] = mapped_column(Time)
    quiet_end: Mapped[dt.time | None] = mapped_column(Time)
    channels: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[dt.datetime]


class SandboxPush(Base):
    """What the sandbox push sender would have sent, once per delivery id."""

    __tablename__ = "sandbox_push_outbox"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    token: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    sends: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[dt.datetime]


class SandboxEmail(Base):
    """What the sandbox email sender would have sent, once per delivery id (the Message-ID)."""

    __tablename__ = "sandbox_email_outbox"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    to_address: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    sends: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[dt.datetime]
