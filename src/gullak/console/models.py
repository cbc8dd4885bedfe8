"""Console sessions: server-side, one row per signed-in browser, found by the digest of the
cookie's token. Each rides on an identity session, so revoking that signs the browser out."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, one_of
from gullak.kit.ids import uuid7

PORTALS = ("console", "merchant")


class ConsoleSession(Base):
    __tablename__ = "console_sessions"
    __table_args__ = (
        CheckConstraint(one_of("portal", PORTALS), name="portal"),
        Index("ix_console_sessions_subject", "subject_kind", "subject_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    portal: Mapped[str] = mapped_column(Text)
    subject_kind: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[uuid.UUID]
    family_id: Mapped[uuid.UUID]  # the identity session it rides on
    csrf_token: Mapped[str] = mapped_column(Text)
    flash: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
