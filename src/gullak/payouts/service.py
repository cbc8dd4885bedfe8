"""Payouts commands and queries, the domain's public face: methods, withdrawals and
disbursements live in their own modules and are re-exported here. Services never commit:
the caller's unit of work does; calls to providers are in flows.py, between units of work."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.payouts.disbursements import (
    approved_unpaid,
    open_attempt,
    poll_result,
    process_event,
    receive_callback,
    record_result,
    waiting,
)
from gullak.payouts.methods import (
    add_method,
    get_method,
    list_channels,
    list_methods,
    method_out,
    owned,
    put_channel,
    record_verification,
    remove_method,
)
from gullak.payouts.models import Withdrawal
from gullak.payouts.withdrawals import (
    cancel,
    decide,
    edit,
    get_withdrawal,
    list_withdrawals,
    quote,
    request,
)

__all__ = [
    "add_method", "approved_unpaid", "cancel", "decide", "edit", "get_method",
    "get_withdrawal", "list_channels", "list_methods", "list_withdrawals", "method_out", "owned",
    "open_attempt", "poll_result", "process_event", "put_channel", "quote",
    "receive_callback", "record_result", "record_verification", "remove_method", "request",
    "waiting",
]


# -- exports: a period's withdrawals, streamed ------------------------------------------------

EXPORT_COLUMNS = (
    "id", "code", "owner_type", "owner_id", "purpose", "kind", "asset_code", "amount", "fee",
    "tax", "net", "method_id", "status", "round", "auto_approved", "reason", "reference_type",
    "reference_id", "paid_at", "resolved_at", "created_at", "updated_at")


async def stream_withdrawals(session: AsyncSession, since: dt.datetime, until: dt.datetime, *,
                             batch: int = 2000) -> AsyncIterator[dict[str, Any]]:
    """The withdrawals requested in [since, until), oldest first, through a server-side
    cursor, as dicts keyed by `EXPORT_COLUMNS`: the payout method by id only (its account
    number and UPI id are sealed and never leave)."""
    query = (select(*(getattr(Withdrawal, c) for c in EXPORT_COLUMNS))
             .where(Withdrawal.created_at >= since, Withdrawal.created_at < until)
             .order_by(Withdrawal.created_at, Withdrawal.id)
             .execution_options(yield_per=batch))
    # A batch at a time: the async result crosses into the driver's greenlet once a batch.
    async for rows in (await session.stream(query)).mappings().partitions():
        for row in rows:
            yield dict(row)


async def recent_withdrawals(session: AsyncSession, owner_id: uuid.UUID, asset_code: str, *,
                             limit: int = 20) -> list[tuple[uuid.UUID, int, dt.datetime]]:
    """A user's latest withdrawals of an asset that were not refused or cancelled, newest
    first, as (id, amount, created_at): the risk domain's idea of the user's usual."""
    rows = await session.execute(
        select(Withdrawal.id, Withdrawal.amount, Withdrawal.created_at)
        .where(Withdrawal.owner_type == "user", Withdrawal.owner_id == owner_id,
               Withdrawal.asset_code == asset_code,
               Withdrawal.status.not_in(("rejected", "cancelled")))
        .order_by(Withdrawal.id.desc()).limit(limit))
    return [(r[0], int(r[1]), r[2]) for r in rows]


async def paid_on(session: AsyncSession, day: dt.date) -> dict[str, int]:
    """Withdrawals paid out on a UTC day (and not reversed since): how many, and their amounts
    in minor units of their assets, summed."""
    from sqlalchemy import func

    from gullak.payouts.models import Withdrawal

    since = dt.datetime.combine(day, dt.time(), dt.UTC)
    row = (await session.execute(
        select(func.count(), func.coalesce(func.sum(Withdrawal.amount), 0))
        .where(Withdrawal.status == "paid", Withdrawal.paid_at >= since,
               Withdrawal.paid_at < since + dt.timedelta(days=1)))).one()
    return {"withdrawals": int(row[0]), "withdrawn": int(row[1])}
