"""Two-phase transfers: a hold reserves available funds until it is captured (all or part),
released or expired. Each command is one call of its ledger function (migrations/sql/0014)."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.ledger import errors
from gullak.ledger.common import actor_of, call, check_amount, keyed, run
from gullak.ledger.models import Hold
from gullak.ledger.schemas import CaptureIn, CaptureOut, HoldIn, HoldOut

if TYPE_CHECKING:
    from gullak.kit.security import Subject

_PLACE = "SELECT * FROM ledger_place_hold(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)"
_CAPTURE = ("SELECT * FROM ledger_capture(%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s,"
            " %s, %s)")
_RELEASE = "SELECT * FROM ledger_release(%s, %s, %s, %s)"


async def place_hold(session: AsyncSession, data: HoldIn, *,
                     idempotency_key: str | None = None) -> HoldOut:
    """Reserve available funds until captured, released or expired."""
    check_amount(data.amount)
    key, digest = keyed(idempotency_key, "hold", data.model_dump(mode="json"))
    _, result = await call(session, _PLACE, (
        key, digest, uuid7(), data.account_id, data.asset_code, data.amount, data.expires_at,
        data.reference_type, data.reference_id, json.dumps(data.metadata), clock.now()))
    return HoldOut.model_validate(result)


async def get_hold(session: AsyncSession, hold_id: uuid.UUID) -> HoldOut:
    hold = await session.get(Hold, hold_id, populate_existing=True)
    if hold is None:
        raise errors.HoldNotFound(field="hold_id")
    return HoldOut.model_validate(hold)


async def capture(session: AsyncSession, hold_id: uuid.UUID, data: CaptureIn, *,
                  idempotency_key: str | None = None, actor: Subject | None = None
                  ) -> CaptureOut:
    """Move all or part of a held amount to `credit_account_id`; the rest is released."""
    if data.amount is not None:
        check_amount(data.amount)
    request = {"hold_id": str(hold_id), **data.model_dump(mode="json")}
    key, digest = keyed(idempotency_key, "capture", request)
    _, result = await call(session, _CAPTURE, (
        key, digest, hold_id, data.credit_account_id, data.amount, data.kind,
        data.reference_type, data.reference_id, json.dumps(data.metadata), uuid7(), uuid7(),
        clock.now(), *actor_of(actor)))
    return CaptureOut.model_validate(result)


async def release(session: AsyncSession, hold_id: uuid.UUID, *,
                  idempotency_key: str | None = None) -> HoldOut:
    """Give the held amount back to the available balance."""
    key, digest = keyed(idempotency_key, "release", {"hold_id": str(hold_id)})
    _, result = await call(session, _RELEASE, (key, digest, hold_id, clock.now()))
    return HoldOut.model_validate(result)


async def expire_holds(session: AsyncSession, *, limit: int = 500) -> int:
    """Resolve pending holds past their deadline as expired; returns how many."""
    rows = (await session.execute(text("""
        SELECT id FROM ledger_holds WHERE status = 'pending' AND expires_at <= :now
        ORDER BY account_id LIMIT :limit FOR UPDATE SKIP LOCKED
    """), {"now": clock.now(), "limit": limit})).all()
    for row in rows:
        await run(session, text(
            "UPDATE ledger_holds SET status = 'expired', captured = 0, resolved_at = :t"
            " WHERE id = :id"), {"id": row.id, "t": clock.now()})
    return len(rows)
