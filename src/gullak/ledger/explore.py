"""Ledger reads for the back office: assets with their totals, accounts, an account's entries
with its balance after each, a transfer with its transaction, holds and lots, a page at a
time (kit.browse); and the ledger's checks, run as a job and kept for the console."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING, Any

from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.kit.browse import Browse, Page, page
from gullak.kit.errors import InvalidInput
from gullak.kit.ids import uuid7
from gullak.ledger import errors
from gullak.ledger.accounts import get_account
from gullak.ledger.models import Account, Balance, Check, Hold, Lot, Transfer
from gullak.ledger.schemas import (
    AccountRowOut,
    AssetTotalOut,
    HoldOut,
    LedgerCheckOut,
    LedgerEntryOut,
    LotOut,
    TransferDetailOut,
    TransferRowOut,
)
from gullak.ledger.verify import Report, verify_database

if TYPE_CHECKING:
    from gullak.kit.security import Subject

# -- assets and accounts ----------------------------------------------------------------------

# What users, merchants and cards hold is what the platform's few accounts owe (every asset
# sums to zero): read from those, not from every balance row.
_ASSETS = text("""
SELECT s.*,
       -COALESCE((SELECT sum(b.balance) FROM ledger_accounts a
                  JOIN ledger_balances b ON b.account_id = a.id
                  WHERE a.owner_type = 'platform' AND a.asset_code = s.code), 0) AS outstanding,
       COALESCE((SELECT sum(h.amount) FROM ledger_holds h
                 WHERE h.status = 'pending' AND h.asset_code = s.code), 0) AS pending_holds
FROM ledger_assets s ORDER BY s.code
""")


async def asset_totals(session: AsyncSession) -> list[AssetTotalOut]:
    rows = (await session.execute(_ASSETS)).mappings().all()
    return [AssetTotalOut.model_validate(dict(r)) for r in rows]


def _account_rows() -> Any:
    balance = (select(func.coalesce(func.sum(Balance.balance), 0))
               .where(Balance.account_id == Account.id).scalar_subquery())
    held = (select(func.coalesce(func.sum(Balance.held), 0))
            .where(Balance.account_id == Account.id).scalar_subquery())
    return select(Account.id, Account.asset_code, Account.owner_type, Account.owner_id,
                  Account.purpose, Account.shards, Account.frozen_reason, Account.created_at,
                  balance.label("balance"), held.label("held"))


async def browse_accounts(session: AsyncSession, browse: Browse, *, owner_type: str | None = None,
                          owner_id: uuid.UUID | None = None, asset_code: str | None = None,
                          purpose: str | None = None) -> Page:
    """Accounts, newest first by id (ids are time-ordered), each with its balance."""
    query = _account_rows()
    for column, value in ((Account.owner_type, owner_type), (Account.owner_id, owner_id),
                          (Account.asset_code, asset_code), (Account.purpose, purpose)):
        if value is not None:
            query = query.where(column == value)
    found = await page(session, query, browse, Account.id, {}, scalars=False)
    return Page([AccountRowOut.model_validate(dict(r._mapping)) for r in found.rows],
                found.next_cursor)


async def account_row(session: AsyncSession, account_id: uuid.UUID) -> AccountRowOut:
    row = (await session.execute(_account_rows().where(Account.id == account_id))).first()
    if row is None:
        raise errors.AccountNotFound(field="account_id")
    return AccountRowOut.model_validate(dict(row._mapping))


# -- an account's entries, with the balance after each ----------------------------------------

# Each entry stores its balance row's balance after it (`*_balance_after`), which is the
# account's own for an account of one shard. For every account alike, the page is read first,
# then the account's balance after its newest entry (the last balance of each shard up to it,
# summed: one index probe per shard), then each entry's balance after is that less what the
# newer entries of the page moved (a window over the page).
_ENTRIES = """
WITH page AS (
  SELECT * FROM (
    (SELECT id, seq, transaction_id, kind, -amount AS amount, credit_account_id AS counterparty,
            reference_type, reference_id, reverses_id, hold_id, created_at
     FROM ledger_transfers WHERE debit_account_id = :acc {after}
     ORDER BY seq {order} LIMIT {limit})
    UNION ALL
    (SELECT id, seq, transaction_id, kind, amount, debit_account_id, reference_type,
            reference_id, reverses_id, hold_id, created_at
     FROM ledger_transfers WHERE credit_account_id = :acc {after}
     ORDER BY seq {order} LIMIT {limit})
  ) e ORDER BY seq {order} LIMIT {limit}
), top AS (SELECT max(seq) AS seq FROM page),
base AS (
  SELECT COALESCE(sum(last.after), 0) AS balance
  FROM generate_series(0, :shards - 1) AS s(shard)
  CROSS JOIN LATERAL (
    SELECT after FROM (
      (SELECT seq, debit_balance_after AS after FROM ledger_transfers
       WHERE debit_account_id = :acc AND debit_shard = s.shard
         AND seq <= (SELECT seq FROM top) ORDER BY seq DESC LIMIT 1)
      UNION ALL
      (SELECT seq, credit_balance_after FROM ledger_transfers
       WHERE credit_account_id = :acc AND credit_shard = s.shard
         AND seq <= (SELECT seq FROM top) ORDER BY seq DESC LIMIT 1)
    ) x ORDER BY seq DESC LIMIT 1
  ) last
)
SELECT page.*, base.balance - COALESCE(sum(page.amount) OVER (
         ORDER BY page.seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
       AS balance_after
FROM page, base ORDER BY page.seq {order}
"""


async def entries(session: AsyncSession, account_id: uuid.UUID, browse: Browse) -> Page:
    """An account's entries, newest first (`-id`) or oldest first (`id`), each with the
    account's balance after it; the cursor is the last entry's number."""
    if browse.sort not in ("-id", "id"):
        raise InvalidInput("Entries are in posting order.", code="invalid_sort", field="sort")
    account = await get_account(session, account_id)
    descending = browse.sort == "-id"
    after, params = "", {"acc": account_id, "shards": account.shards}
    if browse.cursor is not None:
        if not (browse.cursor.isascii() and browse.cursor.isdigit()
                and len(browse.cursor) <= 18):
            raise InvalidInput("Malformed cursor.", code="invalid_cursor", field="cursor")
        after = "AND seq < :cursor" if descending else "AND seq > :cursor"
        params["cursor"] = int(browse.cursor)
    # The page size is written in (checked by Browse), as in queries.history: one plan each.
    sql = _ENTRIES.format(after=after, order="DESC" if descending else "ASC",
                          limit=int(browse.limit) + 1)
    rows = (await session.execute(text(sql), params)).mappings().all()
    found = [LedgerEntryOut(transfer_id=r["id"], seq=r["seq"], transaction_id=r["transaction_id"],
                            kind=r["kind"], amount=r["amount"], balance_after=r["balance_after"],
                            counterparty_account_id=r["counterparty"],
                            reference_type=r["reference_type"], reference_id=r["reference_id"],
                            reverses_id=r["reverses_id"], hold_id=r["hold_id"],
                            created_at=r["created_at"]) for r in rows]
    more = len(found) > browse.limit
    found = found[:browse.limit]
    return Page(found, str(found[-1].seq) if more else None)


# -- a transfer and its transaction -----------------------------------------------------------

# The transfers of one transaction get their ids in the same call as its id (all uuid7), so
# they lie within moments of it: the id range finds them through the primary key of one or
# two monthly partitions, where transaction_id has no index of its own.
_SIBLING_WINDOW_MS = 60_000


def _row(t: Transfer) -> TransferRowOut:
    return TransferRowOut(
        id=t.id, seq=t.seq, transaction_id=t.transaction_id, asset_code=t.asset_code,
        debit_account_id=t.debit_account_id, credit_account_id=t.credit_account_id,
        amount=t.amount, kind=t.kind, reference_type=t.reference_type,
        reference_id=t.reference_id, metadata=t.metadata_,
        debit_balance_after=t.debit_balance_after, credit_balance_after=t.credit_balance_after,
        reverses_id=t.reverses_id, hold_id=t.hold_id, created_at=t.created_at,
        debit_shard=t.debit_shard, credit_shard=t.credit_shard, lot_id=t.lot_id,
        lot_expires_at=t.lot_expires_at, actor_type=t.actor_type, actor_id=t.actor_id)


def _around(tx: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    ms = tx.int >> 80
    low = max(ms - _SIBLING_WINDOW_MS, 0)
    return uuid.UUID(int=low << 80), uuid.UUID(int=(ms + _SIBLING_WINDOW_MS + 1) << 80)


async def transfer_detail(session: AsyncSession, transfer_id: uuid.UUID) -> TransferDetailOut:
    t = await session.get(Transfer, transfer_id)
    if t is None:
        raise errors.TransferNotFound(field="transfer_id")
    low, high = _around(t.transaction_id)
    siblings = await session.scalars(select(Transfer).where(
        Transfer.transaction_id == t.transaction_id, Transfer.id >= low, Transfer.id < high)
        .order_by(Transfer.seq))
    reversals = await session.scalars(select(Transfer).where(Transfer.reverses_id == t.id)
                                      .order_by(Transfer.seq))
    return TransferDetailOut(
        transfer=_row(t), debit=await get_account(session, t.debit_account_id),
        credit=await get_account(session, t.credit_account_id),
        transaction=[_row(s) for s in siblings], reversals=[_row(r) for r in reversals])


# -- holds and lots ---------------------------------------------------------------------------

HOLD_STATUSES = ("pending", "captured", "released", "expired")
LOT_STATES = ("open", "expired", "used")


async def browse_holds(session: AsyncSession, browse: Browse, *, status: str | None = None,
                       account_id: uuid.UUID | None = None, asset_code: str | None = None,
                       reference_id: str | None = None) -> Page:
    query = select(Hold)
    for column, value in ((Hold.status, status), (Hold.account_id, account_id),
                          (Hold.asset_code, asset_code), (Hold.reference_id, reference_id)):
        if value is not None:
            query = query.where(column == value)
    found = await page(session, query, browse, Hold.id,
                       {"created": Hold.created_at, "expires": Hold.expires_at})
    return Page([HoldOut.model_validate(h) for h in found.rows], found.next_cursor)


async def browse_lots(session: AsyncSession, browse: Browse, *, state: str | None = None,
                      account_id: uuid.UUID | None = None, asset_code: str | None = None,
                      expires_before: dt.datetime | None = None) -> Page:
    """Lots with their owner; `open` still counts, `expired` waits for the sweep, `used` is
    spent or swept."""
    now = clock.now()
    query: Any = (select(Lot.id, Lot.account_id, Account.asset_code, Account.owner_type,
                    Account.owner_id, Lot.transfer_id, Lot.amount, Lot.remaining, Lot.reserved,
                    Lot.expires_at, Lot.created_at)
             .join(Account, Account.id == Lot.account_id))
    if state == "open":
        query = query.where(Lot.remaining > 0, Lot.expires_at > now)
    elif state == "expired":
        query = query.where(Lot.remaining > 0, Lot.expires_at <= now)
    elif state == "used":
        query = query.where(Lot.remaining == 0)
    if account_id is not None:
        query = query.where(Lot.account_id == account_id)
    if asset_code is not None:
        query = query.where(Account.asset_code == asset_code)
    if expires_before is not None:
        query = query.where(Lot.expires_at < expires_before)
    found = await page(session, query, browse, Lot.id,
                       {"expires": Lot.expires_at, "created": Lot.created_at}, scalars=False)
    return Page([LotOut.model_validate(dict(r._mapping)) for r in found.rows],
                found.next_cursor)


# -- the ledger's checks ----------------------------------------------------------------------

def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


async def record_check(session: AsyncSession, report: Report, *, started_at: dt.datetime,
                       requested_by: Subject | None = None) -> LedgerCheckOut:
    row = Check(id=uuid7(), ok=report.ok, transfers=report.transfers, accounts=report.accounts,
                results=[{"name": c.name, "failures": c.failures, "sample": _plain(c.sample)}
                         for c in report.checks],
                requested_by_kind=str(requested_by.kind) if requested_by else None,
                requested_by_id=requested_by.id if requested_by else None,
                started_at=started_at, finished_at=clock.now())
    session.add(row)
    await session.flush()
    return LedgerCheckOut.model_validate(row)


async def run_check(db: Database, requested_by: Subject | None = None) -> LedgerCheckOut:
    """Every check on one snapshot (verify_database), then its result kept in a unit of its
    own."""
    started = clock.now()
    report = await verify_database(db)
    async with unit_of_work(db) as session:
        return await record_check(session, report, started_at=started,
                                  requested_by=requested_by)


async def recent_checks(session: AsyncSession, limit: int = 10) -> list[LedgerCheckOut]:
    rows = await session.scalars(select(Check).order_by(Check.id.desc()).limit(limit))
    return [LedgerCheckOut.model_validate(r) for r in rows]


async def check_queued(session: AsyncSession) -> bool:
    """Whether a run of the checks waits in the job queue or is running."""
    found = await session.scalar(text(
        "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE task_name = 'ledger.verify'"
        " AND status IN ('todo', 'doing'))"))
    return bool(found)


async def request_check(session: AsyncSession, actor: Subject) -> int | None:
    """Queue a run of the checks with the caller's unit; None when one is queued already."""
    from gullak.ledger import jobs  # jobs import the service
    from gullak.worker import enqueue

    try:
        async with session.begin_nested():
            return await enqueue(session, jobs.verify, requested_by_kind=str(actor.kind),
                                 requested_by_id=str(actor.id))
    except AlreadyEnqueued:
        return None
