"""What agents do with tickets: the queue with its filters, a ticket with its whole thread,
replies and internal notes, status moves, assignment and re-prioritising, and the periodic
check that flags SLA breaches. Every change is audited with its actor."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.access import service as access
from gullak.identity import service as identity
from gullak.kit import audit, clock
from gullak.kit.errors import InvalidInput, NotFound
from gullak.kit.security import Subject
from gullak.kit.sql import keyset_page
from gullak.notifications import errors as notification_errors
from gullak.notifications import service as notifications
from gullak.settings import Settings
from gullak.support import canned, errors
from gullak.support.common import (
    add_message,
    agent_summary,
    agent_ticket_out,
    breached_now,
    due_times,
    first_response_late,
    load,
    mark_resolved,
)
from gullak.support.models import ACTIVE, Ticket
from gullak.support.schemas import (
    AgentMessageIn,
    AgentTicketOut,
    AgentTicketPage,
    AssignIn,
    StatusIn,
    TicketPatch,
)

REPLY_TEMPLATE = "support.reply"  # made by migration 0033
log = structlog.get_logger()

# Where an agent may move a ticket from each status. A closed ticket is final for agents;
# its user may reopen it within the window.
MOVES: dict[str, frozenset[str]] = {
    "open": frozenset({"pending_agent", "pending_user", "resolved", "closed"}),
    "pending_agent": frozenset({"pending_user", "resolved", "closed"}),
    "pending_user": frozenset({"pending_agent", "resolved", "closed"}),
    "resolved": frozenset({"pending_agent", "closed"}),
    "closed": frozenset(),
}


def _state(t: Ticket) -> dict[str, Any]:
    return {"status": t.status, "priority": t.priority, "category": t.category,
            "assignee_id": str(t.assignee_id) if t.assignee_id else None,
            "department": t.department}


async def list_tickets(session: AsyncSession, *, status: str | None = None,
                       priority: str | None = None, assignee_id: uuid.UUID | None = None,
                       unassigned: bool = False, department: str | None = None,
                       breached: bool | None = None, user_id: uuid.UUID | None = None,
                       cursor: str | None = None, limit: int = 20) -> AgentTicketPage:
    now = clock.now()
    query = select(Ticket)
    for column, value in ((Ticket.status, status), (Ticket.priority, priority),
                          (Ticket.assignee_id, assignee_id), (Ticket.department, department),
                          (Ticket.user_id, user_id)):
        if value is not None:
            query = query.where(column == value)
    if unassigned:
        query = query.where(Ticket.assignee_id.is_(None))
    if breached is not None:
        condition = breached_now(now)
        query = query.where(condition if breached else ~condition)
    rows, after = await keyset_page(session, query, Ticket.id, cursor, limit)
    return AgentTicketPage(items=[agent_summary(t, now) for t in rows], next_cursor=after)


async def get_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> AgentTicketOut:
    return await agent_ticket_out(session, await load(session, ticket_id))


async def _variables(session: AsyncSession, t: Ticket, actor: Subject) -> dict[str, str]:
    try:
        user_name = (await identity.get_user(session, t.user_id)).name or "there"
    except NotFound:  # the account was deleted since; the ticket stays
        user_name = "there"
    agent = "Support"
    if actor.kind == "admin":
        try:
            agent = (await access.get_admin(session, actor.id)).name
        except NotFound:
            pass
    return {"user_name": user_name, "ticket_number": t.number,
            "ticket_title": t.title, "category": t.category, "status": t.status,
            "agent_name": agent}


async def reply(session: AsyncSession, ticket_id: uuid.UUID, data: AgentMessageIn,
                actor: Subject) -> AgentTicketOut:
    """A public reply waits on the user and is the first response if none came before; an
    internal note changes nothing but the thread, and may be added to any ticket."""
    t = await load(session, ticket_id, lock=True)
    if not data.internal and t.status not in ACTIVE:
        raise errors.TicketClosed(status=t.status)
    parts: list[str] = []
    if data.canned_reply_id is not None:
        template = await canned.get_canned(session, data.canned_reply_id)
        if not template.active:
            raise errors.CannedReplyNotFound(field="canned_reply_id")
        parts.append(canned.fill(template.body, await _variables(session, t, actor)))
    if data.body:
        parts.append(data.body)
    if not parts:
        raise InvalidInput("Send a body or a canned reply.", field="body")
    before = _state(t)
    message = await add_message(session, t, actor, "\n\n".join(parts), internal=data.internal,
                                canned_reply_id=data.canned_reply_id)
    now = clock.now()
    if not data.internal:
        if t.first_responded_at is None:
            t.first_response_breached = t.first_response_breached or first_response_late(t, now)
            t.first_responded_at = now
        t.status = "pending_user"
        await _notify(session, t, message.id)
    await session.flush()
    await audit.record(session, actor, "support.note" if data.internal else "support.reply",
                       "support_ticket", str(t.id), before=before,
                       after={**_state(t), "message_id": str(message.id)})
    return await agent_ticket_out(session, t)


async def _notify(session: AsyncSession, t: Ticket, message_id: uuid.UUID) -> None:
    """Tell the user an agent answered (in this unit: a rolled-back reply tells no one). A
    template the back office removed, or edited to need data we do not send, silences it
    (in a savepoint, so nothing of it is half-written); the reply itself still stands."""
    try:
        async with session.begin_nested():
            await notifications.notify(session, t.user_id, REPLY_TEMPLATE,
                                       {"number": t.number, "title": t.title,
                                        "ticket_id": str(t.id)},
                                       category="support", key=f"{REPLY_TEMPLATE}:{message_id}")
    except (notification_errors.TemplateNotFound, notification_errors.MissingTemplateData) as exc:
        log.warning("support.reply_not_notified", ticket_id=str(t.id), code=exc.code)


async def change_status(session: AsyncSession, settings: Settings, ticket_id: uuid.UUID,
                        data: StatusIn, actor: Subject) -> AgentTicketOut:
    t = await load(session, ticket_id, lock=True)
    if data.status not in MOVES[t.status]:
        raise errors.InvalidTransition(f"A ticket {t.status} cannot become {data.status}.",
                                       status=t.status, target=data.status)
    before, now = _state(t), clock.now()
    if data.status in ("resolved", "closed"):
        mark_resolved(t, now)
        if data.status == "closed":
            t.closed_at = now
    elif t.status == "resolved":  # back to work: a new resolution time
        t.resolved_at = None
        t.reopen_count += 1
        t.resolution_due_at = due_times(settings, t.priority, now)[1]
    t.status, t.updated_at = data.status, now
    if data.note:
        await add_message(session, t, actor, data.note, internal=True)
    await session.flush()
    await audit.record(session, actor, "support.status", "support_ticket", str(t.id),
                       before=before, after=_state(t))
    return await agent_ticket_out(session, t)


async def assign(session: AsyncSession, ticket_id: uuid.UUID, data: AssignIn,
                 actor: Subject) -> AgentTicketOut:
    t = await load(session, ticket_id, lock=True)
    sent = data.model_fields_set
    if "assignee_id" in sent and data.assignee_id is not None:
        try:
            admin = await access.get_admin(session, data.assignee_id)
        except NotFound as exc:
            raise errors.InvalidAssignee("No such admin.", field="assignee_id") from exc
        if admin.status != "active" or not ({"support.reply", "*"} & set(admin.permissions)):
            raise errors.InvalidAssignee("This admin may not reply to tickets.",
                                         field="assignee_id")
    if ("department" in sent and data.department is not None
            and not await access.department_exists(session, data.department)):
        raise errors.InvalidAssignee("No such department.", field="department")
    before = _state(t)
    if "assignee_id" in sent:
        t.assignee_id = data.assignee_id
    if "department" in sent:
        t.department = data.department
    t.updated_at = clock.now()
    await session.flush()
    await audit.record(session, actor, "support.assign", "support_ticket", str(t.id),
                       before=before, after=_state(t))
    return await agent_ticket_out(session, t)


async def update_ticket(session: AsyncSession, settings: Settings, ticket_id: uuid.UUID,
                        data: TicketPatch, actor: Subject) -> AgentTicketOut:
    """A new priority moves the due times (counted from the ticket's opening) of timers
    still running; a breach already flagged stays flagged."""
    t = await load(session, ticket_id, lock=True)
    before = _state(t)
    if data.category is not None:
        t.category = data.category
    if data.priority is not None and data.priority != t.priority:
        t.priority = data.priority
        first_due, resolve_due = due_times(settings, t.priority, t.created_at)
        if t.first_responded_at is None:
            t.first_response_due_at = first_due
        if t.resolved_at is None and t.reopen_count == 0:
            t.resolution_due_at = resolve_due
    t.updated_at = clock.now()
    await session.flush()
    await audit.record(session, actor, "support.update", "support_ticket", str(t.id),
                       before=before, after=_state(t))
    return await agent_ticket_out(session, t)


async def flag_breaches(session: AsyncSession) -> int:
    """Set the breach flags of tickets whose timers ran out; returns how many were flagged
    (a ticket late on both counts once)."""
    now = clock.now()
    first = await session.execute(
        update(Ticket).where(~Ticket.first_response_breached,
                             Ticket.first_responded_at.is_(None), Ticket.resolved_at.is_(None),
                             Ticket.first_response_due_at < now)
        .values(first_response_breached=True).returning(Ticket.id))
    resolve = await session.execute(
        update(Ticket).where(~Ticket.resolution_breached, Ticket.resolved_at.is_(None),
                             Ticket.resolution_due_at < now)
        .values(resolution_breached=True).returning(Ticket.id))
    return len({*first.scalars(), *resolve.scalars()})


async def count_breached(session: AsyncSession) -> int:
    """Tickets still waiting (open or pending) with a breach, flagged or due."""
    found = await session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.status.in_(ACTIVE), breached_now(clock.now())))
    return int(found or 0)
