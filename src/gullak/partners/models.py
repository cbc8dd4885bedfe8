"""Partners tables.

`user_id` and `order_id` belong to other domains: plain columns, never foreign keys into their
tables. Every row but the partner's own carries its user, and each child refers to its parent
with the user (`(link_id, user_id)`, ...), so that distributed by user (docs/distribution.md)
an order's partner rows live on the order's node; `partners` is a small reference table.

`partner_events` is the transactional outbox: a row is written in the unit of work of the
order's status change, and a job delivers it after that unit commits. Every attempt is a row
of `partner_deliveries`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped, one_of
from gullak.kit.ids import uuid7

PARTNER_STATUSES = ("active", "suspended")
LINK_STATUSES = ("active", "revoked")
EVENT_STATUSES = ("pending", "delivered", "failed")
EVENT_TYPES = ("order.status_changed",)



class Partner(Timestamped, Base):
    """A partner company. Its API key is kept as a digest; its signing secret sealed (it must
    sign), with the previous one still signing until `previous_secret_until`."""

    __tablename__ = "partners"
    __table_args__ = (CheckConstraint(one_of("status", PARTNER_STATUSES), name="status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(Text, unique=True)
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'::text"))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # None: any live merchant; otherwise only these.
    merchant_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(Uuid))
    key_holder: Mapped[str] = mapped_column(Text, unique=True)
    key_hash: Mapped[str] = mapped_column(Text)
    signing_secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_until: Mapped[dt.datetime | None]
    created_by: Mapped[uuid.UUID | None]


class PartnerLink(Base):
    """A user's consent: this partner may place orders paid from the user's coins and wallet.
    Revoked, it refuses new orders; orders already placed go on."""

    __tablename__ = "partner_links"
    __table_args__ = (
        CheckConstraint(one_of("status", LINK_STATUSES), name="status"),
        UniqueConstraint("partner_id", "user_id"),
        UniqueConstraint("id", "user_id"),
        Index("ix_partner_links_user", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    user_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'::text"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[dt.datetime | None]


class PartnerOrder(Base):
    """An order a partner placed, under the partner's own reference (unique per partner)."""

    __tablename__ = "partner_orders"
    __table_args__ = (
        UniqueConstraint("partner_id", "external_ref"),
        UniqueConstraint("order_id"),
        UniqueConstraint("id", "user_id"),
        ForeignKeyConstraint(["link_id", "user_id"],
                             ["partner_links.id", "partner_links.user_id"]),
        Index("ix_partner_orders_partner", "partner_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    external_ref: Mapped[str] = mapped_column(Text)
    link_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    order_id: Mapped[uuid.UUID]
    order_number: Mapped[str] = mapped_column(Text)
    request_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class PartnerEvent(Base):
    """The outbox: one row per event a partner is to hear of. `sequence` orders the events of
    one partner order; `series` counts replays (each a new series of attempts)."""

    __tablename__ = "partner_events"
    __table_args__ = (
        CheckConstraint(one_of("status", EVENT_STATUSES), name="status"),
        CheckConstraint("attempts >= 0 AND series >= 1 AND sequence >= 1", name="counts"),
        UniqueConstraint("partner_order_id", "sequence"),
        UniqueConstraint("id", "user_id"),
        ForeignKeyConstraint(["partner_order_id", "user_id"],
                             ["partner_orders.id", "partner_orders.user_id"]),
        Index("ix_partner_events_partner", "partner_id", "id"),
        # The sweep's scan: only events still to deliver.
        Index("ix_partner_events_due", "next_attempt_at",
              postgresql_where=text("status = 'pending'::text")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    partner_order_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    sequence: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'::text"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    series: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    next_attempt_at: Mapped[dt.datetime]
    delivered_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class PartnerDelivery(Base):
    """One attempt to deliver an event: what was asked, what came back, how long it took."""

    __tablename__ = "partner_deliveries"
    __table_args__ = (
        Index("ix_partner_deliveries_event", "event_id", "id"),
        ForeignKeyConstraint(["event_id", "user_id"],
                             ["partner_events.id", "partner_events.user_id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    event_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    partner_id: Mapped[uuid.UUID]
    series: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
