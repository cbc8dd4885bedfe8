"""Support shapes. What a user sees of a ticket (`MyTicketOut`) never holds internal notes,
internal attachments, the assignee or the department; agents' shapes hold everything."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from gullak.kit.schemas import MULTI_LINE, ONE_LINE, NAME_CHARS, In, Out

Status = Literal["open", "pending_agent", "pending_user", "resolved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
Category = Literal["order", "payment", "refund", "cashback", "withdrawal", "rewards", "account",
                   "technical", "other"]
SubjectType = Literal["order", "payment", "withdrawal", "redemption", "general"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                  ONE_LINE]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000),
                 MULTI_LINE]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000), MULTI_LINE]
Department = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=100), NAME_CHARS]
Filename = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                     NAME_CHARS]
ContentType = Annotated[str, StringConstraints(
    strip_whitespace=True, to_lower=True, max_length=100,
    pattern=r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")]
CannedCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,63}$")]
# base64 of the largest attachment the body guard lets through; the size setting is checked
# on the decoded bytes.
Base64 = Annotated[str, StringConstraints(max_length=150 * 1024 * 1024,
                                          pattern=r"^[A-Za-z0-9+/=\s]*$")]


# -- users ------------------------------------------------------------------------------------

class TicketIn(In):
    title: Title
    body: Body
    category: Category = "other"
    subject_type: SubjectType = "general"
    subject_id: uuid.UUID | None = None


class MessageIn(In):
    body: Body


class RatingIn(In):
    rating: int = Field(strict=True, ge=1, le=5)
    comment: Comment | None = None


class ReopenIn(In):
    reason: Body | None = None


class AttachmentIn(In):
    filename: Filename
    content_type: ContentType
    content_base64: Base64


class MessageOut(Out):
    id: uuid.UUID
    author_kind: str
    author_id: uuid.UUID | None
    body: str
    created_at: dt.datetime


class AttachmentOut(Out):
    id: uuid.UUID
    ticket_id: uuid.UUID
    author_kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: dt.datetime


class SlaOut(Out):
    first_response_due_at: dt.datetime
    resolution_due_at: dt.datetime
    first_responded_at: dt.datetime | None
    resolved_at: dt.datetime | None
    first_response_breached: bool
    resolution_breached: bool


class TicketSummary(Out):
    id: uuid.UUID
    number: str
    title: str
    category: str
    priority: str
    status: str
    subject_type: str
    subject_id: uuid.UUID | None
    rating: int | None
    last_message_at: dt.datetime
    created_at: dt.datetime


class MyTicketOut(TicketSummary):
    rating_comment: str | None
    reopen_count: int
    can_reopen_until: dt.datetime | None
    messages: list[MessageOut]
    attachments: list[AttachmentOut]


class MyTicketPage(Out):
    items: list[TicketSummary]
    next_cursor: str | None = None


# -- agents -----------------------------------------------------------------------------------

class AgentMessageIn(In):
    """A reply, or an internal note. With a canned reply, its text (variables filled from the
    ticket) is sent, and `body`, if given, follows it."""

    body: Body | None = None
    internal: bool = False
    canned_reply_id: uuid.UUID | None = None


class AgentAttachmentIn(AttachmentIn):
    internal: bool = False


class StatusIn(In):
    status: Status
    note: Body | None = None  # kept as an internal note


class AssignIn(In):
    """Either or both; `null` clears. Fields not sent are left as they are."""

    assignee_id: uuid.UUID | None = None
    department: Department | None = None


class TicketPatch(In):
    priority: Priority | None = None
    category: Category | None = None


class AgentMessageOut(MessageOut):
    internal: bool
    canned_reply_id: uuid.UUID | None


class AgentAttachmentOut(AttachmentOut):
    internal: bool
    author_id: uuid.UUID | None


class AgentTicketSummary(TicketSummary):
    user_id: uuid.UUID
    assignee_id: uuid.UUID | None
    department: str | None
    sla: SlaOut


class AgentTicketOut(AgentTicketSummary):
    rating_comment: str | None
    rated_at: dt.datetime | None
    reopen_count: int
    closed_at: dt.datetime | None
    messages: list[AgentMessageOut]
    attachments: list[AgentAttachmentOut]


class AgentTicketPage(Out):
    items: list[AgentTicketSummary]
    next_cursor: str | None = None


class CannedReplyIn(In):
    code: CannedCode
    title: Title
    body: Body
    category: Category | None = None


class CannedReplyPatch(In):
    title: Title | None = None
    body: Body | None = None
    category: Category | None = None
    active: bool | None = None


class CannedReplyOut(Out):
    id: uuid.UUID
    code: str
    title: str
    body: str
    category: str | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerOut(Out):
    """A ticket's customer as an agent sees them, assembled from the owning domains."""

    user_id: uuid.UUID
    profile: dict[str, Any]
    balances: list[dict[str, Any]]
    recent_orders: list[dict[str, Any]]
    recent_transfers: list[dict[str, Any]]
    withdrawals: list[dict[str, Any]]
    tickets: list[TicketSummary]
