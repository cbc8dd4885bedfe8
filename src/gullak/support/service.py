"""Support commands and queries, re-exported from where they live: users' tickets
(tickets.py), agents' work and the SLA check (agents.py), attachments (attachments.py), canned
replies (canned.py) and the customer view (customer.py). Services never commit; the caller's
unit of work does.

A ticket moves open -> pending_agent / pending_user -> resolved -> closed: a user's message
makes it wait on an agent, an agent's public reply on the user; agents move it by the table in
agents.MOVES (anything else is 409 invalid_ticket_transition); its user may reopen it within
`support_reopen_days` of its resolution, and rate it once when it is resolved or closed.
Internal notes and internal attachments are the back office's alone.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.browse import Browse, Page
from gullak.support.agents import (
    MOVES,
    assign,
    change_status,
    count_breached,
    flag_breaches,
    get_ticket,
    list_tickets,
    reply,
    update_ticket,
)
from gullak.support.attachments import File, add_agent_attachment, add_user_attachment, read
from gullak.support.canned import (
    create_canned,
    delete_canned,
    fill,
    get_canned,
    list_canned,
    update_canned,
)
from gullak.support.common import sla
from gullak.support.customer import customer
from gullak.support.tickets import (
    check_subject,
    my_ticket,
    my_tickets,
    open_ticket,
    rate,
    reopen,
    user_message,
)
from gullak.kit import clock
from gullak.kit.browse import page
from gullak.support.common import agent_summary
from gullak.support.models import ACTIVE, Ticket

__all__ = [
    "MOVES", "File", "add_agent_attachment", "add_user_attachment", "assign", "change_status",
    "check_subject", "count_breached", "create_canned", "customer", "delete_canned", "fill",
    "flag_breaches", "get_canned", "get_ticket", "list_canned", "list_tickets", "my_ticket",
    "my_tickets", "open_ticket", "rate", "read", "reopen", "reply", "sla", "update_canned",
    "update_ticket", "user_message",
]


# -- the console: the tickets' queue ----------------------------------------------------------

# What waits on an agent (a ticket pending on its user does not).
WAITING = ("open", "pending_agent")


async def browse_ticket_queue(session: AsyncSession, browse: Browse, *,
                              status: str | None = None, priority: str | None = None,
                              assignee_id: uuid.UUID | None = None,
                              unassigned: bool = False) -> Page:
    """Tickets still being worked (open or pending; `status` picks one), a keyset page
    sortable by due (the resolution's due time) or last_message_at; rows are
    AgentTicketSummary."""

    query = select(Ticket).where(Ticket.status.in_([status] if status else ACTIVE))
    if priority is not None:
        query = query.where(Ticket.priority == priority)
    if assignee_id is not None:
        query = query.where(Ticket.assignee_id == assignee_id)
    if unassigned:
        query = query.where(Ticket.assignee_id.is_(None))
    found = await page(session, query, browse, Ticket.id,
                       {"due": Ticket.resolution_due_at, "last_message_at": Ticket.last_message_at})
    now = clock.now()
    return Page([agent_summary(t, now) for t in found.rows], found.next_cursor)


async def count_ticket_queue(session: AsyncSession) -> int:
    """Tickets waiting on an agent: open, or answered by their user."""

    found = await session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.status.in_(WAITING)))
    return int(found or 0)
