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

__all__ = [
    "MOVES", "File", "add_agent_attachment", "add_user_attachment", "assign", "change_status",
    "check_subject", "count_breached", "create_canned", "customer", "delete_canned", "fill",
    "flag_breaches", "get_canned", "get_ticket", "list_canned", "list_tickets", "my_ticket",
    "my_tickets", "open_ticket", "rate", "read", "reopen", "reply", "sla", "update_canned",
    "update_ticket", "user_message",
]
