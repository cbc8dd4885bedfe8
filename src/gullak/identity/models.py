"""Identity tables."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped
from gullak.kit.ids import uuid7

EMPTY_JSON = text("'{}'::jsonb")
LIVE = text("deleted_at IS NULL")


class User(Timestamped, Base):
    __tablename__ = "users"
    __table_args__ = (
        # A deleted user's phone, email and username may be taken again; money records stay.
        Index("uq_users_phone", "phone", unique=True, postgresql_where=LIVE),
        Index("uq_users_email", func.lower(text("email")), unique=True, postgresql_where=LIVE),
        Index("uq_users_username", func.lower(text("username")), unique=True,
              postgresql_where=LIVE),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    phone: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    gender: Mapped[str | None] = mapped_column(Text)
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    avatar_url: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(Text, server_default=text("'en'::text"))
    preferences: Mapped[dict[str, Any]] = mapped_column(server_default=EMPTY_JSON)
    referral_code: Mapped[str] = mapped_column(Text, unique=True)
    referred_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'::text"))
    status_reason: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str | None] = mapped_column(Text)
    totp_secret: Mapped[str | None] = mapped_column(Text)  # sealed with the encryption key
    totp_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # of the last code used
    last_login_at: Mapped[dt.datetime | None]
    last_login_ip: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[dt.datetime | None]


class OtpCode(Base):
    __tablename__ = "otp_codes"
    __table_args__ = (Index("ix_otp_codes_phone", "phone", "purpose", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    phone: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    expires_at: Mapped[dt.datetime]
    consumed_at: Mapped[dt.datetime | None]
    ip: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class StepUpUse(Base):
    """A step-up confirmation spent: each is good for one sensitive change. Kept until the
    token expires (a user's expired ones are dropped when the user spends another)."""

    __tablename__ = "step_up_uses"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    token_id: Mapped[str] = mapped_column(Text, primary_key=True)
    expires_at: Mapped[dt.datetime]


class SmsMessage(Base):
    """Text messages to send; written in the same transaction as their cause."""

    __tablename__ = "sms_outbox"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    phone: Mapped[str] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)  # cleared once a real provider took it
    provider: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'queued'::text"))
    provider_id: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[dt.datetime | None]


class AuthSession(Base):
    """One refresh token of a session family; rotating adds a row, reuse revokes the family."""

    __tablename__ = "auth_sessions"
    __table_args__ = (
        Index("ix_auth_sessions_family", "family_id"),
        Index("ix_auth_sessions_subject", "subject_type", "subject_id",
              postgresql_where=text("status = 'active'::text")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    family_id: Mapped[uuid.UUID]
    subject_type: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[uuid.UUID]
    refresh_hash: Mapped[str] = mapped_column(Text, unique=True)
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'::text"))
    device_id: Mapped[str | None] = mapped_column(Text)
    device_type: Mapped[str | None] = mapped_column(Text)
    device_name: Mapped[str | None] = mapped_column(Text)
    app_version: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(Text)


class Device(Timestamped, Base):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("user_id", "device_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    device_id: Mapped[str] = mapped_column(Text)
    platform: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    app_version: Mapped[str | None] = mapped_column(Text)
    push_token: Mapped[str | None] = mapped_column(Text)
    push_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class SocialAccount(Base):
    __tablename__ = "social_accounts"
    __table_args__ = (UniqueConstraint("provider", "provider_subject"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    provider: Mapped[str] = mapped_column(Text)
    provider_subject: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Address(Timestamped, Base):
    __tablename__ = "addresses"
    __table_args__ = (
        Index("uq_addresses_default", "user_id", unique=True,
              postgresql_where=text("is_default")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    label: Mapped[str | None] = mapped_column(Text)
    line1: Mapped[str] = mapped_column(Text)
    line2: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text)
    postal_code: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str] = mapped_column(Text, server_default=text("'IN'::text"))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    is_default: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    details: Mapped[dict[str, Any]] = mapped_column(server_default=EMPTY_JSON)


class KycRecord(Timestamped, Base):
    """Sealed numbers (document, bank account, PAN) are shown masked, never in full."""

    __tablename__ = "kyc_records"
    # The console's review queue.
    __table_args__ = (Index("ix_kyc_records_pending", "id",
                            postgresql_where=text("status = 'pending'::text")),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    document_type: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)  # as on the document
    document_number: Mapped[str] = mapped_column(Text)
    document_last4: Mapped[str] = mapped_column(Text)
    pan: Mapped[str | None] = mapped_column(Text)
    pan_last4: Mapped[str | None] = mapped_column(Text)
    bank_account: Mapped[str | None] = mapped_column(Text)
    bank_account_last4: Mapped[str | None] = mapped_column(Text)
    ifsc: Mapped[str | None] = mapped_column(Text)
    upi_id: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'::text"))
    reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[uuid.UUID | None]
    reviewed_at: Mapped[dt.datetime | None]
