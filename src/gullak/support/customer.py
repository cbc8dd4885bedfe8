"""A ticket's customer as an agent needs them, each part from the domain that owns it:
profile (identity), balances and recent transfers (the ledger, through identity's wallet),
recent orders (orders), withdrawals (payouts), and their other tickets. Reading it is audited:
it is personal data seen by staff."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import service as identity
from gullak.identity.schemas import UserOut
from gullak.kit import audit
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.orders import service as orders
from gullak.payouts import service as payouts
from gullak.support.common import load, summary
from gullak.support.models import Ticket
from gullak.support.schemas import CustomerOut

RECENT = 10


async def _transfers(session: AsyncSession, balances: list[Any]) -> list[dict[str, Any]]:
    """The newest entries across the user's accounts, newest first."""
    found: list[dict[str, Any]] = []
    for holding in balances:
        if holding.account_id is None:
            continue
        page = await ledger.history(session, holding.account_id, limit=RECENT)
        found += [{**e.model_dump(mode="json"), "asset_code": holding.asset_code}
                  for e in page.entries]
    found.sort(key=lambda e: (e["created_at"], e["transfer_id"]), reverse=True)
    return found[:RECENT]


async def customer(session: AsyncSession, ticket_id: uuid.UUID, actor: Subject) -> CustomerOut:
    t = await load(session, ticket_id)
    user_id = t.user_id
    profile = UserOut.model_validate(await identity.get_user(session, user_id))
    balances = await identity.wallet(session, user_id)
    recent = await orders.list_orders(session, user_id=user_id, limit=RECENT)
    withdrawals = await payouts.list_withdrawals(session, owner=("user", user_id), limit=RECENT)
    tickets = await session.scalars(select(Ticket).where(Ticket.user_id == user_id)
                                    .order_by(Ticket.id.desc()).limit(RECENT))
    out = CustomerOut(
        user_id=user_id, profile=profile.model_dump(mode="json"),
        balances=[b.model_dump(mode="json") for b in balances],
        recent_orders=[o.model_dump(mode="json") for o in recent.items],
        recent_transfers=await _transfers(session, balances),
        withdrawals=[w.model_dump(mode="json") for w in withdrawals.items],
        tickets=[summary(x) for x in tickets])
    await audit.record(session, actor, "support.view_customer", "user", str(user_id),
                       after={"ticket_id": str(ticket_id)})
    return out
