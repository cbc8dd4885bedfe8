"""Gift cards and vouchers tables.

A card's value is never a column here: each card is a ledger account of its own (owner type
`gift_card`), and its balance is the ledger's. Codes and PINs are stored sealed (AES-GCM,
`kit.crypto`) and found by a keyed hash of the code, so a copy of the table gives neither away.
`owner_id`, `merchant_id`, `order_id` and `product_id` belong to other domains: plain columns.
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
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped, one_of
from gullak.kit.ids import uuid7

CARD_STATUSES = ("active", "claimed", "expired", "void")
CARD_SOURCES = ("order", "admin", "partner", "withdrawal")  # withdrawal: payouts' vouchers
VOUCHER_STATUSES = ("active", "paused")



class GiftCardDesign(Timestamped, Base):
    """A catalog product sold as a gift card: each unit bought issues one card."""

    __tablename__ = "gift_card_designs"
    __table_args__ = (
        CheckConstraint("face_value > 0 AND validity_days > 0", name="amounts"),
        UniqueConstraint("product_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    product_id: Mapped[uuid.UUID]
    merchant_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(Text)
    face_value: Mapped[int]  # INR paise on each card
    validity_days: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class GiftCardBatch(Base):
    """One bulk issue by the back office (generated codes, or a partner's own), with its
    per-row report."""

    __tablename__ = "gift_card_batches"
    __table_args__ = (
        CheckConstraint(one_of("source", ("admin", "partner")), name="source"),
        CheckConstraint("issued >= 0 AND refused >= 0", name="counts"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    partner: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None]
    issued: Mapped[int] = mapped_column(Integer)
    refused: Mapped[int] = mapped_column(Integer)
    # Refused rows with their reasons (issued rows are the batch's cards).
    errors: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class GiftCard(Timestamped, Base):
    __tablename__ = "gift_cards"
    __table_args__ = (
        CheckConstraint(one_of("status", CARD_STATUSES), name="status"),
        CheckConstraint(one_of("source", CARD_SOURCES), name="source"),
        CheckConstraint("face_value > 0 AND failed_attempts >= 0", name="amounts"),
        UniqueConstraint("code_hash"),
        UniqueConstraint("account_id"),
        Index("ix_gift_cards_owner", "owner_id", "id",
              postgresql_where=text("owner_id IS NOT NULL")),
        Index("ix_gift_cards_order", "order_id", postgresql_where=text("order_id IS NOT NULL")),
        Index("ix_gift_cards_batch", "batch_id", postgresql_where=text("batch_id IS NOT NULL")),
        Index("ix_gift_cards_expiry", "expires_at",
              postgresql_where=text("status = 'active'::text")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    code_hash: Mapped[str] = mapped_column(Text)  # keyed hash of the normalised code
    code_sealed: Mapped[str] = mapped_column(Text)
    code_hint: Mapped[str] = mapped_column(Text)  # the code masked, as shown
    pin_hash: Mapped[str] = mapped_column(Text)  # keyed hash of card id and PIN
    pin_sealed: Mapped[str] = mapped_column(Text)
    account_id: Mapped[uuid.UUID]  # the card's ledger account, in INR
    asset_code: Mapped[str] = mapped_column(Text, server_default=text("'INR'::text"))
    face_value: Mapped[int]
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'::text"))
    source: Mapped[str] = mapped_column(Text)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("gift_card_batches.id"))
    design_id: Mapped[uuid.UUID | None]
    # Where it may pay: a card sold by a merchant pays only there; NULL, anywhere.
    merchant_id: Mapped[uuid.UUID | None]
    order_id: Mapped[uuid.UUID | None]  # the order that bought it
    owner_id: Mapped[uuid.UUID | None]  # the buyer, or who claimed it
    expires_at: Mapped[dt.datetime]
    failed_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    locked_until: Mapped[dt.datetime | None]
    claimed_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]  # claimed, expired or voided
    closed_reason: Mapped[str | None] = mapped_column(Text)


class Voucher(Timestamped, Base):
    """A code that grants a fixed amount of an asset, once per user (UserState's vouchers)."""

    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint(one_of("status", VOUCHER_STATUSES), name="status"),
        CheckConstraint("amount > 0 AND uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)",
                        name="amounts"),
        CheckConstraint("valid_until > valid_from", name="window"),
        Index("uq_vouchers_code", func.lower(text("code")), unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    asset_code: Mapped[str] = mapped_column(Text)
    amount: Mapped[int]
    max_uses: Mapped[int | None]
    uses: Mapped[int] = mapped_column(server_default=text("0"))
    valid_from: Mapped[dt.datetime]
    valid_until: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'::text"))


class VoucherRedemption(Base):
    __tablename__ = "voucher_redemptions"
    __table_args__ = (
        # Once per user, whatever races: the second insert fails.
        UniqueConstraint("voucher_id", "user_id"),
        Index("ix_voucher_redemptions_user", "user_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    voucher_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vouchers.id"))
    user_id: Mapped[uuid.UUID]
    asset_code: Mapped[str] = mapped_column(Text)
    amount: Mapped[int]
    transfer_id: Mapped[uuid.UUID]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
