"""What users do with their tickets: open one (about one of their orders, payments,
withdrawals or redemptions, or in general), read and list them, write in the thread, rate a
resolved one once, reopen one within the window."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.errors import NotFound
from gullak.kit.ids import human_code
from gullak.kit.security import Subject
from gullak.kit.sql import keyset_page
from gullak.offers import service as offers
from gullak.orders import service as orders
from gullak.payments import service as payments
from gullak.payouts import service as payouts
from gullak.settings import Settings
from gullak.support import errors
from gullak.support.common import add_message, due_times, load, my_ticket_out, summary
from gullak.support.models import ACTIVE, NUMBERS, Ticket
from gullak.support.schemas import MyTicketOut, MyTicketPage, RatingIn, TicketIn


async def check_subject(session: AsyncSession, user_id: uuid.UUID, subject_type: str,
                        subject_id: uuid.UUID | None) -> None:
    """The subject is the user's, as its own domain says: another user's order is as unknown
    as one that does not exist."""
    if (subject_type == "general") != (subject_id is None):
        raise errors.InvalidSubject(field="subject_id")
    if subject_id is None:
        return
    viewer = Subject("user", user_id)
    try:
        if subject_type == "order":
            await orders.get_order(session, subject_id, viewer)
        elif subject_type == "payment":
            await payments.get_user_payment(session, subject_id, user_id)
        elif subject_type == "withdrawal":
            await payouts.get_withdrawal(session, subject_id, owner=("user", user_id))
        else:
            await offers.get_redemption(session, subject_id, viewer)
    except NotFound as exc:
        raise errors.SubjectNotFound(f"No {subject_type} {subject_id} of yours.",
                                     field="subject_id") from exc


async def open_ticket(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                      data: TicketIn) -> MyTicketOut:
    await check_subject(session, user_id, data.subject_type, data.subject_id)
    now = clock.now()
    first_due, resolve_due = due_times(settings, "normal", now)
    ticket = Ticket(number=await human_code(session, "TKT", NUMBERS.name), user_id=user_id,
                    title=data.title, category=data.category, priority="normal", status="open",
                    subject_type=data.subject_type, subject_id=data.subject_id,
                    first_response_due_at=first_due, resolution_due_at=resolve_due,
                    last_message_at=now, created_at=now, updated_at=now)
    session.add(ticket)
    await session.flush()
    await add_message(session, ticket, Subject("user", user_id), data.body)
    return await my_ticket_out(session, settings, ticket)


async def my_tickets(session: AsyncSession, user_id: uuid.UUID, *, status: str | None = None,
                     cursor: str | None = None, limit: int = 20) -> MyTicketPage:
    query = select(Ticket).where(Ticket.user_id == user_id)
    if status is not None:
        query = query.where(Ticket.status == status)
    rows, after = await keyset_page(session, query, Ticket.id, cursor, limit)
    return MyTicketPage(items=[summary(t) for t in rows], next_cursor=after)


async def my_ticket(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                    ticket_id: uuid.UUID) -> MyTicketOut:
    return await my_ticket_out(session, settings, await load(session, ticket_id,
                                                             user_id=user_id))


async def user_message(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                       ticket_id: uuid.UUID, body: str) -> MyTicketOut:
    """The user writes again: a ticket waiting on them now waits on an agent."""
    t = await load(session, ticket_id, user_id=user_id, lock=True)
    if t.status not in ACTIVE:
        raise errors.TicketClosed(status=t.status)
    await add_message(session, t, Subject("user", user_id), body)
    if t.status == "pending_user":
        t.status = "pending_agent"
    return await my_ticket_out(session, settings, t)


async def rate(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
               ticket_id: uuid.UUID, data: RatingIn) -> MyTicketOut:
    t = await load(session, ticket_id, user_id=user_id, lock=True)
    if t.rating is not None:
        raise errors.AlreadyRated()
    if t.status not in ("resolved", "closed"):
        raise errors.NotRatable(status=t.status)
    now = clock.now()
    t.rating, t.rating_comment, t.rated_at, t.updated_at = data.rating, data.comment, now, now
    await session.flush()
    return await my_ticket_out(session, settings, t)


async def reopen(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                 ticket_id: uuid.UUID, reason: str | None) -> MyTicketOut:
    """Within `support_reopen_days` of its resolution (or closing), a ticket waits on an agent
    again, with a new resolution time; a breach already flagged stays flagged."""
    t = await load(session, ticket_id, user_id=user_id, lock=True)
    ended = t.resolved_at or t.closed_at
    if t.status not in ("resolved", "closed") or ended is None:
        raise errors.InvalidTransition(f"A ticket {t.status} cannot be reopened.",
                                       status=t.status)
    now = clock.now()
    if now > ended + dt.timedelta(days=settings.support_reopen_days):
        raise errors.ReopenWindowPassed()
    t.status, t.resolved_at, t.closed_at = "pending_agent", None, None
    t.reopen_count += 1
    t.resolution_due_at = due_times(settings, t.priority, now)[1]
    await add_message(session, t, Subject("user", user_id), reason or "Reopened.")
    return await my_ticket_out(session, settings, t)
