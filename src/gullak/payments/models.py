"""Payments tables.

`user_id` and `reference_id` (an order's id) belong to other domains: plain columns, never
foreign keys into their tables. `gateway_events` is append-only (a trigger refuses changes to
what was received; only `processed_at` and `outcome` are written, once, by the job), and
partitioned by month of its id like the ledger's transfers (gullak.db.partitions, 0021).

A unique index of a partitioned table must hold the partition key, so (provider, event_id)
cannot be unique in `gateway_events` itself. Exactly-once intake rests on the small plain
table `gateway_event_keys` instead: its primary key is (provider, event_id), and one
statement claims the key and stores the event, or does neither (webhooks.store).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped, one_of
from gullak.kit.ids import uuid7

PURPOSES = ("order", "topup", "subscription")
STATUSES = ("created", "pending", "succeeded", "failed", "cancelled", "expired")
OPEN = ("created", "pending")  # statuses a gateway's answer may still move
REFUND_STATUSES = ("pending", "succeeded", "failed")
# Top-up invoice numbers (INV-202612-000123): one sequence, never reused, gaps allowed.
INVOICE_SEQ = "payment_invoice_seq"



class Payment(Timestamped, Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(one_of("purpose", PURPOSES), name="purpose"),
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refunded"),
        UniqueConstraint("user_id", "idempotency_key"),
        UniqueConstraint("invoice_number"),
        # What attempts and refunds refer to: a payment and its user, so that distributed by
        # user (docs/distribution.md) they live on the payment's node.
        UniqueConstraint("user_id", "id"),
        Index("ix_payments_user", "user_id", "purpose", "id"),
        Index("ix_payments_gateway_ref", "gateway", "gateway_ref", unique=True),
        Index("ix_payments_reference", "purpose", "reference_id"),
        # The reconciliation job's scan: only payments still waiting on the provider.
        Index("ix_payments_open", "updated_at",
              postgresql_where=text("status = ANY (ARRAY['created'::text, 'pending'::text])")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    purpose: Mapped[str] = mapped_column(Text)
    reference_id: Mapped[str] = mapped_column(Text)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'created'::text"))
    refunded_amount: Mapped[int] = mapped_column(server_default=text("0"))
    gateway: Mapped[str] = mapped_column(Text)
    gateway_ref: Mapped[str | None] = mapped_column(Text)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    invoice_number: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(Text)
    request_hash: Mapped[str] = mapped_column(Text)
    succeeded_at: Mapped[dt.datetime | None]


class PaymentAttempt(Base):
    """Each call to the provider: what was asked and what came back (never credentials)."""

    __tablename__ = "payment_attempts"
    __table_args__ = (
        ForeignKeyConstraint(["user_id", "payment_id"], ["payments.user_id", "payments.id"]),
        Index("ix_payment_attempts_payment", "payment_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    payment_id: Mapped[uuid.UUID]
    operation: Mapped[str] = mapped_column(Text)  # create, fetch, refund
    request: Mapped[dict[str, Any]]
    outcome: Mapped[str] = mapped_column(Text)  # ok, error
    response: Mapped[dict[str, Any]]
    at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class PaymentRefund(Timestamped, Base):
    __tablename__ = "payment_refunds"
    __table_args__ = (
        CheckConstraint(one_of("status", REFUND_STATUSES), name="status"),
        CheckConstraint("amount > 0", name="amount"),
        UniqueConstraint("payment_id", "idempotency_key"),
        ForeignKeyConstraint(["user_id", "payment_id"], ["payments.user_id", "payments.id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID]
    payment_id: Mapped[uuid.UUID]
    amount: Mapped[int]
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'::text"))
    idempotency_key: Mapped[str] = mapped_column(Text)
    gateway_ref: Mapped[str | None] = mapped_column(Text)
    transfer_id: Mapped[uuid.UUID | None]  # the ledger's move back to clearing
    succeeded_at: Mapped[dt.datetime | None]


class GatewayEvent(Base):
    __tablename__ = "gateway_events"
    __table_args__ = (
        Index("ix_gateway_events_unprocessed", "id", postgresql_where=text("processed_at IS NULL")),
        {"postgresql_partition_by": "RANGE (id)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    provider: Mapped[str] = mapped_column(Text)
    event_id: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)  # captured, failed, expired, refunded, other
    ref: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[int | None]
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    processed_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)


class GatewayEventKey(Base):
    """One row per event a provider sent, whatever the number of copies delivered: the
    (provider, event id) that `gateway_events` cannot keep unique, and the row that holds it.
    """

    __tablename__ = "gateway_event_keys"
    __table_args__ = (
        ForeignKeyConstraint(["gateway_event_id"], ["gateway_events.id"]),
    )

    provider: Mapped[str] = mapped_column(Text, primary_key=True)
    event_id: Mapped[str] = mapped_column(Text, primary_key=True)
    gateway_event_id: Mapped[uuid.UUID]


class SandboxPayment(Base):
    """The sandbox gateway's own books, as a provider keeps them: nothing here is real money."""

    __tablename__ = "payment_sandbox_orders"

    ref: Mapped[str] = mapped_column(Text, primary_key=True)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(Text)
    # pending, paid, failed
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'::text"))
    refunded: Mapped[int] = mapped_column(server_default=text("0"))
    refunds: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class PaymentMethod(Timestamped, Base):
    """A way to pay that checkout offers (UserState's payment types): cards, bank transfer,
    UPI... An admin turns one off, and checkout stops offering it."""

    __tablename__ = "payment_methods"
    __table_args__ = (
        CheckConstraint("code ~ '^[A-Z][A-Z0-9_]{1,31}$'", name="code"),
        CheckConstraint("position >= 0", name="position"),
    )

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(server_default=text("true"))
    position: Mapped[int] = mapped_column(Integer, server_default=text("0"))
