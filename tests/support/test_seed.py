"""The demo data: the canned replies a desk starts with, each filled from a ticket without a
variable left over."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.support import seed, service


async def test_the_demo_canned_replies(session: AsyncSession) -> None:
    await seed.load(session)
    replies = await service.list_canned(session, active=True)
    assert sorted(r.code for r in replies) == sorted(r.code for r in seed.REPLIES)
    values = {"user_name": "Asha", "ticket_number": "TKT-202612-000001",
              "agent_name": "Ravi"}
    for reply in replies:
        assert "{{" not in service.fill(reply.body, values), reply.code
