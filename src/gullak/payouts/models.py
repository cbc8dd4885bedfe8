"""Payouts tables: the bank channels a provider pays to, payout methods (bank accounts, UPI
ids, bank channel accounts) with their verification, withdrawals with their decisions, one
disbursement per attempt at a provider, the providers' raw callbacks, and the sandbox
provider's own books.

`owner_id` is a user's or a merchant's id (identity's and merchants' rows: plain columns,
like every domain's reference to another's). Account numbers and UPI ids are sealed; only
their last characters are kept in clear, and a keyed hash (`fingerprint`) finds the same
destination added twice without opening anything.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped, one_of
from gullak.kit.ids import uuid7

OWNER_TYPES = ("user", "merchant")
METHOD_KINDS = ("bank", "upi", "bank_channel", "mobile")
METHOD_STATUSES = ("pending", "verified", "failed", "removed")
CHANNEL_TYPES = ("bank", "ewallet")
WITHDRAWAL_PURPOSES = ("withdrawal", "settlement")
# payout: money to a payout method; gift_voucher: a gift card code issued to the owner
WITHDRAWAL_KINDS = ("payout", "gift_voucher")
WITHDRAWAL_STATUSES = ("review", "approved", "processing", "paid", "failed", "rejected",
                       "cancelled")
OPEN_WITHDRAWALS = ("review", "approved", "processing")
DECISIONS = ("approve", "reject")
DISBURSEMENT_STATUSES = ("created", "processing", "succeeded", "failed", "reversed")
LIVE_DISBURSEMENTS = ("created", "processing", "succeeded")


class BankChannel(Timestamped, Base):
    """A bank or e-wallet a provider pays to (UserState's bank_channel): its code at the
    provider, the names people know it by, and its currency."""

    __tablename__ = "bank_channels"
    __table_args__ = (CheckConstraint(one_of("type", CHANNEL_TYPES), name="type"),)

    code: Mapped[str] = mapped_column(Text, primary_key=True)  # e.g. ID_BCA
    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text)
    aliases: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class PayoutMethod(Timestamped, Base):
    """Where an owner's payouts go. Usable once verified and past `usable_from` (the
    cooling-off after it was added); removed methods stay, as past payouts name them."""

    __tablename__ = "payout_methods"
    __table_args__ = (
        CheckConstraint(one_of("owner_type", OWNER_TYPES), name="owner_type"),
        CheckConstraint(one_of("kind", METHOD_KINDS), name="kind"),
        CheckConstraint(one_of("status", METHOD_STATUSES), name="status"),
        CheckConstraint("(kind = 'upi') = (upi_id IS NOT NULL)"
                        " AND (kind = 'upi') = (account_number IS NULL)"
                        " AND (kind = 'bank') = (ifsc IS NOT NULL)"
                        " AND (kind = 'bank_channel') = (channel_code IS NOT NULL)"
                        " AND (kind = 'mobile') = (operator IS NOT NULL)",
                        name="destination"),
        CheckConstraint("name_score BETWEEN 0 AND 100", name="name_score"),
        Index("ix_payout_methods_owner", "owner_type", "owner_id"),
        Index("uq_payout_methods_destination", "owner_type", "owner_id", "fingerprint",
              unique=True, postgresql_where=text("status <> 'removed'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    owner_type: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text)
    holder_name: Mapped[str] = mapped_column(Text)
    account_number: Mapped[str | None] = mapped_column(Text)  # sealed
    upi_id: Mapped[str | None] = mapped_column(Text)  # sealed
    last4: Mapped[str] = mapped_column(Text)  # of the account number, or the UPI id's name
    ifsc: Mapped[str | None] = mapped_column(Text)
    channel_code: Mapped[str | None] = mapped_column(ForeignKey("bank_channels.code"))
    operator: Mapped[str | None] = mapped_column(Text)  # a mobile number's, for recharges
    fingerprint: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    provider: Mapped[str | None] = mapped_column(Text)
    verification_ref: Mapped[str | None] = mapped_column(Text)
    registered_name: Mapped[str | None] = mapped_column(Text)
    name_score: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)  # why verification failed
    verified_at: Mapped[dt.datetime | None]
    usable_from: Mapped[dt.datetime | None]
    removed_at: Mapped[dt.datetime | None]


class Withdrawal(Timestamped, Base):
    """Money leaving: a user's withdrawal or a merchant's settlement payout. `amount` is held
    on `source_account_id` from the request until it is paid (captured) or not (released);
    the owner receives `net` = amount - fee - tax. `round` counts the times it was opened
    for review (a bounce after payment opens it again, with a new hold)."""

    __tablename__ = "withdrawals"
    __table_args__ = (
        CheckConstraint(one_of("owner_type", OWNER_TYPES), name="owner_type"),
        CheckConstraint(one_of("purpose", WITHDRAWAL_PURPOSES), name="purpose"),
        CheckConstraint(one_of("kind", WITHDRAWAL_KINDS), name="kind"),
        CheckConstraint("(kind = 'payout') = (method_id IS NOT NULL)", name="method"),
        CheckConstraint(one_of("status", WITHDRAWAL_STATUSES), name="status"),
        CheckConstraint("amount > 0 AND fee >= 0 AND tax >= 0 AND net > 0"
                        " AND net = amount - fee - tax", name="amounts"),
        CheckConstraint("approvals_needed BETWEEN 1 AND 2 AND round >= 1", name="review"),
        UniqueConstraint("code"),
        UniqueConstraint("owner_type", "owner_id", "idempotency_key"),
        Index("ix_withdrawals_owner", "owner_type", "owner_id", "id"),
        Index("ix_withdrawals_open", "status", "id",
              postgresql_where=text("status IN ('review', 'approved', 'processing')")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    code: Mapped[str] = mapped_column(Text)
    owner_type: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID]
    purpose: Mapped[str] = mapped_column(Text, server_default=text("'withdrawal'"))
    kind: Mapped[str] = mapped_column(Text, server_default=text("'payout'"))
    source_account_id: Mapped[uuid.UUID]
    asset_code: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    net: Mapped[int] = mapped_column(BigInteger)
    method_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payout_methods.id"))
    hold_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(Text, server_default=text("'review'"))
    approvals_needed: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    round: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    auto_approved: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_by: Mapped[uuid.UUID]
    created_by_kind: Mapped[str] = mapped_column(Text)
    edited_by: Mapped[uuid.UUID | None]
    reason: Mapped[str | None] = mapped_column(Text)  # the last refusal or failure, shown
    reference_type: Mapped[str | None] = mapped_column(Text)
    reference_id: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(Text)
    request_hash: Mapped[str] = mapped_column(Text)
    paid_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]


class WithdrawalDecision(Base):
    """One reviewer's approval or rejection of one round of review, with the reason."""

    __tablename__ = "withdrawal_decisions"
    __table_args__ = (
        CheckConstraint(one_of("decision", DECISIONS), name="decision"),
        UniqueConstraint("withdrawal_id", "round", "admin_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    withdrawal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("withdrawals.id"))
    round: Mapped[int] = mapped_column(Integer)
    admin_id: Mapped[uuid.UUID]
    decision: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Disbursement(Timestamped, Base):
    """One attempt to pay a withdrawal at a provider. At most one attempt of a withdrawal is
    live (created, processing or succeeded) at a time: the database refuses a second, so two
    approvals racing cannot pay twice."""

    __tablename__ = "disbursements"
    __table_args__ = (
        CheckConstraint(one_of("status", DISBURSEMENT_STATUSES), name="status"),
        CheckConstraint("amount > 0 AND attempt >= 1", name="amounts"),
        UniqueConstraint("withdrawal_id", "attempt"),
        UniqueConstraint("key"),
        UniqueConstraint("provider", "provider_ref"),
        Index("uq_disbursements_live", "withdrawal_id", unique=True,
              postgresql_where=text("status IN ('created', 'processing', 'succeeded')")),
        Index("ix_disbursements_waiting", "updated_at",
              postgresql_where=text("status IN ('created', 'processing')")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    withdrawal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("withdrawals.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'created'"))
    failure: Mapped[str | None] = mapped_column(Text)
    settled_at: Mapped[dt.datetime | None]  # when it succeeded or failed
    reversed_at: Mapped[dt.datetime | None]  # when a success came back


class PayoutEvent(Base):
    """A provider's callback (or a poll's answer), stored raw once per provider event id and
    processed once: the processing mark is the only thing ever written after."""

    __tablename__ = "payout_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    provider: Mapped[str] = mapped_column(Text)
    event_id: Mapped[str] = mapped_column(Text)
    ref: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(Text)
    failure: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    processed_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)


class SandboxPayout(Timestamped, Base):
    """The sandbox provider's side: what it was asked to pay, and what became of it."""

    __tablename__ = "payout_sandbox"
    __table_args__ = (UniqueConstraint("key"),)

    ref: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Text)
    destination: Mapped[str] = mapped_column(Text)  # masked
    status: Mapped[str] = mapped_column(Text)
    failure: Mapped[str | None] = mapped_column(Text)
    day: Mapped[dt.date] = mapped_column(Date)  # taken: the statement it is on


# -- merchant settlements ---------------------------------------------------------------------

SETTLEMENT_STATUSES = ("nothing_to_pay", "unpaid", "paying", "paid", "returned")
SETTLEMENT_LINE_KINDS = ("order", "commission", "refund", "commission_refund", "reward",
                         "gift_card", "adjustment", "carry", "payout_returned")


class Settlement(Timestamped, Base):
    """One merchant's settlement of one period (UTC dates, both included): `net` is the sum
    of its lines, `payable` what is paid out (never above the merchant's available balance),
    `carried_forward` = net - payable, the first line of the merchant's next settlement.
    `scan_from`: every entry of the merchant's account before it was settled, or waits on an
    open order, when this ran; the next run reads the account from there."""

    __tablename__ = "settlements"
    __table_args__ = (
        CheckConstraint(one_of("status", SETTLEMENT_STATUSES), name="status"),
        CheckConstraint("period_end >= period_start AND period_end - period_start <= 30",
                        name="period"),
        CheckConstraint("payable >= 0 AND payable <= GREATEST(net, 0)"
                        " AND carried_forward = net - payable AND line_count >= 0",
                        name="amounts"),
        CheckConstraint("(status = 'nothing_to_pay') = (payable = 0)"
                        " AND (status IN ('paying', 'paid', 'returned'))"
                        " = (withdrawal_id IS NOT NULL)", name="payout"),
        UniqueConstraint("code"),
        UniqueConstraint("merchant_id", "period_start", "period_end"),
        Index("ix_settlements_merchant", "merchant_id", "id"),
        Index("ix_settlements_status", "status", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    code: Mapped[str] = mapped_column(Text)
    merchant_id: Mapped[uuid.UUID]
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    net: Mapped[int] = mapped_column(BigInteger)
    payable: Mapped[int] = mapped_column(BigInteger)
    carried_forward: Mapped[int] = mapped_column(BigInteger)
    line_count: Mapped[int] = mapped_column(Integer)
    withdrawal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("withdrawals.id"))
    scan_from: Mapped[dt.datetime]
    created_by: Mapped[uuid.UUID]
    created_by_kind: Mapped[str] = mapped_column(Text)


class SettlementLine(Base):
    """One line of a statement. `source` names what it settles: a ledger transfer on the
    merchant's account (`transfer:<id>`: an order's payment, its commission, a refund...), or
    an earlier settlement's carry (`carry:<id>`) or returned payout (`returned:<id>`). Unique
    per merchant, so nothing is ever settled twice."""

    __tablename__ = "settlement_lines"
    __table_args__ = (
        CheckConstraint(one_of("kind", SETTLEMENT_LINE_KINDS), name="kind"),
        CheckConstraint("amount <> 0", name="amount"),
        UniqueConstraint("merchant_id", "source"),
        Index("ix_settlement_lines_settlement", "settlement_id", "due_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    settlement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("settlements.id"))
    merchant_id: Mapped[uuid.UUID]
    source: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(Text)
    transfer_id: Mapped[uuid.UUID | None]
    order_id: Mapped[uuid.UUID | None]
    order_number: Mapped[str | None] = mapped_column(Text)
    reference_type: Mapped[str | None] = mapped_column(Text)
    reference_id: Mapped[str | None] = mapped_column(Text)
    rate_bps: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[dt.datetime]
    due_at: Mapped[dt.datetime]
    carried: Mapped[bool] = mapped_column(Boolean)
