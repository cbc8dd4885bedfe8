"""Cashback commands and queries: networks (networks.py), postbacks and report files
(intake.py), a conversion's effects (conversions.py, where the user's share rule is), bulk
confirmation (bulk.py), all re-exported here; and here the review of unmatched conversions and
the reads. Services never commit; the caller's unit of work does.

Every movement of a cashback's value is a ledger transfer in INR with reference
('cashback', id) and an idempotency key derived from it: credited to the user's `pending`
account from the platform's `cashback_receivable` when matched, to their main account when
confirmed, back to `cashback_receivable` when rejected.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.cashback import conversions, errors
from gullak.cashback.bulk import claim, confirm_many, prepare, settle, settle_with
from gullak.cashback.intake import import_report, receive_postback
from gullak.cashback.models import Cashback, Event
from gullak.cashback.networks import (
    by_code,
    create_network,
    get_network,
    list_networks,
    rotate_secret,
    signature,
    update_network,
)
from gullak.cashback.schemas import (
    AssignIn,
    CashbackOut,
    CashbackPage,
    ConfirmIn,
    ConfirmOut,
    EventOut,
    EventPage,
    MyCashbackOut,
    MyCashbackPage,
    SummaryOut,
)
from gullak.identity import service as identity
from gullak.kit import audit, clock
from gullak.kit.errors import NotFound
from gullak.kit.security import Subject
from gullak.kit.sql import keyset_page
from gullak.merchants import service as merchants

__all__ = [
    "assign", "claim", "confirm", "confirm_many", "create_network", "dismiss", "get_cashback",
    "get_network", "import_report", "list_cashbacks", "list_events", "list_networks",
    "my_cashback", "my_summary", "prepare", "receive_postback", "rotate_secret",
    "settle", "settle_with", "signature", "update_network",
]


# -- review -----------------------------------------------------------------------------------

async def _locked(session: AsyncSession, cashback_id: uuid.UUID) -> Cashback:
    row = await session.get(Cashback, cashback_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise errors.CashbackNotFound()
    return row


async def assign(session: AsyncSession, cashback_id: uuid.UUID, data: AssignIn,
                 actor: Subject | None) -> CashbackOut:
    """Give a conversion kept for review its owner: then it is credited, and confirmed or
    rejected if the network has said so meanwhile."""
    row = await _locked(session, cashback_id)
    if row.status != "unmatched":
        raise errors.NotUnderReview(reason=row.status)
    if data.click_id is not None:
        owner = await conversions.click_owner(session, str(data.click_id))
        if isinstance(owner, str):
            raise errors.InvalidAssignment(f"The click cannot be paid ({owner}).",
                                           field="click_id", reason=owner)
    elif data.user_id is not None:
        try:
            await identity.get_user(session, data.user_id)
        except NotFound as exc:
            raise errors.InvalidAssignment("No such user.", field="user_id",
                                           reason="unknown_user") from exc
        owner = conversions.Owner(data.user_id, data.offer_id, data.merchant_id, None)
    else:
        raise errors.InvalidAssignment("Name a click or a user.", field="click_id",
                                       reason="no_owner")
    before = {"status": row.status, "reason": row.reason}
    await conversions.matched(session, row, owner)
    row.updated_at = clock.now()
    await audit.record(session, actor, "cashback.assign", "cashback", str(row.id),
                       before=before, after={**data.model_dump(mode="json"),
                                             "status": row.status, "amount": row.amount})
    return CashbackOut.model_validate(row)


async def dismiss(session: AsyncSession, cashback_id: uuid.UUID, reason: str,
                  actor: Subject | None) -> CashbackOut:
    """A conversion kept for review that nobody will be paid for; later reports of it change
    nothing."""
    row = await _locked(session, cashback_id)
    if row.status != "unmatched":
        raise errors.NotUnderReview(reason=row.status)
    row.status, row.reason, row.updated_at = "dismissed", reason, clock.now()
    await session.flush()
    await audit.record(session, actor, "cashback.dismiss", "cashback", str(row.id),
                       before={"status": "unmatched"}, after={"status": "dismissed",
                                                              "reason": reason})
    return CashbackOut.model_validate(row)


async def confirm(session: AsyncSession, data: ConfirmIn, actor: Subject | None) -> ConfirmOut:
    """Claim pending cashbacks as confirmed (by ids, or a network's); their transfers are
    posted after this unit commits, by the settling job."""
    if data.ids is None and data.network is None:
        raise errors.InvalidAssignment("Name the cashbacks or a network.", field="ids",
                                       code="cashback_confirm_invalid", reason="no_filter")
    network_id = (await by_code(session, data.network)).id if data.network else None
    ids = await claim(session, ids=data.ids, network_id=network_id,
                      created_before=data.created_before, limit=data.limit, actor=actor)
    return ConfirmOut(confirmed=len(ids), ids=ids[:1000])


# -- reading ----------------------------------------------------------------------------------

async def _page(session: AsyncSession, filters: list[ColumnElement[bool]], cursor: str | None,
                limit: int) -> tuple[list[Cashback], str | None]:
    return await keyset_page(session, select(Cashback).where(*filters), Cashback.id, cursor,
                             limit)


async def list_cashbacks(session: AsyncSession, *, status: str | None = None,
                         network: str | None = None, user_id: uuid.UUID | None = None,
                         merchant_id: uuid.UUID | None = None, cursor: str | None = None,
                         limit: int = 20) -> CashbackPage:
    filters: list[ColumnElement[bool]] = []
    if network is not None:
        filters.append(Cashback.network_id == (await by_code(session, network)).id)
    for column, value in ((Cashback.status, status), (Cashback.user_id, user_id),
                          (Cashback.merchant_id, merchant_id)):
        if value is not None:
            filters.append(column == value)
    rows, next_cursor = await _page(session, filters, cursor, limit)
    return CashbackPage(items=[CashbackOut.model_validate(r) for r in rows],
                        next_cursor=next_cursor)


async def get_cashback(session: AsyncSession, cashback_id: uuid.UUID) -> CashbackOut:
    row = await session.get(Cashback, cashback_id)
    if row is None:
        raise errors.CashbackNotFound()
    return CashbackOut.model_validate(row)


async def list_events(session: AsyncSession, *, network: str | None = None,
                      outcome: str | None = None, cashback_id: uuid.UUID | None = None,
                      cursor: str | None = None, limit: int = 20) -> EventPage:
    query = select(Event)
    if network is not None:
        query = query.where(Event.network_id == (await by_code(session, network)).id)
    if outcome is not None:
        query = query.where(Event.outcome == outcome)
    if cashback_id is not None:
        query = query.where(Event.cashback_id == cashback_id)
    rows, next_cursor = await keyset_page(session, query, Event.id, cursor, limit)
    return EventPage(items=[EventOut.model_validate(e) for e in rows], next_cursor=next_cursor)


async def my_cashback(session: AsyncSession, user_id: uuid.UUID, *, status: str | None = None,
                      cursor: str | None = None, limit: int = 20) -> MyCashbackPage:
    filters: list[ColumnElement[bool]] = [Cashback.user_id == user_id,
                                          Cashback.status.in_(("pending", "confirmed",
                                                               "rejected"))]
    if status is not None:
        filters.append(Cashback.status == status)
    rows, next_cursor = await _page(session, filters, cursor, limit)
    names: dict[uuid.UUID, str | None] = {}
    for row in rows:
        if row.merchant_id is not None and row.merchant_id not in names:
            try:
                names[row.merchant_id] = (await merchants.get_merchant(
                    session, row.merchant_id)).name
            except NotFound:
                names[row.merchant_id] = None
    return MyCashbackPage(items=[MyCashbackOut(
        id=r.id, status=r.status, merchant_id=r.merchant_id,  # type: ignore[arg-type]
        merchant_name=names.get(r.merchant_id) if r.merchant_id else None, offer_id=r.offer_id,
        currency=r.currency, order_amount=r.order_amount, amount=r.amount,
        confirmed_at=r.confirmed_at, rejected_at=r.rejected_at, created_at=r.created_at)
        for r in rows], next_cursor=next_cursor)


async def my_summary(session: AsyncSession, user_id: uuid.UUID) -> SummaryOut:
    totals = {status: (int(total or 0), int(count)) for status, total, count in
              await session.execute(select(Cashback.status, func.sum(Cashback.amount),
                                           func.count()).where(Cashback.user_id == user_id)
                                    .group_by(Cashback.status))}
    shown = ("pending", "confirmed", "rejected")
    return SummaryOut(currency=conversions.INR,
                      **{s: totals.get(s, (0, 0))[0] for s in shown},
                      count=sum(totals.get(s, (0, 0))[1] for s in shown))


# -- exports: a period's cashbacks, streamed --------------------------------------------------

EXPORT_COLUMNS = (
    "id", "network_id", "transaction_id", "click_id", "user_id", "offer_id", "merchant_id",
    "currency", "order_amount", "commission", "amount", "credited", "revision", "status",
    "network_status", "reason", "confirmed_at", "rejected_at", "settled_at", "created_at",
    "updated_at")


async def stream_cashbacks(session: AsyncSession, since: dt.datetime, until: dt.datetime, *,
                           batch: int = 2000) -> AsyncIterator[dict[str, Any]]:
    """The cashbacks reported in [since, until), oldest first, through a server-side cursor,
    as dicts keyed by `EXPORT_COLUMNS` (ids and amounts, no account ids)."""
    query = (select(*(getattr(Cashback, c) for c in EXPORT_COLUMNS))
             .where(Cashback.created_at >= since, Cashback.created_at < until)
             .order_by(Cashback.created_at, Cashback.id)
             .execution_options(yield_per=batch))
    # A batch at a time: the async result crosses into the driver's greenlet once a batch.
    async for rows in (await session.stream(query)).mappings().partitions():
        for row in rows:
            yield dict(row)


# -- analytics: a day's cashback --------------------------------------------------------------

async def day_totals(session: AsyncSession, day: dt.date) -> dict[str, int]:
    """Cashback (the users' share, INR paise) reported for a user on a UTC day, whatever
    became of it since (`pending`), and confirmed on that day (`confirmed`)."""
    since = dt.datetime.combine(day, dt.time(), dt.UTC)
    until = since + dt.timedelta(days=1)
    pending = await session.scalar(select(func.coalesce(func.sum(Cashback.amount), 0)).where(
        Cashback.user_id.is_not(None), Cashback.created_at >= since, Cashback.created_at < until))
    confirmed = await session.scalar(select(func.coalesce(func.sum(Cashback.amount), 0)).where(
        Cashback.confirmed_at >= since, Cashback.confirmed_at < until))
    return {"pending": int(pending or 0), "confirmed": int(confirmed or 0)}
