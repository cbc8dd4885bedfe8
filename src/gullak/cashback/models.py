"""Cashback tables.

A cashback's value is never a balance here: while pending it sits in the user's INR account of
purpose `pending`, once confirmed in their main INR account, each move a ledger transfer with
reference ('cashback', id). `user_id`, `offer_id`, `merchant_id` and `click_id` belong to other
domains: plain columns.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped, one_of
from gullak.kit.ids import uuid7

AUTH_MODES = ("hmac", "token")
# What a network may say of a conversion, once mapped from its own words.
REPORTED = ("pending", "confirmed", "rejected")
STATUSES = ("unmatched", "pending", "confirmed", "rejected", "dismissed")
SOURCES = ("postback", "report")
OUTCOMES = ("applied", "duplicate", "ignored", "unmatched", "invalid")


class Network(Timestamped, Base):
    """An affiliate network that reports conversions, and how it proves who it is."""

    __tablename__ = "cashback_networks"
    __table_args__ = (
        CheckConstraint(one_of("auth_mode", AUTH_MODES), name="auth_mode"),
        CheckConstraint("refused_postbacks >= 0", name="counts"),
        UniqueConstraint("code"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    auth_mode: Mapped[str] = mapped_column(Text)
    secret_sealed: Mapped[str] = mapped_column(Text)  # HMAC key or shared token, sealed
    secret_hint: Mapped[str] = mapped_column(Text)  # masked, as shown
    # HMAC: the header carrying the hex signature. Token: the query parameter or header name.
    signature_header: Mapped[str] = mapped_column(Text)
    token_param: Mapped[str] = mapped_column(Text)
    # The network's own status words -> pending, confirmed, rejected.
    status_map: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    # Our field names (transaction_id, click_id, amount, commission, currency, status) -> theirs.
    field_map: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Postbacks refused for a bad signature or token: only counted, never stored.
    refused_postbacks: Mapped[int] = mapped_column(server_default=text("0"))
    last_refused_at: Mapped[dt.datetime | None]


class Cashback(Timestamped, Base):
    """One conversion a network reported (network, its transaction id), matched to its click
    and user, or kept for review (`unmatched`) until an admin assigns or dismisses it."""

    __tablename__ = "cashbacks"
    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(one_of("network_status", REPORTED), name="network_status"),
        CheckConstraint("amount >= 0 AND credited >= 0 AND order_amount >= 0"
                        " AND (commission IS NULL OR commission >= 0) AND revision >= 0",
                        name="amounts"),
        CheckConstraint("status IN ('unmatched', 'dismissed') OR user_id IS NOT NULL",
                        name="owner"),
        UniqueConstraint("network_id", "transaction_id"),
        Index("ix_cashbacks_user", "user_id", "id", postgresql_where=text("user_id IS NOT NULL")),
        Index("ix_cashbacks_status", "status", "id"),
        # Confirmed rows whose transfer to the main account is still to be posted.
        Index("ix_cashbacks_unsettled", "id", postgresql_where=text(
            "status = 'confirmed'::text AND settled_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    network_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cashback_networks.id"))
    transaction_id: Mapped[str] = mapped_column(Text)
    click_id: Mapped[uuid.UUID | None]
    user_id: Mapped[uuid.UUID | None]
    offer_id: Mapped[uuid.UUID | None]
    merchant_id: Mapped[uuid.UUID | None]
    currency: Mapped[str] = mapped_column(Text, server_default=text("'INR'::text"))
    order_amount: Mapped[int]  # the sale, INR paise
    commission: Mapped[int | None]  # what the network pays the platform
    amount: Mapped[int] = mapped_column(server_default=text("0"))  # the user's share
    credited: Mapped[int] = mapped_column(server_default=text("0"))  # in the pending account
    revision: Mapped[int] = mapped_column(Integer, server_default=text("0"))  # amount changes
    status: Mapped[str] = mapped_column(Text)
    network_status: Mapped[str] = mapped_column(Text)  # the last state the network reported
    reason: Mapped[str | None] = mapped_column(Text)
    confirmed_at: Mapped[dt.datetime | None]
    rejected_at: Mapped[dt.datetime | None]
    settled_at: Mapped[dt.datetime | None]  # when the confirmation's transfer was posted
    # The user's INR accounts (pending, main), opened when the cashback is matched: bulk
    # confirmations post without looking them up.
    pending_account_id: Mapped[uuid.UUID | None]
    main_account_id: Mapped[uuid.UUID | None]


class Event(Base):
    """What a network sent, as received (one postback, or one line of a report), and what came
    of it. Append-only; partitioned by month of its id."""

    __tablename__ = "cashback_events"
    __table_args__ = (
        CheckConstraint(one_of("source", SOURCES), name="source"),
        CheckConstraint(one_of("outcome", OUTCOMES), name="outcome"),
        Index("ix_cashback_events_network", "network_id", "id"),
        Index("ix_cashback_events_cashback", "cashback_id",
              postgresql_where=text("cashback_id IS NOT NULL")),
        {"postgresql_partition_by": "RANGE (id)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    network_id: Mapped[uuid.UUID]
    source: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    fields: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    transaction_id: Mapped[str | None] = mapped_column(Text)
    network_status: Mapped[str | None] = mapped_column(Text)  # as the network said it
    outcome: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    cashback_id: Mapped[uuid.UUID | None]
    received_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
