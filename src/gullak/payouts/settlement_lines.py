"""The lines of a merchant's settlement, read from the merchant's INR account in the ledger:
every entry on it is one line, except the settlements' own payouts (entries referring to a
withdrawal), which pay lines rather than make them.

When a line is due:
- an entry of an order (its payment, commission, refunds) once the order is closed, that is
  completed or cancelled (orders.service.settlement_facts), and not before the entry itself:
  money of an order still being fulfilled stays on the account until a later run;
- any other entry (merchant-funded rewards and their reversals, gift cards funded by the
  merchant, adjustments) when it is posted.
A run takes every line due before its period ends and not settled before; those due before the
period began are marked `carried` (a refund after an earlier settlement, an order that closed
late). Nothing is settled twice: each line names its transfer, unique per merchant.

A run reads the account from the last run's `scan_from` on: everything posted before it was
settled then, or belonged to an order still open (the oldest of those sets it back), less a
margin for transactions that were still committing while that run read.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.ledger import service as ledger
from gullak.ledger.schemas import EntryOut
from gullak.orders import service as orders
from gullak.payouts.models import SettlementLine

PAGE = 500
MARGIN = dt.timedelta(hours=1)
PAYOUT_REFERENCE = "withdrawal"
ORDER_KINDS = {"order_payment": "order", "order_commission": "commission",
               "order_refund": "refund", "order_commission_refund": "commission_refund"}
REFERENCE_KINDS = {"reward": "reward", "gift_card": "gift_card"}


@dataclass(frozen=True)
class Window:
    """A period as instants: from its first day's midnight (UTC) to the one after its last."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def of(cls, first: dt.date, last: dt.date) -> Window:
        start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
        return cls(start, dt.datetime.combine(last, dt.time(), tzinfo=dt.UTC)
                   + dt.timedelta(days=1))


@dataclass
class Found:
    lines: list[SettlementLine]
    scan_from: dt.datetime


def source_of(entry: EntryOut) -> str:
    return f"transfer:{entry.transfer_id}"


def _order_id(entry: EntryOut) -> uuid.UUID | None:
    if entry.reference_type != "order" or entry.reference_id is None:
        return None
    try:
        return uuid.UUID(entry.reference_id)
    except ValueError:
        return None


def _describe(kind: str, entry: EntryOut, number: str | None) -> str:
    rate = entry.metadata.get("rate_bps")
    texts = {
        "order": f"Order {number} paid",
        "commission": f"Commission on order {number}"
                      + (f" at {rate / 100:.2f}%" if isinstance(rate, int) else ""),
        "refund": f"Refund on order {number}",
        "commission_refund": f"Commission given back on order {number}",
        "reward": "Merchant-funded reward" if entry.amount < 0
                  else "Merchant-funded reward taken back",
        "gift_card": "Gift card funded" if entry.amount < 0 else "Gift card value returned",
    }
    return texts.get(kind, f"{entry.kind.replace('_', ' ').capitalize()}"
                           f" ({entry.reference_type or 'no reference'})")


def _kind(entry: EntryOut) -> str:
    if entry.reference_type == "order" and entry.kind in ORDER_KINDS:
        return ORDER_KINDS[entry.kind]
    return REFERENCE_KINDS.get(entry.reference_type or "", "adjustment")


async def _settled(session: AsyncSession, merchant_id: uuid.UUID,
                   sources: list[str]) -> set[str]:
    if not sources:
        return set()
    return set(await session.scalars(select(SettlementLine.source).where(
        SettlementLine.merchant_id == merchant_id, SettlementLine.source.in_(sources))))


async def from_ledger(session: AsyncSession, merchant_id: uuid.UUID, account_id: uuid.UUID,
                      floor: dt.datetime | None, window: Window, now: dt.datetime) -> Found:
    """The lines due in `window` and not settled yet, from `floor` on (None: from the first
    entry), and where the next run may start reading."""
    lines: list[SettlementLine] = []
    oldest_open: dt.datetime | None = None
    cursor: str | None = None
    while True:
        page = await ledger.history(session, account_id, limit=PAGE, cursor=cursor,
                                    since=floor, until=window.end)
        entries = [e for e in page.entries if e.reference_type != PAYOUT_REFERENCE]
        settled = await _settled(session, merchant_id, [source_of(e) for e in entries])
        entries = [e for e in entries if source_of(e) not in settled]
        facts = await orders.settlement_facts(
            session, merchant_id, [o for e in entries if (o := _order_id(e)) is not None])
        for entry in entries:
            order_id = _order_id(entry)
            order = facts.get(order_id) if order_id is not None else None
            if order is not None and (order.closed_at is None or order.closed_at >= window.end):
                oldest_open = min(oldest_open or entry.created_at, entry.created_at)
                continue
            due = max(entry.created_at, order.closed_at) if order and order.closed_at \
                else entry.created_at
            kind = _kind(entry)
            rate = entry.metadata.get("rate_bps")
            number = order.number if order else None
            lines.append(SettlementLine(
                merchant_id=merchant_id, source=source_of(entry), kind=kind,
                amount=entry.amount, description=_describe(kind, entry, number),
                transfer_id=entry.transfer_id, order_id=order.order_id if order else None,
                order_number=number,
                reference_type=entry.reference_type, reference_id=entry.reference_id,
                rate_bps=rate if kind == "commission" and isinstance(rate, int) else None,
                occurred_at=entry.created_at, due_at=due, carried=due < window.start))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    read_to = min(window.end, now) - MARGIN
    return Found(lines, min(oldest_open, read_to) if oldest_open else read_to)
