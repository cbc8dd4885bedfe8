"""Support tables: users' tickets with their SLA timers and rating, the messages of each
ticket (agents' internal notes among them, flagged), attachments kept as metadata beside the
bytes in storage, and the back office's canned replies.

Tickets, messages and attachments are the user's: each carries `user_id`, and the children
reference their ticket by (id, user_id). `assignee_id` (an admin) and `subject_id` (an order,
payment, withdrawal or redemption) are plain columns, like every domain's reference to
another's rows.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Sequence,
    SmallInteger,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped, one_of
from gullak.kit.ids import uuid7

STATUSES = ("open", "pending_agent", "pending_user", "resolved", "closed")
ACTIVE = ("open", "pending_agent", "pending_user")
PRIORITIES = ("low", "normal", "high", "urgent")
CATEGORIES = ("order", "payment", "refund", "cashback", "withdrawal", "rewards", "account",
              "technical", "other")
SUBJECT_TYPES = ("order", "payment", "withdrawal", "redemption", "general")
AUTHOR_KINDS = ("user", "admin", "system")
# Human ticket numbers, TKT-YYYYMM-000123: one sequence, never reused.
NUMBERS = Sequence("support_ticket_numbers", metadata=Base.metadata)


class Ticket(Timestamped, Base):
    """A user's request for help. The SLA's due times come from the priority when the ticket
    is opened (or re-prioritised); the breach flags are set by the periodic check or at the
    moment of the late answer, and a read also computes them from the clock."""

    __tablename__ = "support_tickets"
    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(one_of("priority", PRIORITIES), name="priority"),
        CheckConstraint(one_of("category", CATEGORIES), name="category"),
        CheckConstraint(one_of("subject_type", SUBJECT_TYPES), name="subject_type"),
        CheckConstraint("(subject_type = 'general') = (subject_id IS NULL)", name="subject"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating"),
        UniqueConstraint("number"),
        UniqueConstraint("id", "user_id"),  # the target of the children's foreign keys
        Index("ix_support_tickets_user", "user_id", "id"),
        Index("ix_support_tickets_active", "status", "id",
              postgresql_where=text("status IN ('open', 'pending_agent', 'pending_user')")),
        Index("ix_support_tickets_assignee", "assignee_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    number: Mapped[str] = mapped_column(Text)
    user_id: Mapped[uuid.UUID]
    title: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(Text, server_default=text("'normal'"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'open'"))
    subject_type: Mapped[str] = mapped_column(Text, server_default=text("'general'"))
    subject_id: Mapped[uuid.UUID | None]
    assignee_id: Mapped[uuid.UUID | None]
    department: Mapped[str | None] = mapped_column(Text)
    first_response_due_at: Mapped[dt.datetime]
    resolution_due_at: Mapped[dt.datetime]
    first_responded_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    first_response_breached: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    resolution_breached: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    reopen_count: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[dt.datetime | None]
    last_message_at: Mapped[dt.datetime]


class Message(Base):
    """One post in a ticket's thread. Internal notes are agents' only: never shown to the
    user, never counted as a response."""

    __tablename__ = "support_messages"
    __table_args__ = (
        CheckConstraint(one_of("author_kind", AUTHOR_KINDS), name="author_kind"),
        CheckConstraint("NOT internal OR author_kind = 'admin'", name="internal"),
        ForeignKeyConstraint(["ticket_id", "user_id"],
                             ["support_tickets.id", "support_tickets.user_id"]),
        Index("ix_support_messages_ticket", "ticket_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    ticket_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]  # the ticket's owner, whoever wrote
    author_kind: Mapped[str] = mapped_column(Text)
    author_id: Mapped[uuid.UUID | None]
    body: Mapped[str] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    canned_reply_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("support_canned_replies.id"))
    created_at: Mapped[dt.datetime]


class Attachment(Base):
    """A file on a ticket: its bytes are in the attachment storage under `storage_key`, and
    `sha256` is checked when they are read back."""

    __tablename__ = "support_attachments"
    __table_args__ = (
        CheckConstraint(one_of("author_kind", AUTHOR_KINDS), name="author_kind"),
        CheckConstraint("size > 0", name="size"),
        CheckConstraint("NOT internal OR author_kind = 'admin'", name="internal"),
        ForeignKeyConstraint(["ticket_id", "user_id"],
                             ["support_tickets.id", "support_tickets.user_id"]),
        Index("ix_support_attachments_ticket", "ticket_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    ticket_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    author_kind: Mapped[str] = mapped_column(Text)
    author_id: Mapped[uuid.UUID | None]
    filename: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(Text)
    storage_key: Mapped[str] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[dt.datetime]


class CannedReply(Timestamped, Base):
    """A reply agents reuse; `{{name}}` variables are filled from the ticket when sent."""

    __tablename__ = "support_canned_replies"
    __table_args__ = (
        CheckConstraint("category IS NULL OR " + one_of("category", CATEGORIES),
                        name="category"),
        UniqueConstraint("code"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    code: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
