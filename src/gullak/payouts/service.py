"""Payouts commands and queries, the domain's public face: methods, withdrawals and
disbursements live in their own modules and are re-exported here. Services never commit:
the caller's unit of work does; calls to providers are in flows.py, between units of work."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.browse import Browse, Page, page
from gullak.payouts import errors, settlements
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
from gullak.payouts.models import Settlement, Withdrawal
from gullak.payouts.schemas import SettlementDetail
from gullak.payouts.withdrawals import (
    cancel,
    decide,
    edit,
    get_withdrawal,
    list_withdrawals,
    quote,
    request,
)

if TYPE_CHECKING:
    from gullak.kit.security import Subject
    from gullak.settings import Settings

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


    since = dt.datetime.combine(day, dt.time(), dt.UTC)
    row = (await session.execute(
        select(func.count(), func.coalesce(func.sum(Withdrawal.amount), 0))
        .where(Withdrawal.status == "paid", Withdrawal.paid_at >= since,
               Withdrawal.paid_at < since + dt.timedelta(days=1)))).one()
    return {"withdrawals": int(row[0]), "withdrawn": int(row[1])}


# -- settlements, read (settlements.py) -------------------------------------------------------

async def get_settlement(session: AsyncSession, settlement_id: uuid.UUID, *,
                         merchant_id: uuid.UUID | None = None) -> SettlementDetail:
    """One settlement with its statement; with `merchant_id`, another merchant's is not
    found."""

    return await settlements.get_settlement(session, settlement_id, merchant_id=merchant_id)


def statement_csv(statement: SettlementDetail) -> str:
    """The statement as the API's CSV: a header, then one row per line."""

    return settlements.statement_csv(statement)


# -- the console: the withdrawals' review queue -----------------------------------------------

@dataclass(frozen=True)
class QueuedWithdrawal:
    """A withdrawal in the review queue, with who made the request (`created_by`, of kind
    `created_by_kind`: the user, an admin who ran a settlement, the settlement job) and who
    last edited it: neither may approve it (withdrawals.decide)."""

    id: uuid.UUID
    code: str
    owner_type: str
    owner_id: uuid.UUID
    purpose: str
    kind: str
    asset_code: str
    amount: int
    net: int
    status: str
    approvals_needed: int
    round: int
    created_by: uuid.UUID
    created_by_kind: str
    edited_by: uuid.UUID | None
    created_at: dt.datetime


def _queued(w: Withdrawal) -> QueuedWithdrawal:
    return QueuedWithdrawal(
        id=w.id, code=w.code, owner_type=w.owner_type, owner_id=w.owner_id, purpose=w.purpose,
        kind=w.kind, asset_code=w.asset_code, amount=w.amount, net=w.net, status=w.status,
        approvals_needed=w.approvals_needed, round=w.round, created_by=w.created_by,
        created_by_kind=w.created_by_kind, edited_by=w.edited_by, created_at=w.created_at)


async def browse_withdrawal_queue(session: AsyncSession, browse: Browse, *,
                                  status: str = "review", owner_type: str | None = None,
                                  purpose: str | None = None) -> Page:
    """Withdrawals in `status` (review: the queue), a keyset page sortable by amount or
    created_at; rows are QueuedWithdrawal."""

    query = select(Withdrawal).where(Withdrawal.status == status)
    if owner_type is not None:
        query = query.where(Withdrawal.owner_type == owner_type)
    if purpose is not None:
        query = query.where(Withdrawal.purpose == purpose)
    found = await page(session, query, browse, Withdrawal.id,
                       {"amount": Withdrawal.amount, "created_at": Withdrawal.created_at})
    return Page([_queued(w) for w in found.rows], found.next_cursor)


async def count_withdrawal_queue(session: AsyncSession) -> int:
    from sqlalchemy import func

    found = await session.scalar(select(func.count()).select_from(Withdrawal).where(
        Withdrawal.status == "review"))
    return int(found or 0)


async def queued_withdrawal(session: AsyncSession, withdrawal_id: uuid.UUID) -> QueuedWithdrawal:
    """One withdrawal with its maker and last editor (an unknown id: not found)."""

    w = await session.get(Withdrawal, withdrawal_id, populate_existing=True)
    if w is None:
        raise errors.WithdrawalNotFound(field="withdrawal_id")
    return _queued(w)


async def queue_disbursement(session: AsyncSession, withdrawal_id: uuid.UUID) -> None:
    """Enqueue the payment of an approved withdrawal in the caller's transaction, as the API
    does after the approval that made it due."""
    from gullak.payouts import jobs
    from gullak.worker import enqueue

    await enqueue(session, jobs.disburse, withdrawal_id=str(withdrawal_id))


# -- settlements, as the back office's pages use them -----------------------------------------

SETTLEMENT_STATUSES = ("nothing_to_pay", "unpaid", "paying", "paid", "returned")


async def browse_settlements(session: AsyncSession, browse: Browse, *,
                             merchant_id: uuid.UUID | None = None,
                             status: str | None = None) -> Page:
    """Settlements for the console's table (rows: SettlementOut), by id (time-ordered) or by
    the period's last day (`period`)."""

    query = select(Settlement)
    if merchant_id is not None:
        query = query.where(Settlement.merchant_id == merchant_id)
    if status is not None:
        query = query.where(Settlement.status == status)
    found = await page(session, query, browse, Settlement.id, {"period": Settlement.period_end})
    return Page([await settlements.settlement_out(session, s) for s in found.rows],
                found.next_cursor)


async def run_settlement(session: AsyncSession, settings: Settings, merchant_id: uuid.UUID,
                         period_start: dt.date, period_end: dt.date,
                         actor: Subject) -> tuple[SettlementDetail, bool]:
    """Settle a merchant's period and request its payout: (the settlement, whether it is new);
    see settlements.run_settlement."""

    return await settlements.run_settlement(session, settings, merchant_id, period_start,
                                            period_end, actor)
