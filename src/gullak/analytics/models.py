"""The analytics domain's tables.

`activity_events` is append-only and the most written table of the platform: partitioned by
UTC month of `occurred_at` (the event's own time), in the schema `analytics_partitions`, with a
DEFAULT partition so that no write is ever refused for want of a month (the job moves such
rows into their month when it makes it). A unique key of a partitioned table must hold the
partition key, so a client's event is unique by (user, occurred_at, client event id): a
retried batch carries the same times, lands in the same partitions and inserts nothing twice.

The daily summaries are rebuilt whole per day: rerunning a day replaces its rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import CheckConstraint, Index, PrimaryKeyConstraint, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, one_of
from gullak.kit.ids import uuid7

SOURCES = ("client", "server")
PARTITION_SCHEMA = "analytics_partitions"


class ActivityEvent(Base):
    """What a user or the system did, once. `amount` and `unit` are the event's one number
    worth summing (an order's total in its currency, a reward in its asset, steps), taken out
    of its properties when it is written; `merchant_id` and `offer_id` likewise."""

    __tablename__ = "activity_events"
    __table_args__ = (
        PrimaryKeyConstraint("id", "occurred_at"),
        CheckConstraint(one_of("source", SOURCES), name="source"),
        CheckConstraint("source = 'server' OR (user_id IS NOT NULL"
                        " AND client_event_id IS NOT NULL)", name="client_key"),
        # Nulls are distinct: events of the server (no client id) never conflict.
        Index("uq_activity_events_client", "user_id", "occurred_at", "client_event_id",
              unique=True),
        Index("ix_activity_events_occurred", "occurred_at", postgresql_using="brin"),
        Index("ix_activity_events_merchant", "merchant_id", "occurred_at",
              postgresql_where=text("merchant_id IS NOT NULL")),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(default=uuid7)
    occurred_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime]
    user_id: Mapped[uuid.UUID | None]
    name: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    client_event_id: Mapped[str | None] = mapped_column(Text)
    merchant_id: Mapped[uuid.UUID | None]
    offer_id: Mapped[uuid.UUID | None]
    amount: Mapped[int | None]
    unit: Mapped[str | None] = mapped_column(Text)
    properties: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))


class StaleDay(Base):
    """A past day that received events after it may have been summarised: the summary job
    recomputes it and removes the mark in the same transaction."""

    __tablename__ = "analytics_stale_days"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    marked_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))


class _Counts:
    events: Mapped[int] = mapped_column(server_default=text("0"))
    views: Mapped[int] = mapped_column(server_default=text("0"))
    clicks: Mapped[int] = mapped_column(server_default=text("0"))
    redemptions: Mapped[int] = mapped_column(server_default=text("0"))
    computed_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))


class UserDailySummary(_Counts, Base):
    """One user's day, from their activity events. Amounts are in the minor units the events
    carry: `spent` and `paid` in the order's and payment's currency, `rewards` in coins."""

    __tablename__ = "user_daily_summaries"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "day"),
        Index("ix_user_daily_summaries_day", "day"),
    )

    user_id: Mapped[uuid.UUID]
    day: Mapped[dt.date]
    sessions: Mapped[int] = mapped_column(server_default=text("0"))
    searches: Mapped[int] = mapped_column(server_default=text("0"))
    orders: Mapped[int] = mapped_column(server_default=text("0"))
    spent: Mapped[int] = mapped_column(server_default=text("0"))
    paid: Mapped[int] = mapped_column(server_default=text("0"))
    rewards: Mapped[int] = mapped_column(server_default=text("0"))
    cashback: Mapped[int] = mapped_column(server_default=text("0"))
    withdrawn: Mapped[int] = mapped_column(server_default=text("0"))
    steps: Mapped[int] = mapped_column(server_default=text("0"))
    first_at: Mapped[dt.datetime]
    last_at: Mapped[dt.datetime]


class MerchantDailySummary(_Counts, Base):
    __tablename__ = "merchant_daily_summaries"
    __table_args__ = (
        PrimaryKeyConstraint("merchant_id", "day"),
        Index("ix_merchant_daily_summaries_day", "day"),
    )

    merchant_id: Mapped[uuid.UUID]
    day: Mapped[dt.date]
    visitors: Mapped[int] = mapped_column(server_default=text("0"))
    orders: Mapped[int] = mapped_column(server_default=text("0"))
    gmv: Mapped[int] = mapped_column(server_default=text("0"))
    reviews: Mapped[int] = mapped_column(server_default=text("0"))


class OfferDailySummary(_Counts, Base):
    """An offer's funnel for a day: views, clicks, redemptions, and the distinct users at
    each step (the conversion is read as redeemers / viewers)."""

    __tablename__ = "offer_daily_summaries"
    __table_args__ = (
        PrimaryKeyConstraint("offer_id", "day"),
        Index("ix_offer_daily_summaries_day", "day"),
        Index("ix_offer_daily_summaries_merchant", "merchant_id", "day"),
    )

    offer_id: Mapped[uuid.UUID]
    day: Mapped[dt.date]
    merchant_id: Mapped[uuid.UUID | None]
    viewers: Mapped[int] = mapped_column(server_default=text("0"))
    clickers: Mapped[int] = mapped_column(server_default=text("0"))
    redeemers: Mapped[int] = mapped_column(server_default=text("0"))


class PlatformDailySummary(Base):
    """The platform's day. Money is in minor units: `gmv`, `refunds`, `cashback_*` in INR
    paise, `coins_*` summed over every coin asset, `withdrawn` over every asset withdrawn."""

    __tablename__ = "platform_daily_summaries"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    events: Mapped[int] = mapped_column(server_default=text("0"))
    active_users: Mapped[int] = mapped_column(server_default=text("0"))
    sign_ups: Mapped[int] = mapped_column(server_default=text("0"))
    coins_issued: Mapped[int] = mapped_column(server_default=text("0"))
    coins_spent: Mapped[int] = mapped_column(server_default=text("0"))
    coins_expired: Mapped[int] = mapped_column(server_default=text("0"))
    cashback_pending: Mapped[int] = mapped_column(server_default=text("0"))
    cashback_confirmed: Mapped[int] = mapped_column(server_default=text("0"))
    orders: Mapped[int] = mapped_column(server_default=text("0"))
    gmv: Mapped[int] = mapped_column(server_default=text("0"))
    refunds: Mapped[int] = mapped_column(server_default=text("0"))
    withdrawals: Mapped[int] = mapped_column(server_default=text("0"))
    withdrawn: Mapped[int] = mapped_column(server_default=text("0"))
    steps: Mapped[int] = mapped_column(server_default=text("0"))
    computed_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
