"""Posting transfers: one, a batch (all or none), reversals, and the expiry sweep of lots.

Each command the API exposes is one call of its ledger function (migrations/sql/0014): the
idempotency claim, the checks, the posting and the stored result in one round trip.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.errors import InvalidInput
from gullak.kit.ids import uuid7
from gullak.kit.sql import Array
from gullak.ledger import errors
from gullak.ledger.accounts import platform_account
from gullak.ledger.common import actor_of, call, check_amount, keyed, run, validate
from gullak.ledger.schemas import TransactionOut, TransferIn, TransferOut

if TYPE_CHECKING:
    from gullak.kit.security import Subject

_TRANSFER = ("SELECT * FROM ledger_transfer(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
             " %s::jsonb, %s, %s, %s, %s)")
_POST = ("SELECT * FROM ledger_post(%s, %s, %s, %s::uuid[], %s::text[], %s::uuid[], %s::uuid[],"
         " %s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s,"
         " %s, %s)")
_REVERSE = "SELECT * FROM ledger_reverse(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


def _out(t: TransferIn, id_: uuid.UUID, tx: uuid.UUID, seq: int, debit_after: int,
         credit_after: int, at: dt.datetime) -> TransferOut:
    # Every value is already checked (the request) or the database's own: no validation.
    return TransferOut.model_construct(
        id=id_, seq=seq, transaction_id=tx, asset_code=t.asset_code,
        debit_account_id=t.debit_account_id, credit_account_id=t.credit_account_id,
        amount=t.amount, kind=t.kind, reference_type=t.reference_type,
        reference_id=t.reference_id, metadata=t.metadata, debit_balance_after=debit_after,
        credit_balance_after=credit_after, reverses_id=None, hold_id=None, created_at=at)


async def transfer(session: AsyncSession, data: TransferIn, *, idempotency_key: str | None = None,
                   actor: Subject | None = None) -> TransferOut:
    """Post one transfer."""
    validate(data)
    key, digest = (None, None) if idempotency_key is None else keyed(
        idempotency_key, "transfer", data.model_dump(mode="json"))
    id_, tx = uuid7(), uuid7()
    replay, seq, debit_after, credit_after, at = await call(session, _TRANSFER, (
        key, digest, id_, tx, data.asset_code, data.debit_account_id, data.credit_account_id,
        data.amount, data.kind, data.reference_type, data.reference_id,
        json.dumps(data.metadata), data.lot_expires_at, clock.now(), *actor_of(actor)))
    if replay is not None:
        return TransferOut.model_validate(replay)
    return _out(data, id_, tx, seq, debit_after, credit_after, at)


async def post(session: AsyncSession, transfers: Sequence[TransferIn], *,
               idempotency_key: str | None = None, actor: Subject | None = None
               ) -> TransactionOut:
    """Post several transfers as one transaction: all or none. The database posts them as a
    set (one update per balance row) unless lots, limits or a refusal need the per-row path
    (migrations/sql/0015)."""
    if not transfers:
        raise InvalidInput("A batch needs at least one transfer.", field="transfers")
    for t in transfers:
        validate(t)
    key, digest = (None, None) if idempotency_key is None else keyed(
        idempotency_key, "post", [t.model_dump(mode="json") for t in transfers])
    tx = uuid7()
    ids = [uuid7() for _ in transfers]
    replay, seqs, debit_after, credit_after, ats = await call(session, _POST, (
        key, digest, tx, Array(ids),
        Array([t.asset_code for t in transfers]),
        Array([t.debit_account_id for t in transfers]),
        Array([t.credit_account_id for t in transfers]),
        Array([t.amount for t in transfers]),
        Array([t.kind for t in transfers]),
        Array([t.reference_type for t in transfers]),
        Array([t.reference_id for t in transfers]),
        Array([json.dumps(t.metadata) for t in transfers]),
        Array([t.lot_expires_at for t in transfers]),
        clock.now(), *actor_of(actor)))
    if replay is not None:
        return TransactionOut.model_validate(replay)
    return TransactionOut.model_construct(transaction_id=tx, transfers=[
        _out(t, ids[i], tx, seqs[i], debit_after[i], credit_after[i], ats[i])
        for i, t in enumerate(transfers)])


async def reverse(session: AsyncSession, transfer_id: uuid.UUID, *, reason: str,
                  amount: int | None = None, idempotency_key: str | None = None,
                  actor: Subject | None = None) -> TransferOut:
    """Post the opposite of a transfer (all of it, or part), linked to it."""
    if amount is not None:
        check_amount(amount)
    request = {"transfer_id": str(transfer_id), "amount": amount, "reason": reason}
    key, digest = keyed(idempotency_key, "reverse", request)
    _, result = await call(session, _REVERSE, (
        key, digest, uuid7(), uuid7(), transfer_id, amount, reason, clock.now(),
        *actor_of(actor)))
    return TransferOut.model_validate(result)


async def get_transfer(session: AsyncSession, transfer_id: uuid.UUID) -> TransferOut:
    row = (await session.execute(text("SELECT * FROM ledger_transfers WHERE id = :id"),
                                 {"id": transfer_id})).mappings().first()
    if row is None:
        raise errors.TransferNotFound(field="transfer_id")
    return TransferOut.model_validate(dict(row))


# -- the expiry sweep ---------------------------------------------------------------------

_INSERT_TRANSFERS = text("""
INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
    credit_account_id, amount, kind, reference_type, reference_id, metadata,
    debit_balance_after, credit_balance_after, lot_id, created_at)
SELECT t.id, 0, :tx, t.asset, t.debit, t.credit, t.amount, t.kind, t.rtype, t.rid, '{}', 0, 0,
       t.lot, :at
FROM unnest(CAST(:ids AS uuid[]), CAST(:assets AS text[]), CAST(:debits AS uuid[]),
            CAST(:credits AS uuid[]), CAST(:amounts AS bigint[]), CAST(:kinds AS text[]),
            CAST(:rtypes AS text[]), CAST(:rids AS text[]), CAST(:lots AS uuid[]))
     WITH ORDINALITY AS t(id, asset, debit, credit, amount, kind, rtype, rid, lot, ord)
ORDER BY t.ord
""")

# Several transfers in one transaction lock every balance row they will touch up front, in
# the global order the transfer trigger uses (account, then shard; a transaction posts to one
# shard of a sharded account, migrations/sql/0047): no deadlocks. The rows' last posted times
# let the transaction take one time for all its transfers.
_LOCK_BALANCES = text("""
SELECT b.last_posted_at FROM ledger_balances b
WHERE b.account_id = ANY(CAST(:debits AS uuid[]) || CAST(:credits AS uuid[]))
  AND b.shard = ledger_shard_key() % b.shards
ORDER BY b.account_id, b.shard
FOR UPDATE OF b
""")


async def expire_lots(session: AsyncSession, *, limit: int = 1000) -> int:
    """Move what is left of expired lots to the asset's breakage account, as transfers."""
    rows = (await session.execute(text("""
        SELECT l.id, l.account_id, l.remaining - l.reserved AS free, a.asset_code
        FROM ledger_lots l JOIN ledger_accounts a ON a.id = l.account_id
        WHERE l.remaining > l.reserved AND l.expires_at <= :now
        ORDER BY l.account_id, l.expires_at LIMIT :limit FOR UPDATE OF l SKIP LOCKED
    """), {"now": clock.now(), "limit": limit})).all()
    if not rows:
        return 0
    breakage: dict[str, uuid.UUID] = {}
    for code in {r.asset_code for r in rows}:
        breakage[code] = (await platform_account(session, code, "breakage")).id
    ids = [uuid7() for _ in rows]
    debits = [r.account_id for r in rows]
    credits = [breakage[r.asset_code] for r in rows]
    times = (await run(session, _LOCK_BALANCES, {
        "debits": debits, "credits": credits})).scalars().all()
    # Not earlier than the last transfer on any row it locked, as the trigger would make each
    # transfer anyway: this way all of them share one time.
    at = max([clock.now(), *(t for t in times if t is not None)])
    await run(session, _INSERT_TRANSFERS, {
        "tx": uuid7(), "at": at, "ids": ids, "assets": [r.asset_code for r in rows],
        "debits": debits, "credits": credits, "amounts": [r.free for r in rows],
        "kinds": ["expire"] * len(rows), "rtypes": ["ledger_lot"] * len(rows),
        "rids": [str(r.id) for r in rows], "lots": [r.id for r in rows]})
    return len(rows)
