"""Ledger tables. Their triggers and functions live in migrations/sql/ (0003, 0004, 0013,
0014, 0015); transfers are partitioned by month of their id (0016, gullak.db.partitions)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base

EMPTY_JSON = text("'{}'::jsonb")


class Asset(Base):
    __tablename__ = "ledger_assets"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    scale: Mapped[int] = mapped_column(SmallInteger)
    expires: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    lifetime_days: Mapped[int | None] = mapped_column(Integer)
    merchant_id: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Account(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("owner_type", "owner_id", "asset_code", "purpose",
                         name="uq_ledger_accounts_owner", postgresql_nulls_not_distinct=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    asset_code: Mapped[str] = mapped_column(Text, ForeignKey("ledger_assets.code"))
    owner_type: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID | None]
    purpose: Mapped[str] = mapped_column(Text, server_default=text("'main'::text"))
    allow_negative: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    shards: Mapped[int] = mapped_column(SmallInteger, server_default=text("1"))
    lots: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    frozen_reason: Mapped[str | None] = mapped_column(Text)
    frozen_at: Mapped[dt.datetime | None]
    daily_limit: Mapped[int | None]
    monthly_limit: Mapped[int | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Balance(Base):
    __tablename__ = "ledger_balances"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"),
                                                  primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    balance: Mapped[int] = mapped_column(server_default=text("0"))
    held: Mapped[int] = mapped_column(server_default=text("0"))
    asset_code: Mapped[str] = mapped_column(Text)
    shards: Mapped[int] = mapped_column(SmallInteger)
    allow_negative: Mapped[bool] = mapped_column(Boolean)
    lots: Mapped[bool] = mapped_column(Boolean)
    limited: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    frozen: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # The time of the last transfer on this row: the next one is not earlier (0013).
    last_posted_at: Mapped[dt.datetime | None]


class Transfer(Base):
    __tablename__ = "ledger_transfers"
    __table_args__ = (
        # Not unique: a unique index must hold the partition key. One sequence numbers every
        # entry, and `gullak ledger verify` checks that no number repeats. BRIN: it finds an
        # entry by number without offering seq order, which the planner would take over the
        # (account, seq) indexes for an account's history (0016).
        Index("ix_ledger_transfers_seq", "seq", postgresql_using="brin"),
        Index("ix_ledger_transfers_debit", "debit_account_id", "seq"),
        Index("ix_ledger_transfers_credit", "credit_account_id", "seq"),
        Index("ix_ledger_transfers_reference", "reference_type", "reference_id",
              postgresql_where=text("reference_id IS NOT NULL")),
        Index("ix_ledger_transfers_reverses", "reverses_id",
              postgresql_where=text("reverses_id IS NOT NULL")),
        {"postgresql_partition_by": "RANGE (id)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[uuid.UUID]
    asset_code: Mapped[str] = mapped_column(Text)
    debit_account_id: Mapped[uuid.UUID]
    debit_shard: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    credit_account_id: Mapped[uuid.UUID]
    credit_shard: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    amount: Mapped[int]
    kind: Mapped[str] = mapped_column(Text)
    reference_type: Mapped[str | None] = mapped_column(Text)
    reference_id: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", server_default=EMPTY_JSON)
    debit_balance_after: Mapped[int]
    credit_balance_after: Mapped[int]
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ledger_transfers.id"))
    hold_id: Mapped[uuid.UUID | None]
    lot_id: Mapped[uuid.UUID | None]
    lot_expires_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    # Who asked for it through the API (a service client, an admin), where someone did (0014).
    actor_type: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[uuid.UUID | None]


class Hold(Base):
    __tablename__ = "ledger_holds"
    __table_args__ = (
        Index("ix_ledger_holds_account", "account_id", "created_at"),
        Index("ix_ledger_holds_pending_expiry", "expires_at",
              postgresql_where=text("status = 'pending'::text")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    asset_code: Mapped[str] = mapped_column(Text)
    amount: Mapped[int]
    captured: Mapped[int] = mapped_column(server_default=text("0"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'::text"))
    expires_at: Mapped[dt.datetime]
    reference_type: Mapped[str | None] = mapped_column(Text)
    reference_id: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", server_default=EMPTY_JSON)
    created_at: Mapped[dt.datetime]
    resolved_at: Mapped[dt.datetime | None]


class Lot(Base):
    __tablename__ = "ledger_lots"
    __table_args__ = (
        Index("ix_ledger_lots_open", "account_id", "expires_at", "created_at",
              postgresql_where=text("remaining > 0")),
        Index("ix_ledger_lots_expiry", "expires_at", postgresql_where=text("remaining > 0")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    transfer_id: Mapped[uuid.UUID]
    amount: Mapped[int]
    remaining: Mapped[int]
    reserved: Mapped[int] = mapped_column(server_default=text("0"))
    expires_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime]


class HoldLot(Base):
    __tablename__ = "ledger_hold_lots"

    hold_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_holds.id"), primary_key=True)
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_lots.id"), primary_key=True)
    amount: Mapped[int]


class Spend(Base):
    __tablename__ = "ledger_spend"

    account_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(CHAR(1), primary_key=True)
    period_start: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    spent: Mapped[int]


class Idempotency(Base):
    __tablename__ = "ledger_idempotency"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    request_hash: Mapped[str] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    # A single transfer's key refers to it instead of holding a copy as `result` (0014).
    transfer_id: Mapped[uuid.UUID | None]


class Check(Base):
    """One run of the ledger's checks (`gullak ledger verify`) by its job: what the console
    shows as the ledger's last verification (0040)."""

    __tablename__ = "ledger_checks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    transfers: Mapped[int]
    accounts: Mapped[int]
    # Per check: {"name", "failures", "sample"}, in the order the checks run.
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    requested_by_kind: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[uuid.UUID | None]
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime]
