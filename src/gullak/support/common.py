"""What every part of support shares: finding a ticket (another user's is as unknown as a
missing one), the SLA's due times and breach flags, adding to the thread, and the shapes
users and agents see."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.security import Subject
from gullak.settings import Settings
from gullak.support import errors
from gullak.support.models import Attachment, Message, Ticket
from gullak.support.schemas import (
    AgentAttachmentOut,
    AgentMessageOut,
    AgentTicketOut,
    AgentTicketSummary,
    AttachmentOut,
    MessageOut,
    MyTicketOut,
    SlaOut,
    TicketSummary,
)


async def load(session: AsyncSession, ticket_id: uuid.UUID, *, user_id: uuid.UUID | None = None,
               lock: bool = False) -> Ticket:
    """The ticket (of `user_id`, when given), its row locked for the rest of the unit when
    `lock`: every change to a ticket queues there."""
    row = await session.get(Ticket, ticket_id, with_for_update=lock, populate_existing=True)
    if row is None or (user_id is not None and row.user_id != user_id):
        raise errors.TicketNotFound()
    return row


# -- SLA --------------------------------------------------------------------------------------

def due_times(settings: Settings, priority: str,
              start: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """When the first answer and the resolution are due for a ticket of `priority` opened at
    `start`. A priority the settings leave out gets the normal one's times."""
    first = settings.support_first_response_minutes
    resolve = settings.support_resolution_minutes
    return (start + dt.timedelta(minutes=first.get(priority, first.get("normal", 1_440))),
            start + dt.timedelta(minutes=resolve.get(priority, resolve.get("normal", 4_320))))


def first_response_late(t: Ticket, now: dt.datetime) -> bool:
    """Nobody has answered yet, the ticket is still waiting, and the time is past."""
    return t.first_responded_at is None and t.resolved_at is None and now > t.first_response_due_at


def resolution_late(t: Ticket, now: dt.datetime) -> bool:
    return t.resolved_at is None and now > t.resolution_due_at


def sla(t: Ticket, now: dt.datetime | None = None) -> SlaOut:
    """The stored flags, or what the clock says now: a read never waits for the periodic
    check to see a breach."""
    now = now or clock.now()
    return SlaOut(first_response_due_at=t.first_response_due_at,
                  resolution_due_at=t.resolution_due_at,
                  first_responded_at=t.first_responded_at, resolved_at=t.resolved_at,
                  first_response_breached=t.first_response_breached
                  or first_response_late(t, now),
                  resolution_breached=t.resolution_breached or resolution_late(t, now))


def breached_now(now: dt.datetime) -> ColumnElement[bool]:
    """`sla(...)`'s verdict in SQL: either flag set, or either timer run out."""
    return or_(Ticket.first_response_breached, Ticket.resolution_breached,
               and_(Ticket.first_responded_at.is_(None), Ticket.resolved_at.is_(None),
                    Ticket.first_response_due_at < now),
               and_(Ticket.resolved_at.is_(None), Ticket.resolution_due_at < now))


def mark_resolved(t: Ticket, now: dt.datetime) -> None:
    if t.resolved_at is None:
        t.first_response_breached = t.first_response_breached or first_response_late(t, now)
        t.resolution_breached = t.resolution_breached or resolution_late(t, now)
        t.resolved_at = now


# -- the thread -------------------------------------------------------------------------------

def author_of(subject: Subject | None) -> tuple[str, uuid.UUID | None]:
    if subject is None:
        return "system", None
    return ("user", subject.id) if subject.kind == "user" else ("admin", subject.id)


async def add_message(session: AsyncSession, t: Ticket, author: Subject | None, body: str, *,
                      internal: bool = False,
                      canned_reply_id: uuid.UUID | None = None) -> Message:
    kind, author_id = author_of(author)
    now = clock.now()
    message = Message(ticket_id=t.id, user_id=t.user_id, author_kind=kind, author_id=author_id,
                      body=body, internal=internal, canned_reply_id=canned_reply_id,
                      created_at=now)
    session.add(message)
    if not internal:
        t.last_message_at = now
    t.updated_at = now
    await session.flush()
    return message


async def _thread(session: AsyncSession, ticket_id: uuid.UUID,
                  public_only: bool) -> tuple[list[Message], list[Attachment]]:
    messages = select(Message).where(Message.ticket_id == ticket_id)
    files = select(Attachment).where(Attachment.ticket_id == ticket_id)
    if public_only:
        messages = messages.where(Message.internal.is_(False))
        files = files.where(Attachment.internal.is_(False))
    return (list(await session.scalars(messages.order_by(Message.id))),
            list(await session.scalars(files.order_by(Attachment.id))))


# -- shapes -----------------------------------------------------------------------------------

def reopen_until(settings: Settings, t: Ticket) -> dt.datetime | None:
    ended = t.resolved_at or t.closed_at
    if t.status not in ("resolved", "closed") or ended is None:
        return None
    return ended + dt.timedelta(days=settings.support_reopen_days)


def summary(t: Ticket) -> TicketSummary:
    return TicketSummary.model_validate(t)


async def my_ticket_out(session: AsyncSession, settings: Settings, t: Ticket) -> MyTicketOut:
    messages, files = await _thread(session, t.id, public_only=True)
    return MyTicketOut.model_validate({
        **summary(t).model_dump(), "rating_comment": t.rating_comment,
        "reopen_count": t.reopen_count, "can_reopen_until": reopen_until(settings, t),
        "messages": [MessageOut.model_validate(m) for m in messages],
        "attachments": [AttachmentOut.model_validate(a) for a in files]})


def agent_summary(t: Ticket, now: dt.datetime | None = None) -> AgentTicketSummary:
    return AgentTicketSummary.model_validate({
        **summary(t).model_dump(), "user_id": t.user_id, "assignee_id": t.assignee_id,
        "department": t.department, "sla": sla(t, now)})


async def agent_ticket_out(session: AsyncSession, t: Ticket) -> AgentTicketOut:
    messages, files = await _thread(session, t.id, public_only=False)
    return AgentTicketOut.model_validate({
        **agent_summary(t).model_dump(), "rating_comment": t.rating_comment,
        "rated_at": t.rated_at, "reopen_count": t.reopen_count, "closed_at": t.closed_at,
        "messages": [AgentMessageOut.model_validate(m) for m in messages],
        "attachments": [AgentAttachmentOut.model_validate(a) for a in files]})

