"""Merchant settlements: what the platform owes a merchant for a period, line by line, paid out
through a withdrawal under the same review (maker-checker) as any other.

The merchant's INR account holds what the platform owes it: orders' payments land there,
commission leaves at completion, refunds leave, merchant-funded rewards are charged to it.
A settlement's lines explain that account's movement (settlement_lines.py says which entries
are due when); their sum is the settlement's `net`, and the rule for paying it is:

- `payable` = the net, but never more than the account's available balance less what earlier
  unpaid settlements of the merchant are still owed, and nothing below the least payout;
- `carried_forward` = net - payable: a negative net (refunds and charges above what came in),
  or what could not be paid, is the first line (`carry`) of the merchant's next settlement;
- the payable is requested as a withdrawal (purpose `settlement`, key `settlement:<id>`) by
  the one who ran the settlement, to the merchant's usable payout method: held at once, then
  reviewed; that maker can never approve it. With no usable method (or a refusal) the
  settlement stays `unpaid` with the reason, and every later run for the merchant asks again;
- a payout rejected, cancelled or failed (or lowered in review) gives its amount back to the
  balance, and the next run carries it as a `payout_returned` line.

Services never commit; runs of one merchant queue on a transaction lock.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections import defaultdict
from typing import cast

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.errors import GullakError
from gullak.kit.ids import human_code, uuid7
from gullak.kit.security import Subject, SubjectKind
from gullak.kit.sql import keyset_page, xact_lock
from gullak.ledger import service as ledger
from gullak.merchants import service as merchants
from gullak.payouts import errors, methods, withdrawals
from gullak.payouts.models import (
    Settlement,
    SettlementLine,
    Withdrawal,
)
from gullak.payouts.schemas import (
    SettlementDetail,
    SettlementLineOut,
    SettlementOut,
    SettlementPage,
    Source,
    WithdrawalIn,
)
from gullak.payouts.settlement_lines import MARGIN, Window, from_ledger
from gullak.settings import Settings

CURRENCY = "INR"
MAX_DAYS = 31
SEQUENCE = "settlement_code_seq"
RETURNED = ("rejected", "failed", "cancelled")
# Who runs the scheduled settlements, and so makes their payouts: never an approver.
SETTLEMENT_ACTOR = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000000f1"))
NO_METHOD = ("The merchant has no verified primary bank account past its cooling-off: add one"
             " (merchant bank accounts) and the next run pays.")
CSV_COLUMNS = ("line", "kind", "amount", "currency", "description", "order_number",
               "order_id", "transfer_id", "reference_type", "reference_id", "rate_bps",
               "occurred_at", "due_at", "carried")


def check_period(first: dt.date, last: dt.date, today: dt.date) -> None:
    if last < first:
        raise errors.InvalidSettlementPeriod("The period ends before it starts.",
                                             field="period_end")
    if (last - first).days + 1 > MAX_DAYS:
        raise errors.InvalidSettlementPeriod(f"A period is at most {MAX_DAYS} days.",
                                             field="period_end")
    if last > today:
        raise errors.InvalidSettlementPeriod("The period ends after today (UTC).",
                                             field="period_end")


async def run_settlement(session: AsyncSession, settings: Settings, merchant_id: uuid.UUID,
                         period_start: dt.date, period_end: dt.date,
                         actor: Subject) -> tuple[SettlementDetail, bool]:
    """Settle the merchant's period and request its payout: (the settlement, whether it is
    new). The same period again gives the settlement made before; either way the merchant's
    unpaid settlements are asked for again first."""
    now = clock.now()
    check_period(period_start, period_end, now.date())
    await merchants.get_merchant(session, merchant_id)
    await xact_lock(session, f"payouts.settlements:{merchant_id}")
    await _retry_unpaid(session, settings, merchant_id)
    existing = await session.scalar(select(Settlement).where(
        Settlement.merchant_id == merchant_id, Settlement.period_start == period_start,
        Settlement.period_end == period_end))
    if existing is not None:
        return await detail(session, existing), False
    window = Window.of(period_start, period_end)
    s = Settlement(id=uuid7(), code=await human_code(session, "STL", SEQUENCE),
                   merchant_id=merchant_id, period_start=period_start, period_end=period_end,
                   currency=CURRENCY, created_by=actor.id, created_by_kind=actor.kind)
    lines = await _returned(session, merchant_id, now) + await _carries(session, merchant_id)
    account = await ledger.find_account(session, "merchant", merchant_id, CURRENCY)
    s.scan_from = min(window.end, now) - MARGIN
    if account is not None:
        last = await session.scalar(select(Settlement.scan_from).where(
            Settlement.merchant_id == merchant_id).order_by(Settlement.id.desc()).limit(1))
        found = await from_ledger(session, merchant_id, account.id, last, window, now)
        lines += found.lines
        s.scan_from = found.scan_from
    await _price(session, settings, s, lines, account.id if account else None)
    session.add(s)
    await session.flush()
    for line in lines:
        line.settlement_id = s.id
    session.add_all(lines)
    await session.flush()
    if s.status == "unpaid":
        await _pay(session, settings, s, actor)
    return await detail(session, s), True


async def _price(session: AsyncSession, settings: Settings, s: Settlement,
                 lines: list[SettlementLine], account_id: uuid.UUID | None) -> None:
    """The net, what of it is paid now, what is carried, and why (see the module's note)."""
    net = sum(line.amount for line in lines)
    available = (await ledger.balance(session, account_id)).available if account_id else 0
    owed = await session.scalar(select(func.coalesce(func.sum(Settlement.payable), 0)).where(
        Settlement.merchant_id == s.merchant_id, Settlement.status == "unpaid"))
    payable = max(0, min(net, available - int(owed or 0)))
    reason = None
    if net <= 0:
        reason = ("Nothing was due in this period." if net == 0 else
                  "Refunds and charges exceed what came in: carried into the next settlement.")
    elif payable < settings.payout_min_amount:
        payable, reason = 0, ("Below the least payout or the available balance: carried into"
                              " the next settlement.")
    elif payable < net:
        reason = "Capped at the available balance: the rest is carried into the next settlement."
    s.net, s.payable, s.carried_forward, s.line_count = net, payable, net - payable, len(lines)
    s.status, s.reason = ("unpaid" if payable else "nothing_to_pay"), reason


async def _usable_method(session: AsyncSession, settings: Settings,
                         merchant_id: uuid.UUID) -> uuid.UUID | None:
    """The merchant's primary bank account, verified by the merchants domain, once past the
    cooling-off (methods.merchant_method)."""
    method = await methods.merchant_method(session, settings, merchant_id)
    if method is None or not methods.usable(method, clock.now()):
        return None
    return method.id


async def _pay(session: AsyncSession, settings: Settings, s: Settlement, actor: Subject) -> None:
    """Request the payout of an unpaid settlement; a refusal leaves it unpaid, with why."""
    method_id = await _usable_method(session, settings, s.merchant_id)
    if method_id is None:
        s.reason = NO_METHOD
        await session.flush()
        return
    data = WithdrawalIn(amount=s.payable, asset_code=s.currency, source=Source.main,
                        method_id=method_id)
    try:
        async with session.begin_nested():
            # Merchants' payouts always wait for review; one approved at once would be paid
            # by the payouts poll (payouts.check_waiting), which takes up approved ones.
            out, _ = await withdrawals.request(
                session, settings, "merchant", s.merchant_id, data, f"settlement:{s.id}",
                actor, purpose="settlement", reference=("settlement", str(s.id)))
    except GullakError as exc:
        s.reason = f"The payout was refused ({exc.code}): {exc.detail}"
        await session.flush()
        return
    s.status, s.withdrawal_id, s.reason = "paying", out.id, None
    await session.flush()


async def _retry_unpaid(session: AsyncSession, settings: Settings,
                        merchant_id: uuid.UUID) -> None:
    # The maker of the retried payout is whoever ran the settlement, so it still cannot
    # approve it, whoever retries.
    for s in await session.scalars(select(Settlement).where(
            Settlement.merchant_id == merchant_id, Settlement.status == "unpaid")
            .order_by(Settlement.id).with_for_update()):
        maker = Subject(cast(SubjectKind, s.created_by_kind), s.created_by)
        await _pay(session, settings, s, maker)


async def _returned(session: AsyncSession, merchant_id: uuid.UUID,
                    now: dt.datetime) -> list[SettlementLine]:
    """Payouts followed to their end: paid, or back on the balance, then carried. A paid one
    is followed again if it bounces (it is then reviewed again, and may end otherwise)."""
    lines = []
    followed = await session.execute(
        select(Settlement, Withdrawal).join(Withdrawal, Withdrawal.id == Settlement.withdrawal_id)
        .where(Settlement.merchant_id == merchant_id, or_(
            Settlement.status == "paying",
            and_(Settlement.status == "paid", Withdrawal.status != "paid")))
        .order_by(Settlement.id).with_for_update(of=Settlement))
    for s, w in followed:
        if w.status == "paid":
            s.status, owed = "paid", s.payable - w.amount  # lowered in review: the rest
        elif w.status in RETURNED:
            s.status, owed = "returned", s.payable
            s.reason = f"The payout was {w.status}: {w.reason or 'no reason given'}."
        else:
            s.status, owed = "paying", 0
        count, summed = (await session.execute(select(
            func.count(), func.coalesce(func.sum(SettlementLine.amount), 0)).where(
            SettlementLine.merchant_id == merchant_id, SettlementLine.kind == "payout_returned",
            SettlementLine.reference_id == str(s.id)))).one()
        returned = int(summed)  # a bigint's sum is numeric
        if owed - returned > 0:
            at = w.resolved_at or now
            lines.append(SettlementLine(
                merchant_id=merchant_id, source=f"returned:{s.id}:{count + 1}",
                kind="payout_returned", amount=owed - returned,
                description=f"Payout {w.code} of {s.code} {w.status}: back on the balance",
                reference_type="settlement", reference_id=str(s.id), occurred_at=at,
                due_at=at, carried=True))
    await session.flush()
    return lines


async def _carries(session: AsyncSession, merchant_id: uuid.UUID) -> list[SettlementLine]:
    taken = select(SettlementLine.id).where(
        SettlementLine.merchant_id == merchant_id,
        SettlementLine.source == func.concat("carry:", Settlement.id))
    rows = await session.scalars(select(Settlement).where(
        Settlement.merchant_id == merchant_id, Settlement.carried_forward != 0,
        ~taken.exists()).order_by(Settlement.id))
    return [SettlementLine(
        merchant_id=merchant_id, source=f"carry:{s.id}", kind="carry",
        amount=s.carried_forward, description=f"Carried from {s.code}"
        f" ({s.period_start:%Y-%m-%d} to {s.period_end:%Y-%m-%d})",
        reference_type="settlement", reference_id=str(s.id), occurred_at=s.created_at,
        due_at=s.created_at, carried=True) for s in rows]


# -- reading ----------------------------------------------------------------------------------

async def settlement_out(session: AsyncSession, s: Settlement) -> SettlementOut:
    status = None
    if s.withdrawal_id is not None:
        status = await session.scalar(select(Withdrawal.status).where(
            Withdrawal.id == s.withdrawal_id))
    return SettlementOut.model_validate(s).model_copy(update={"payout_status": status})


async def detail(session: AsyncSession, s: Settlement) -> SettlementDetail:
    await session.refresh(s)
    lines = [SettlementLineOut.model_validate(line) for line in await session.scalars(
        select(SettlementLine).where(SettlementLine.settlement_id == s.id)
        .order_by(SettlementLine.due_at, SettlementLine.id))]
    totals: dict[str, int] = defaultdict(int)
    for line in lines:
        totals[line.kind] += line.amount
    return SettlementDetail(**(await settlement_out(session, s)).model_dump(),
                            totals=dict(totals), lines=lines)


async def get_settlement(session: AsyncSession, settlement_id: uuid.UUID, *,
                         merchant_id: uuid.UUID | None = None) -> SettlementDetail:
    """One settlement with its statement; another merchant's is not found."""
    s = await session.get(Settlement, settlement_id)
    if s is None or (merchant_id is not None and s.merchant_id != merchant_id):
        raise errors.SettlementNotFound(field="settlement_id")
    return await detail(session, s)


async def list_settlements(session: AsyncSession, *, merchant_id: uuid.UUID | None = None,
                           status: str | None = None, cursor: str | None = None,
                           limit: int = 50) -> SettlementPage:
    """Newest first, a keyset page at a time."""
    query = select(Settlement)
    if merchant_id is not None:
        query = query.where(Settlement.merchant_id == merchant_id)
    if status is not None:
        query = query.where(Settlement.status == status)
    rows, next_cursor = await keyset_page(session, query, Settlement.id, cursor, limit)
    return SettlementPage(items=[await settlement_out(session, s) for s in rows],
                          next_cursor=next_cursor)


def _cell(value: object) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    shown = "" if value is None else str(value)
    return f"'{shown}" if shown[:1] in ("=", "+", "@", "\t", "\r") else shown


def statement_csv(statement: SettlementDetail) -> str:
    """A header, then one row per line, in the statement's order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for number, line in enumerate(statement.lines, start=1):
        writer.writerow([
            number, line.kind, line.amount, statement.currency, _cell(line.description),
            _cell(line.order_number), line.order_id or "", line.transfer_id or "",
            _cell(line.reference_type), _cell(line.reference_id),
            "" if line.rate_bps is None else line.rate_bps, line.occurred_at.isoformat(),
            line.due_at.isoformat(), "yes" if line.carried else "no"])
    return out.getvalue()


def statement_json(statement: SettlementDetail) -> dict[str, object]:
    return statement.model_dump(mode="json")


# -- schedules --------------------------------------------------------------------------------

def period_due(frequency: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The period a merchant settled at `frequency` closes today, if one does: daily,
    yesterday; weekly, on Mondays, the week before (Monday to Sunday); biweekly, on Mondays of
    even ISO weeks, the two weeks before; monthly, on the 1st, the month before."""
    yesterday = today - dt.timedelta(days=1)
    if frequency == "daily":
        return yesterday, yesterday
    if frequency == "monthly":
        return (yesterday.replace(day=1), yesterday) if today.day == 1 else None
    weeks = {"weekly": 1, "biweekly": 2}.get(frequency)
    if weeks is None or today.weekday() != 0:
        return None
    if weeks == 2 and today.isocalendar().week % 2:
        return None
    return today - dt.timedelta(weeks=weeks), yesterday


async def due_runs(session: AsyncSession,
                   today: dt.date) -> list[tuple[uuid.UUID, dt.date, dt.date]]:
    """(merchant, first day, last day) of each settlement the schedule wants today and that
    is not made yet, or whose merchant has unpaid settlements to ask for again."""
    unpaid = set(await session.scalars(select(Settlement.merchant_id).where(
        Settlement.status == "unpaid").distinct()))
    runs = []
    for merchant_id, frequency in await merchants.settlement_schedules(session):
        period = period_due(frequency, today)
        if period is None:
            continue
        made = await session.scalar(select(Settlement.id).where(
            Settlement.merchant_id == merchant_id, Settlement.period_start == period[0],
            Settlement.period_end == period[1]))
        if made is None or merchant_id in unpaid:
            runs.append((merchant_id, *period))
    return runs
