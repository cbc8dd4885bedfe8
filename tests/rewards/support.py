"""Rewards test tools: rules written through the service, orders completed and refunded by
their events, and the balances a reward moves between."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.events import publish
from gullak.kit.ids import uuid7
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountIn, OwnerType
from gullak.rewards import service
from gullak.rewards.schemas import CampaignIn, CampaignOut, RuleIn, RuleOut

ADMIN = Subject("admin", uuid.UUID("00000000-0000-7000-8000-0000000000a1"),
                frozenset({"rewards.manage", "rewards.read"}))


async def make_rule(session: AsyncSession, **values: Any) -> RuleOut:
    body = {"name": "Test rule", "trigger": "order_completed", "kind": "fixed", "value": 50,
            "asset_code": "REZ"}
    body.update(values)
    return await service.create_rule(session, RuleIn.model_validate(body), ADMIN)


async def make_campaign(session: AsyncSession, **values: Any) -> CampaignOut:
    body: dict[str, Any] = {"name": "Diwali", "asset_code": "REZ", "status": "active",
                            "starts_at": clock.now() - dt.timedelta(days=1)}
    body.update(values)
    return await service.create_campaign(session, CampaignIn.model_validate(body), ADMIN)


async def complete_order(session: AsyncSession, user_id: uuid.UUID, total: int = 50_000, *,
                         merchant_id: uuid.UUID | None = None, refunded: int = 0,
                         order_id: uuid.UUID | None = None) -> uuid.UUID:
    order_id = order_id or uuid7()
    await publish(session, "order.status_changed", {
        "order_id": str(order_id), "user_id": str(user_id),
        "merchant_id": str(merchant_id or uuid7()), "number": "ORD-1", "kind": "purchase",
        "outlet_id": None, "total": total, "refunded": refunded, "currency": "INR",
        "from_status": "delivered", "to_status": "completed", "actor_type": "system",
        "actor_id": None, "reason": None})
    return order_id


async def refund(session: AsyncSession, order_id: uuid.UUID, user_id: uuid.UUID,
                 amount: int) -> None:
    await publish(session, "order.refunded", {"order_id": str(order_id),
                                              "user_id": str(user_id), "amount": amount,
                                              "currency": "INR", "tenders": []})


async def balances(session: AsyncSession, user_id: uuid.UUID, asset: str) -> tuple[int, int]:
    """(main, pending) posted balances of the user in `asset`."""
    out = []
    for purpose in ("main", "pending"):
        account = await ledger.open_account(session, AccountIn(
            asset_code=asset, owner_type=OwnerType.user, owner_id=user_id, purpose=purpose))
        out.append((await ledger.balance(session, account.id)).posted)
    return out[0], out[1]


async def reasons(session: AsyncSession, reference_id: uuid.UUID | str) -> dict[str, Any]:
    """Rule name -> (applied, reason, amount) of the evaluations of an occasion."""
    rows = await session.execute(text(
        "SELECT r.name, (d->>'applied')::boolean, d->>'reason', (d->>'amount')::bigint"
        " FROM reward_evaluations e, jsonb_array_elements(e.decisions) d"
        " JOIN reward_rules r ON r.id = (d->>'rule_id')::uuid WHERE e.reference_id = :ref"
        " ORDER BY e.id"), {"ref": str(reference_id)})
    return {name: (applied, reason, amount) for name, applied, reason, amount in rows}
