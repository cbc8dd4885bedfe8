"""Demo data: the canned replies a support desk starts with."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.demo import DataSet
from gullak.kit.security import Subject
from gullak.support import service
from gullak.support.schemas import CannedReplyIn

PLATFORM = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000000c9"),
                   frozenset({"support.manage"}))

REPLIES = (
    CannedReplyIn(code="greeting", title="Greeting",
                  body="Hi {{user_name}}, thanks for writing to us about {{ticket_number}}."
                       " {{agent_name}} here; I am looking into it now."),
    CannedReplyIn(code="refund-initiated", title="Refund initiated", category="refund",
                  body="Hi {{user_name}}, the refund for {{ticket_number}} has been initiated."
                       " It reaches your account in 5 to 7 working days."),
    CannedReplyIn(code="cashback-tracking", title="Cashback is being tracked",
                  category="cashback",
                  body="Hi {{user_name}}, cashback is confirmed once the store confirms your"
                       " purchase, usually within 60 days. We will keep {{ticket_number}} open"
                       " until then."),
    CannedReplyIn(code="closing", title="Closing", body="Glad we could help, {{user_name}}."
                  " If anything else comes up, reply within a week to reopen this ticket."),
)


async def load(session: AsyncSession) -> None:
    for reply in REPLIES:
        await service.create_canned(session, reply, PLATFORM)


DATA_SETS = (DataSet("support", load, needs=("access",),
                     notes=(f"Support    {len(REPLIES)} canned replies; users open tickets at"
                            " POST /v1/me/tickets",)),)
