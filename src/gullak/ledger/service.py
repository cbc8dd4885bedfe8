"""Ledger commands and queries, the domain's public face: assets and accounts, transfers,
holds and reads live in their own modules and are re-exported here. Services never commit:
the caller's unit of work does.

A ledger command that fails leaves the caller's transaction aborted (it is a database error
underneath); a caller that wants to carry on after a refusal wraps the call in
`session.begin_nested()`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from gullak.ledger.accounts import (
    PLATFORM_SHARDS,
    create_asset,
    freeze,
    get_account,
    get_asset,
    list_assets,
    open_account,
    platform_account,
    set_limits,
    unfreeze,
    user_account,
    user_accounts,
)
from gullak.ledger.common import RESERVED_KINDS, check_amount, request_hash, validate
from gullak.ledger.explore import (
    HOLD_STATUSES,
    LOT_STATES,
    account_row,
    asset_totals,
    browse_accounts,
    browse_holds,
    browse_lots,
    check_queued,
    entries,
    recent_checks,
    record_check,
    request_check,
    run_check,
    transfer_detail,
)
from gullak.ledger.holds import capture, expire_holds, get_hold, place_hold, release
from gullak.ledger.models import Account, Balance, Transfer
from gullak.ledger.posting import Poster
from gullak.ledger.queries import (
    EXPIRING_SOON,
    balance,
    balance_at,
    find_account,
    history,
    holdings,
)
from gullak.ledger.transfers import expire_lots, get_transfer, post, reverse, transfer

__all__ = [
    "EXPIRING_SOON", "PLATFORM_SHARDS", "Poster", "RESERVED_KINDS",
    "balance", "balance_at", "capture", "check_amount", "create_asset", "expire_holds",
    "expire_lots", "find_account", "freeze", "get_account", "get_asset", "get_hold",
    "get_transfer", "history", "holdings", "list_assets", "open_account", "place_hold",
    "platform_account", "post", "release", "request_hash", "reverse", "set_limits", "transfer",
    "unfreeze", "user_account", "user_accounts", "validate",
    # the back office's views (explore.py)
    "HOLD_STATUSES", "LOT_STATES", "account_row", "asset_totals", "browse_accounts",
    "browse_holds", "browse_lots", "check_queued", "entries", "recent_checks", "record_check",
    "request_check", "run_check", "transfer_detail",
]


# -- exports: a period's transfers, streamed --------------------------------------------------

EXPORT_COLUMNS = (
    "id", "seq", "transaction_id", "asset_code", "amount", "kind", "debit_account_id",
    "debit_owner_type", "debit_owner_id", "credit_account_id", "credit_owner_type",
    "credit_owner_id", "reference_type", "reference_id", "reverses_id", "hold_id",
    "actor_type", "actor_id", "created_at")


async def stream_transfers(session: AsyncSession, since: dt.datetime, until: dt.datetime, *,
                           batch: int = 2000) -> AsyncIterator[dict[str, Any]]:
    """The transfers posted in [since, until), in posting order (`seq`), through a
    server-side cursor, as dicts keyed by `EXPORT_COLUMNS`, each side with its account's
    owner. No metadata: it may hold what a caller chose to put there."""
    debit, credit = aliased(Account), aliased(Account)
    query = (select(Transfer.id, Transfer.seq, Transfer.transaction_id, Transfer.asset_code,
                    Transfer.amount, Transfer.kind, Transfer.debit_account_id,
                    debit.owner_type.label("debit_owner_type"),
                    debit.owner_id.label("debit_owner_id"), Transfer.credit_account_id,
                    credit.owner_type.label("credit_owner_type"),
                    credit.owner_id.label("credit_owner_id"), Transfer.reference_type,
                    Transfer.reference_id, Transfer.reverses_id, Transfer.hold_id,
                    Transfer.actor_type, Transfer.actor_id, Transfer.created_at)
             .join(debit, debit.id == Transfer.debit_account_id)
             .join(credit, credit.id == Transfer.credit_account_id)
             .where(Transfer.created_at >= since, Transfer.created_at < until)
             .order_by(Transfer.seq)
             .execution_options(yield_per=batch))
    # A batch at a time: the async result crosses into the driver's greenlet once a batch.
    async for rows in (await session.stream(query)).mappings().partitions():
        for row in rows:
            yield dict(row)


# -- segments: who holds how much, as a statement another domain combines (campaigns) ---------

def users_with_balance(asset_code: str, low: int | None,
                       high: int | None) -> Select[uuid.UUID]:
    """Users whose main account of the asset holds a posted balance in [low, high]; a user
    with no such account is not in any band."""
    total = func.sum(Balance.balance)
    query = (select(Account.owner_id).join(Balance, Balance.account_id == Account.id)
             .where(Account.owner_type == "user", Account.asset_code == asset_code,
                    Account.purpose == "main")
             .group_by(Account.owner_id))
    if low is not None:
        query = query.having(total >= low)
    if high is not None:
        query = query.having(total <= high)
    return query  # type: ignore[return-value]  # owner_id is never NULL for a user's account


# -- analytics: a day's coin flows ------------------------------------------------------------

async def coin_flows_on(session: AsyncSession, day: dt.date) -> dict[str, int]:
    """Coins (every asset of kind coin, summed) issued by the platform to users, spent by users
    to anyone else, and expired, on a UTC day. Reversals count in none of them."""
    from sqlalchemy import text

    since = dt.datetime.combine(day, dt.time(), dt.UTC)
    row = (await session.execute(text("""
        SELECT coalesce(sum(t.amount) FILTER (WHERE d.owner_type = 'platform'
                   AND c.owner_type = 'user' AND t.kind <> 'reversal'), 0) AS issued,
               coalesce(sum(t.amount) FILTER (WHERE d.owner_type = 'user'
                   AND c.owner_type <> 'user' AND t.kind NOT IN ('expire', 'reversal')), 0)
                   AS spent,
               coalesce(sum(t.amount) FILTER (WHERE t.kind = 'expire'), 0) AS expired
        FROM ledger_transfers t
        JOIN ledger_assets a ON a.code = t.asset_code AND a.kind = 'coin'
        JOIN ledger_accounts d ON d.id = t.debit_account_id
        JOIN ledger_accounts c ON c.id = t.credit_account_id
        -- the id's month bounds the partitions read; created_at may trail its id a little
        WHERE t.id >= gullak_uuid7_floor(:since - interval '1 day')
          AND t.id < gullak_uuid7_floor(:until + interval '1 day')
          AND t.created_at >= :since AND t.created_at < :until
    """), {"since": since, "until": since + dt.timedelta(days=1)})).one()
    return {"issued": int(row.issued), "spent": int(row.spent), "expired": int(row.expired)}


# -- notifications: coins about to expire -----------------------------------------------------

async def lots_expiring(session: AsyncSession, since: dt.datetime, until: dt.datetime,
                        ) -> list[tuple[uuid.UUID, str, int, dt.datetime]]:
    """Per user and asset, the coins left (not reserved by a hold) in lots expiring in
    [since, until): (user_id, asset_code, amount, earliest expiry), by user."""
    from sqlalchemy import func

    from gullak.ledger.models import Lot

    left = func.sum(Lot.remaining - Lot.reserved)
    rows = await session.execute(
        select(Account.owner_id, Account.asset_code, left, func.min(Lot.expires_at))
        .join(Account, Account.id == Lot.account_id)
        .where(Account.owner_type == "user", Lot.remaining > 0,
               Lot.expires_at >= since, Lot.expires_at < until)
        .group_by(Account.owner_id, Account.asset_code)
        .having(left > 0)
        .order_by(Account.owner_id, Account.asset_code))
    return [(owner, asset, int(amount), first) for owner, asset, amount, first in rows
            if owner is not None]
