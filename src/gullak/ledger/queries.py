"""Ledger reads: balances, holdings, history, and balances as of a past time."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.errors import InvalidInput
from gullak.ledger import errors
from gullak.ledger.accounts import get_account
from gullak.ledger.common import rows
from gullak.ledger.models import Account
from gullak.ledger.schemas import (
    AccountOut,
    BalanceOut,
    EntryOut,
    HistoryPage,
    HoldingOut,
    OwnerType,
)

EXPIRING_SOON = dt.timedelta(days=7)


# What an account's lots hold that no longer counts (expired, not reserved by a hold) and what
# expires soon; nothing for an account without lots. Shared by the balance and the holdings.
_LOTS = """
LEFT JOIN LATERAL (
  SELECT sum(remaining - reserved) FILTER (WHERE expires_at <= %(now)s) AS expired_free,
         sum(remaining) FILTER (WHERE expires_at > %(now)s AND expires_at <= %(soon)s)
           AS expiring_soon
  FROM ledger_lots WHERE a.lots AND account_id = a.id AND remaining > 0
) l ON true"""

# Both run on the driver (common.rows): they are the reads behind every wallet screen.
# The balance rows (one per shard) read once for both sums.
_BALANCE = f"""
SELECT a.asset_code, a.lots, b.balance, b.held, l.expired_free, l.expiring_soon
FROM ledger_accounts a
CROSS JOIN LATERAL (
  SELECT sum(balance) AS balance, sum(held) AS held FROM ledger_balances WHERE account_id = a.id
) b{_LOTS}
WHERE a.id = %(id)s
"""


async def balance(session: AsyncSession, account_id: uuid.UUID, *,
                  soon: dt.timedelta = EXPIRING_SOON) -> BalanceOut:
    """Posted (never counting an expired lot), held, available, and what expires soon."""
    now = clock.now()
    found = await rows(session, _BALANCE, {"id": account_id, "now": now, "soon": now + soon})
    if not found:
        raise errors.AccountNotFound(field="account_id")
    asset_code, lots, total, held, expired_free, expiring_soon = found[0]
    posted = int(total) - int(expired_free or 0)
    return BalanceOut(
        account_id=account_id, asset_code=asset_code, posted=posted, held=int(held),
        available=posted - int(held), expiring_soon=int(expiring_soon or 0),
        expiring_before=now + soon if lots else None,
    )


_HOLDINGS = f"""
SELECT s.code, s.name, s.kind, s.scale, s.expires, s.merchant_id, a.id AS account_id,
       COALESCE(b.balance, 0) AS balance, COALESCE(b.held, 0) AS held,
       l.expired_free, l.expiring_soon, a.lots,
       (SELECT sum(b2.balance) FROM ledger_accounts p JOIN ledger_balances b2
          ON b2.account_id = p.id
        WHERE p.asset_code = s.code AND p.owner_type = %(owner_type)s
          AND p.owner_id = %(owner_id)s AND p.purpose = 'pending') AS pending
FROM ledger_assets s
LEFT JOIN ledger_accounts a ON a.asset_code = s.code AND a.owner_type = %(owner_type)s
  AND a.owner_id = %(owner_id)s AND a.purpose = %(purpose)s
LEFT JOIN LATERAL (
  SELECT sum(balance) AS balance, sum(held) AS held FROM ledger_balances WHERE account_id = a.id
) b ON true{_LOTS}
ORDER BY s.code
"""


async def holdings(session: AsyncSession, owner_type: OwnerType | str, owner_id: uuid.UUID, *,
                   purpose: str = "main", soon: dt.timedelta = EXPIRING_SOON) -> list[HoldingOut]:
    """An owner's balance in every asset, zero where it has no account yet, in one query (a
    wallet screen is on every app's home page)."""
    now = clock.now()
    found = await rows(session, _HOLDINGS, {
        "owner_type": str(owner_type), "owner_id": owner_id, "purpose": purpose, "now": now,
        "soon": now + soon})
    out = []
    for (code, name, kind, scale, expires, merchant_id, account_id, total, held, expired_free,
         expiring_soon, lots, pending) in found:
        posted = int(total) - int(expired_free or 0)
        out.append(HoldingOut(
            asset_code=code, asset_name=name, asset_kind=kind, scale=scale, expires=expires,
            merchant_id=merchant_id, account_id=account_id, posted=posted, held=int(held),
            available=posted - int(held), expiring_soon=int(expiring_soon or 0),
            expiring_before=now + soon if lots else None, pending=int(pending or 0)))
    return out


async def find_account(session: AsyncSession, owner_type: OwnerType | str, owner_id: uuid.UUID,
                       asset_code: str, purpose: str = "main") -> AccountOut | None:
    """An owner's account in an asset, or None; opens nothing (`user_account` does)."""
    row = await session.scalar(select(Account).where(
        Account.owner_type == str(owner_type), Account.owner_id == owner_id,
        Account.asset_code == asset_code, Account.purpose == purpose))
    return None if row is None else AccountOut.model_validate(row)


_HISTORY = """
SELECT * FROM (
  (SELECT id, seq, transaction_id, kind, -amount AS amount, debit_balance_after AS balance_after,
          credit_account_id AS counterparty, reference_type, reference_id, metadata,
          reverses_id, created_at
   FROM ledger_transfers WHERE debit_account_id = :acc {filters}
   ORDER BY seq DESC LIMIT {limit})
  UNION ALL
  (SELECT id, seq, transaction_id, kind, amount, credit_balance_after, debit_account_id,
          reference_type, reference_id, metadata, reverses_id, created_at
   FROM ledger_transfers WHERE credit_account_id = :acc {filters}
   ORDER BY seq DESC LIMIT {limit})
) e ORDER BY seq DESC LIMIT {limit}
"""


async def history(
    session: AsyncSession,
    account_id: uuid.UUID,
    *,
    limit: int = 50,
    cursor: str | None = None,
    kind: str | None = None,
    reference_type: str | None = None,
    reference_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> HistoryPage:
    """Entries of one account, newest first, a keyset page at a time."""
    if not 1 <= limit <= 500:
        raise InvalidInput("limit must be between 1 and 500.", field="limit")
    params: dict[str, Any] = {"acc": account_id}
    filters = []
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 19):
            raise InvalidInput("Malformed cursor.", field="cursor")
        filters.append("AND seq < :cursor")
        params["cursor"] = int(cursor)
    for name, value, clause in (
        ("kind", kind, "AND kind = :kind"),
        ("rtype", reference_type, "AND reference_type = :rtype"),
        ("rid", reference_id, "AND reference_id = :rid"),
        ("since", since, "AND created_at >= :since"),
        ("until", until, "AND created_at < :until"),
    ):
        if value is not None:
            filters.append(clause)
            params[name] = value
    # The page size is written into the SQL (checked above to be 1-500), not bound: with every
    # parameter bound, PostgreSQL planned each page afresh over every monthly partition of the
    # transfers (about 1 ms, most of a page); with it written in, the prepared statement keeps
    # one generic plan per page size.
    sql = _HISTORY.format(filters=" ".join(filters), limit=int(limit))
    rows = (await session.execute(text(sql), params)).all()
    entries = [EntryOut(transfer_id=r.id, seq=r.seq, transaction_id=r.transaction_id,
                        kind=r.kind, amount=r.amount, balance_after=r.balance_after,
                        counterparty_account_id=r.counterparty, reference_type=r.reference_type,
                        reference_id=r.reference_id, metadata=r.metadata,
                        reverses_id=r.reverses_id, created_at=r.created_at) for r in rows]
    if not entries:
        await get_account(session, account_id)  # only an empty page needs to tell "no such"
    next_cursor = str(entries[-1].seq) if len(entries) == limit else None
    return HistoryPage(entries=entries, next_cursor=next_cursor)


# On each balance row entry times follow seq (the posting trigger sees to it, 0013), so the
# entries made up to :at are a prefix of the row's history and the newest of them carries the
# balance after exactly those.
_BALANCE_AT = text("""
SELECT COALESCE(sum(last.balance_after), 0) FROM generate_series(0, :shards - 1) AS s(shard)
CROSS JOIN LATERAL (
  SELECT balance_after FROM (
    (SELECT seq, debit_balance_after AS balance_after FROM ledger_transfers
     WHERE debit_account_id = :acc AND debit_shard = s.shard AND created_at <= :at
     ORDER BY seq DESC LIMIT 1)
    UNION ALL
    (SELECT seq, credit_balance_after FROM ledger_transfers
     WHERE credit_account_id = :acc AND credit_shard = s.shard AND created_at <= :at
     ORDER BY seq DESC LIMIT 1)
  ) x ORDER BY seq DESC LIMIT 1
) last
""")


# What lots that had expired by `at` still held then: what they hold now, plus what the
# sweep took from them after `at` (reservations of pending holds are not counted as expired,
# as in `balance`).
_EXPIRED_AT = text("""
SELECT COALESCE(sum(l.remaining - l.reserved + COALESCE(
         (SELECT sum(t.amount) FROM ledger_transfers t
          WHERE t.lot_id = l.id AND t.kind = 'expire' AND t.created_at > :at), 0)), 0)
FROM ledger_lots l WHERE l.account_id = :acc AND l.expires_at <= :at AND l.created_at <= :at
""")


async def balance_at(session: AsyncSession, account_id: uuid.UUID, at: dt.datetime) -> int:
    """The posted balance as `balance` would have shown it at `at`: from the balance kept on
    every entry, less what expired lots still held then."""
    account = await get_account(session, account_id)
    value = await session.scalar(_BALANCE_AT, {"acc": account_id, "shards": account.shards,
                                               "at": at})
    expired = 0
    if account.owner_type != OwnerType.platform:
        expired = int(await session.scalar(_EXPIRED_AT, {"acc": account_id, "at": at}) or 0)
    return int(value or 0) - expired
