"""Ledger commands and queries. Services never commit: the caller's unit of work does.

A ledger command that fails leaves the caller's transaction aborted (it is a database error
underneath); a caller that wants to carry on after a refusal wraps the call in
`session.begin_nested()`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.errors import InvalidInput
from gullak.kit.ids import uuid7
from gullak.ledger import errors
from gullak.ledger.models import Account, Asset, Hold
from gullak.ledger.schemas import (
    MAX_AMOUNT,
    AccountIn,
    AccountOut,
    AssetIn,
    AssetOut,
    BalanceOut,
    CaptureIn,
    CaptureOut,
    EntryOut,
    HistoryPage,
    HoldIn,
    HoldingOut,
    HoldOut,
    OwnerType,
    TransactionOut,
    TransferIn,
    TransferOut,
)

PLATFORM_SHARDS = 16  # platform accounts take the hot traffic (issuance, breakage...)
EXPIRING_SOON = dt.timedelta(days=7)
R = TypeVar("R", bound=BaseModel)


# -- errors -------------------------------------------------------------------------------

def _translate(exc: DBAPIError) -> Exception:
    """The domain error for a database refusal raised by the ledger's triggers and checks."""
    diag = getattr(exc.orig, "diag", None)
    message = getattr(diag, "message_primary", None) or str(exc.orig)
    known = errors.from_database(getattr(exc.orig, "sqlstate", None),
                                 getattr(diag, "constraint_name", None), message)
    return known or exc


async def _run(session: AsyncSession, statement: Any, params: Any = None) -> Any:
    try:
        return await session.execute(statement, params)
    except DBAPIError as exc:
        raise _translate(exc) from exc


def check_amount(amount: object, field: str = "amount") -> int:
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
        raise errors.InvalidAmount(field=field)
    return amount


# -- idempotency --------------------------------------------------------------------------

def request_hash(command: str, request: Any) -> str:
    payload = json.dumps([command, request], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


async def _idempotent(
    session: AsyncSession,
    key: str | None,
    command: str,
    request: Any,
    result_type: type[R],
    run: Callable[[], Awaitable[R]],
) -> R:
    """Run `run` once per key. The claim is a row inserted first: a concurrent duplicate
    waits on it, then finds the stored result (or, if the first rolled back, runs itself)."""
    if key is None:
        return await run()
    digest = request_hash(command, request)
    claimed = (await session.execute(
        text("INSERT INTO ledger_idempotency (key, request_hash) VALUES (:k, :h)"
             " ON CONFLICT (key) DO NOTHING RETURNING key"),
        {"k": key, "h": digest},
    )).first()
    if claimed is None:
        row = (await session.execute(
            text("SELECT request_hash, result FROM ledger_idempotency WHERE key = :k"),
            {"k": key},
        )).one()
        if row.request_hash != digest:
            raise errors.IdempotencyKeyReused(field="idempotency_key")
        return result_type.model_validate(row.result)
    result = await run()
    await session.execute(
        text("UPDATE ledger_idempotency SET result = CAST(:r AS jsonb) WHERE key = :k"),
        {"k": key, "r": result.model_dump_json()},
    )
    return result


# -- assets and accounts ------------------------------------------------------------------

async def create_asset(session: AsyncSession, data: AssetIn) -> AssetOut:
    if data.expires and data.lifetime_days is None:
        raise InvalidInput("An expiring asset needs lifetime_days.", field="lifetime_days")
    if await session.get(Asset, data.code) is not None:
        raise errors.AssetExists(field="code")
    asset = Asset(**data.model_dump())
    session.add(asset)
    await session.flush()
    await session.refresh(asset)
    return AssetOut.model_validate(asset)


async def get_asset(session: AsyncSession, code: str) -> AssetOut:
    asset = await session.get(Asset, code)
    if asset is None:
        raise errors.AssetNotFound(field="asset_code")
    return AssetOut.model_validate(asset)


async def list_assets(session: AsyncSession) -> list[AssetOut]:
    rows = await session.scalars(select(Asset).order_by(Asset.code))
    return [AssetOut.model_validate(a) for a in rows]


async def open_account(session: AsyncSession, data: AccountIn) -> AccountOut:
    """The account of this owner, asset and purpose; opened on first use."""
    asset = await get_asset(session, data.asset_code)
    platform = data.owner_type == OwnerType.platform
    if platform != (data.owner_id is None):
        raise InvalidInput("owner_id is required, except for platform accounts.",
                                  field="owner_id")
    shards = PLATFORM_SHARDS if platform else 1
    account_id = uuid7()
    inserted = (await session.execute(
        text("""INSERT INTO ledger_accounts (id, asset_code, owner_type, owner_id, purpose,
                    allow_negative, shards, lots, daily_limit, monthly_limit)
                VALUES (:id, :asset, :otype, :oid, :purpose, :neg, :shards, :lots, :dl, :ml)
                ON CONFLICT ON CONSTRAINT uq_ledger_accounts_owner DO NOTHING RETURNING id"""),
        {"id": account_id, "asset": asset.code, "otype": data.owner_type.value,
         "oid": data.owner_id, "purpose": data.purpose, "neg": platform, "shards": shards,
         "lots": asset.expires and not platform, "dl": data.daily_limit,
         "ml": data.monthly_limit},
    )).first()
    if inserted is not None:
        await session.execute(
            text("INSERT INTO ledger_balances (account_id, shard, asset_code, shards,"
                 " allow_negative, lots, limited)"
                 " SELECT :id, s, :asset, :shards, :neg, :lots, :limited"
                 " FROM generate_series(0, :shards - 1) AS s"),
            {"id": account_id, "asset": asset.code, "neg": platform, "shards": shards,
             "lots": asset.expires and not platform,
             "limited": data.daily_limit is not None or data.monthly_limit is not None},
        )
    account = await session.scalar(select(Account).where(
        Account.owner_type == data.owner_type.value,
        Account.owner_id.is_(None) if platform else Account.owner_id == data.owner_id,
        Account.asset_code == asset.code,
        Account.purpose == data.purpose,
    ))
    assert account is not None
    return AccountOut.model_validate(account)


async def user_account(session: AsyncSession, user_id: uuid.UUID, asset_code: str) -> AccountOut:
    return await open_account(session, AccountIn(asset_code=asset_code, owner_type=OwnerType.user,
                                                 owner_id=user_id))


async def platform_account(session: AsyncSession, asset_code: str, purpose: str) -> AccountOut:
    return await open_account(session, AccountIn(asset_code=asset_code,
                                                 owner_type=OwnerType.platform, purpose=purpose))


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> AccountOut:
    account = await session.get(Account, account_id)
    if account is None:
        raise errors.AccountNotFound(field="account_id")
    return AccountOut.model_validate(account)


async def freeze(session: AsyncSession, account_id: uuid.UUID, reason: str) -> AccountOut:
    """No debits until unfrozen. The balance rows carry the flag, so a transfer that locks
    them sees the freeze the moment it commits."""
    await get_account(session, account_id)
    await session.execute(text("UPDATE ledger_balances SET frozen = true WHERE account_id = :a"),
                          {"a": account_id})
    await session.execute(
        text("UPDATE ledger_accounts SET frozen_reason = :r, frozen_at = :t WHERE id = :a"),
        {"a": account_id, "r": reason, "t": clock.now()},
    )
    return await _refreshed(session, account_id)


async def unfreeze(session: AsyncSession, account_id: uuid.UUID) -> AccountOut:
    await get_account(session, account_id)
    await session.execute(text("UPDATE ledger_balances SET frozen = false WHERE account_id = :a"),
                          {"a": account_id})
    await session.execute(
        text("UPDATE ledger_accounts SET frozen_reason = NULL, frozen_at = NULL WHERE id = :a"),
        {"a": account_id},
    )
    return await _refreshed(session, account_id)


async def set_limits(session: AsyncSession, account_id: uuid.UUID, *, daily: int | None,
                     monthly: int | None) -> AccountOut:
    for value, field in ((daily, "daily_limit"), (monthly, "monthly_limit")):
        if value is not None:
            check_amount(value, field)
    await get_account(session, account_id)
    await session.execute(
        text("UPDATE ledger_accounts SET daily_limit = :d, monthly_limit = :m WHERE id = :a"),
        {"a": account_id, "d": daily, "m": monthly},
    )
    await session.execute(text("UPDATE ledger_balances SET limited = :l WHERE account_id = :a"),
                          {"a": account_id, "l": daily is not None or monthly is not None})
    return await _refreshed(session, account_id)


async def _refreshed(session: AsyncSession, account_id: uuid.UUID) -> AccountOut:
    account = await session.get(Account, account_id, populate_existing=True)
    assert account is not None
    return AccountOut.model_validate(account)


# -- transfers ----------------------------------------------------------------------------

_INSERT_TRANSFERS = text("""
INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
    credit_account_id, amount, kind, reference_type, reference_id, metadata,
    debit_balance_after, credit_balance_after, reverses_id, hold_id, lot_id, lot_expires_at,
    created_at)
SELECT t.id, 0, :tx, t.asset, t.debit, t.credit, t.amount, t.kind, t.rtype, t.rid,
       CAST(t.meta AS jsonb), 0, 0, t.rev, t.hold, t.lot, t.lexp, :at
FROM unnest(CAST(:ids AS uuid[]), CAST(:assets AS text[]), CAST(:debits AS uuid[]),
            CAST(:credits AS uuid[]), CAST(:amounts AS bigint[]), CAST(:kinds AS text[]),
            CAST(:rtypes AS text[]), CAST(:rids AS text[]), CAST(:metas AS text[]),
            CAST(:revs AS uuid[]), CAST(:holds AS uuid[]), CAST(:lots AS uuid[]),
            CAST(:lexps AS timestamptz[]))
     WITH ORDINALITY AS t(id, asset, debit, credit, amount, kind, rtype, rid, meta, rev, hold,
                          lot, lexp, ord)
ORDER BY t.ord
RETURNING id, seq, debit_balance_after, credit_balance_after, created_at
""")

# One transfer: the same insert with plain parameters, which measured about 13% faster.
_INSERT_ONE = text("""
INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
    credit_account_id, amount, kind, reference_type, reference_id, metadata,
    debit_balance_after, credit_balance_after, reverses_id, hold_id, lot_id, lot_expires_at,
    created_at)
VALUES (:id, 0, :tx, :asset, :debit, :credit, :amount, :kind, :rtype, :rid,
        CAST(:meta AS jsonb), 0, 0, :rev, :hold, :lot, :lexp, :at)
RETURNING id, seq, debit_balance_after, credit_balance_after, created_at
""")


# Several transfers in one transaction lock every balance row they will touch up front, in
# the global order the transfer trigger uses (account, then shard; a transfer's shard of a
# sharded account follows from its id): no deadlocks. The rows' last posted times let the
# transaction take one time for all its transfers.
_LOCK_BALANCES = text("""
SELECT b.last_posted_at FROM ledger_balances b
JOIN (SELECT u.id, u.acc FROM unnest(CAST(:ids AS uuid[]), CAST(:debits AS uuid[])) AS u(id, acc)
      UNION ALL
      SELECT u.id, u.acc FROM unnest(CAST(:ids AS uuid[]), CAST(:credits AS uuid[])) AS u(id, acc)
     ) x ON x.acc = b.account_id
WHERE b.shard = (hashtext(x.id::text) & 2147483647) % b.shards
ORDER BY b.account_id, b.shard
FOR UPDATE OF b
""")


RESERVED_KINDS = frozenset({"reversal", "expire"})


def validate(t: TransferIn, *, internal: bool = False) -> None:
    check_amount(t.amount)
    if t.debit_account_id == t.credit_account_id:
        raise errors.SameAccount(field="credit_account_id")
    if not internal and t.kind in RESERVED_KINDS:
        raise errors.ReservedKind(f"Use the ledger's own command for {t.kind}.", field="kind")


async def _insert(
    session: AsyncSession,
    transfers: Sequence[TransferIn],
    *,
    reverses: Sequence[uuid.UUID | None] | None = None,
    holds: Sequence[uuid.UUID | None] | None = None,
    lots: Sequence[uuid.UUID | None] | None = None,
    ids: Sequence[uuid.UUID] | None = None,
    lock: bool = False,
) -> TransactionOut:
    for t in transfers:
        validate(t, internal=True)
    n = len(transfers)
    tx, at = uuid7(), clock.now()
    ids = list(ids or [uuid7() for _ in range(n)])
    if lock:
        # Not earlier than the last transfer on any row it locked, as the trigger would make
        # each transfer anyway: this way all of them share one time.
        latest = await lock_balances(session, transfers, ids)
        if latest is not None and latest > at:
            at = latest
    reverses, holds, lots = (list(x or [None] * n) for x in (reverses, holds, lots))
    if n == 1:
        t = transfers[0]
        result = await _run(session, _INSERT_ONE, {
            "id": ids[0], "tx": tx, "at": at, "asset": t.asset_code,
            "debit": t.debit_account_id, "credit": t.credit_account_id, "amount": t.amount,
            "kind": t.kind, "rtype": t.reference_type, "rid": t.reference_id,
            "meta": json.dumps(t.metadata), "rev": reverses[0], "hold": holds[0],
            "lot": lots[0], "lexp": t.lot_expires_at})
    else:
        result = await _run(session, _INSERT_TRANSFERS, {
            "tx": tx, "at": at, "ids": ids,
            "assets": [t.asset_code for t in transfers],
            "debits": [t.debit_account_id for t in transfers],
            "credits": [t.credit_account_id for t in transfers],
            "amounts": [t.amount for t in transfers],
            "kinds": [t.kind for t in transfers],
            "rtypes": [t.reference_type for t in transfers],
            "rids": [t.reference_id for t in transfers],
            "metas": [json.dumps(t.metadata) for t in transfers],
            "revs": reverses, "holds": holds, "lots": lots,
            "lexps": [t.lot_expires_at for t in transfers],
        })
    posted = {row.id: row for row in result}
    out = []
    for i, t in enumerate(transfers):
        row = posted[ids[i]]
        out.append(TransferOut(
            id=ids[i], seq=row.seq, transaction_id=tx, asset_code=t.asset_code,
            debit_account_id=t.debit_account_id, credit_account_id=t.credit_account_id,
            amount=t.amount, kind=t.kind, reference_type=t.reference_type,
            reference_id=t.reference_id, metadata=t.metadata,
            debit_balance_after=row.debit_balance_after,
            credit_balance_after=row.credit_balance_after,
            reverses_id=reverses[i], hold_id=holds[i], created_at=row.created_at,
        ))
    return TransactionOut(transaction_id=tx, transfers=out)


async def lock_balances(session: AsyncSession, transfers: Sequence[TransferIn],
                        ids: Sequence[uuid.UUID]) -> dt.datetime | None:
    """Lock the balance rows these transfers will touch; the latest time posted on them."""
    times = (await _run(session, _LOCK_BALANCES, {
        "ids": list(ids), "debits": [t.debit_account_id for t in transfers],
        "credits": [t.credit_account_id for t in transfers]})).scalars().all()
    return max((t for t in times if t is not None), default=None)


async def transfer(session: AsyncSession, data: TransferIn, *,
                   idempotency_key: str | None = None) -> TransferOut:
    """Post one transfer."""
    validate(data)

    async def run() -> TransferOut:
        return (await _insert(session, [data])).transfers[0]

    return await _idempotent(session, idempotency_key, "transfer", data.model_dump(mode="json"),
                             TransferOut, run)


async def post(session: AsyncSession, transfers: Sequence[TransferIn], *,
               idempotency_key: str | None = None) -> TransactionOut:
    """Post several transfers as one transaction: all or none."""
    if not transfers:
        raise InvalidInput("A batch needs at least one transfer.", field="transfers")
    for t in transfers:
        validate(t)

    async def run() -> TransactionOut:
        return await _insert(session, transfers, lock=len(transfers) > 1)

    request = [t.model_dump(mode="json") for t in transfers]
    return await _idempotent(session, idempotency_key, "post", request, TransactionOut, run)


async def reverse(session: AsyncSession, transfer_id: uuid.UUID, *, reason: str,
                  amount: int | None = None, idempotency_key: str | None = None) -> TransferOut:
    """Post the opposite of a transfer (all of it, or part), linked to it."""
    async def run() -> TransferOut:
        # The row lock serialises concurrent reversals of the same transfer.
        original = (await session.execute(
            text("SELECT * FROM ledger_transfers WHERE id = :id FOR UPDATE"), {"id": transfer_id},
        )).first()
        if original is None:
            raise errors.TransferNotFound(field="transfer_id")
        done = await session.scalar(
            text("SELECT COALESCE(sum(amount), 0) FROM ledger_transfers WHERE reverses_id = :id"),
            {"id": transfer_id},
        )
        left = original.amount - int(done or 0)
        want = left if amount is None else check_amount(amount)
        if want <= 0 or want > left:
            raise errors.ReversalExceedsOriginal(
                f"{left} of {original.amount} is left to reverse.", field="amount")
        data = TransferIn(
            debit_account_id=original.credit_account_id,
            credit_account_id=original.debit_account_id,
            asset_code=original.asset_code, amount=want, kind="reversal",
            reference_type=original.reference_type, reference_id=original.reference_id,
            metadata={"reason": reason},
        )
        return (await _insert(session, [data], reverses=[transfer_id])).transfers[0]

    request = {"transfer_id": str(transfer_id), "amount": amount, "reason": reason}
    return await _idempotent(session, idempotency_key, "reverse", request, TransferOut, run)


async def get_transfer(session: AsyncSession, transfer_id: uuid.UUID) -> TransferOut:
    row = (await session.execute(text("SELECT * FROM ledger_transfers WHERE id = :id"),
                                 {"id": transfer_id})).mappings().first()
    if row is None:
        raise errors.TransferNotFound(field="transfer_id")
    return TransferOut.model_validate(dict(row))


# -- holds --------------------------------------------------------------------------------

async def place_hold(session: AsyncSession, data: HoldIn, *,
                     idempotency_key: str | None = None) -> HoldOut:
    """Reserve available funds until captured, released or expired."""
    check_amount(data.amount)

    async def run() -> HoldOut:
        now = clock.now()
        if data.expires_at <= now:
            raise InvalidInput("A hold must expire in the future.", field="expires_at")
        hold_id = uuid7()
        await _run(session, text("""
            INSERT INTO ledger_holds (id, account_id, asset_code, amount, expires_at,
                reference_type, reference_id, metadata, created_at)
            VALUES (:id, :acc, :asset, :amount, :exp, :rtype, :rid, CAST(:meta AS jsonb), :at)
        """), {"id": hold_id, "acc": data.account_id, "asset": data.asset_code,
               "amount": data.amount, "exp": data.expires_at, "rtype": data.reference_type,
               "rid": data.reference_id, "meta": json.dumps(data.metadata), "at": now})
        return await get_hold(session, hold_id)

    return await _idempotent(session, idempotency_key, "hold", data.model_dump(mode="json"),
                             HoldOut, run)


async def get_hold(session: AsyncSession, hold_id: uuid.UUID) -> HoldOut:
    hold = await session.get(Hold, hold_id, populate_existing=True)
    if hold is None:
        raise errors.HoldNotFound(field="hold_id")
    return HoldOut.model_validate(hold)


async def _lock_pending_hold(session: AsyncSession, hold_id: uuid.UUID) -> Any:
    row = (await session.execute(
        text("SELECT * FROM ledger_holds WHERE id = :id FOR UPDATE"), {"id": hold_id},
    )).first()
    if row is None:
        raise errors.HoldNotFound(field="hold_id")
    if row.status != "pending":
        raise errors.HoldNotPending(f"Hold is {row.status}.")
    if row.expires_at <= clock.now():
        raise errors.HoldExpired()
    return row


async def _resolve(session: AsyncSession, hold_id: uuid.UUID, status: str, captured: int) -> None:
    await _run(session, text(
        "UPDATE ledger_holds SET status = :s, captured = :c, resolved_at = :t WHERE id = :id"),
        {"id": hold_id, "s": status, "c": captured, "t": clock.now()})


async def capture(session: AsyncSession, hold_id: uuid.UUID, data: CaptureIn, *,
                  idempotency_key: str | None = None) -> CaptureOut:
    """Move all or part of a held amount to `credit_account_id`; the rest is released."""
    async def run() -> CaptureOut:
        hold = await _lock_pending_hold(session, hold_id)
        amount = hold.amount if data.amount is None else check_amount(data.amount)
        if amount > hold.amount:
            raise errors.CaptureExceedsHold(
                f"The hold is for {hold.amount}.", field="amount")
        move = TransferIn(
            debit_account_id=hold.account_id, credit_account_id=data.credit_account_id,
            asset_code=hold.asset_code, amount=amount, kind=data.kind,
            reference_type=data.reference_type or hold.reference_type,
            reference_id=data.reference_id or hold.reference_id, metadata=data.metadata,
        )
        validate(move, internal=True)
        # Releasing the hold and posting its capture lock the same balance rows: lock them
        # first, in the global order.
        move_id = uuid7()
        await lock_balances(session, [move], [move_id])
        await _resolve(session, hold_id, "captured", amount)
        posted = await _insert(session, [move], holds=[hold_id], ids=[move_id])
        return CaptureOut(hold=await get_hold(session, hold_id), transfer=posted.transfers[0])

    request = {"hold_id": str(hold_id), **data.model_dump(mode="json")}
    return await _idempotent(session, idempotency_key, "capture", request, CaptureOut, run)


async def release(session: AsyncSession, hold_id: uuid.UUID, *,
                  idempotency_key: str | None = None) -> HoldOut:
    """Give the held amount back to the available balance."""
    async def run() -> HoldOut:
        await _lock_pending_hold(session, hold_id)
        await _resolve(session, hold_id, "released", 0)
        return await get_hold(session, hold_id)

    return await _idempotent(session, idempotency_key, "release", {"hold_id": str(hold_id)},
                             HoldOut, run)


async def expire_holds(session: AsyncSession, *, limit: int = 500) -> int:
    """Resolve pending holds past their deadline as expired; returns how many."""
    rows = (await session.execute(text("""
        SELECT id FROM ledger_holds WHERE status = 'pending' AND expires_at <= :now
        ORDER BY account_id LIMIT :limit FOR UPDATE SKIP LOCKED
    """), {"now": clock.now(), "limit": limit})).all()
    for row in rows:
        await _resolve(session, row.id, "expired", 0)
    return len(rows)


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
    moves = [TransferIn(debit_account_id=r.account_id, credit_account_id=breakage[r.asset_code],
                        asset_code=r.asset_code, amount=r.free, kind="expire",
                        reference_type="ledger_lot", reference_id=str(r.id)) for r in rows]
    await _insert(session, moves, lots=[r.id for r in rows], lock=True)
    return len(rows)


# -- reads --------------------------------------------------------------------------------

_BALANCE = text("""
SELECT a.asset_code, a.lots,
       (SELECT sum(balance) FROM ledger_balances WHERE account_id = a.id) AS balance,
       (SELECT sum(held) FROM ledger_balances WHERE account_id = a.id) AS held,
       l.expired_free, l.expiring_soon
FROM ledger_accounts a
LEFT JOIN LATERAL (
  SELECT sum(remaining - reserved) FILTER (WHERE expires_at <= :now) AS expired_free,
         sum(remaining) FILTER (WHERE expires_at > :now AND expires_at <= :soon) AS expiring_soon
  FROM ledger_lots WHERE a.lots AND account_id = a.id AND remaining > 0
) l ON true
WHERE a.id = :id
""")


async def balance(session: AsyncSession, account_id: uuid.UUID, *,
                  soon: dt.timedelta = EXPIRING_SOON) -> BalanceOut:
    """Posted (never counting an expired lot), held, available, and what expires soon."""
    now = clock.now()
    row = (await session.execute(_BALANCE, {"id": account_id, "now": now, "soon": now + soon})
           ).first()
    if row is None:
        raise errors.AccountNotFound(field="account_id")
    posted = int(row.balance) - int(row.expired_free or 0)
    held = int(row.held)
    return BalanceOut(
        account_id=account_id, asset_code=row.asset_code, posted=posted, held=held,
        available=posted - held, expiring_soon=int(row.expiring_soon or 0),
        expiring_before=now + soon if row.lots else None,
    )


_HOLDINGS = text("""
SELECT s.code, s.name, s.kind, s.scale, s.expires, a.id AS account_id,
       COALESCE(b.balance, 0) AS balance, COALESCE(b.held, 0) AS held,
       l.expired_free, l.expiring_soon, a.lots
FROM ledger_assets s
LEFT JOIN ledger_accounts a ON a.asset_code = s.code AND a.owner_type = :owner_type
  AND a.owner_id = :owner_id AND a.purpose = :purpose
LEFT JOIN LATERAL (
  SELECT sum(balance) AS balance, sum(held) AS held FROM ledger_balances WHERE account_id = a.id
) b ON true
LEFT JOIN LATERAL (
  SELECT sum(remaining - reserved) FILTER (WHERE expires_at <= :now) AS expired_free,
         sum(remaining) FILTER (WHERE expires_at > :now AND expires_at <= :soon) AS expiring_soon
  FROM ledger_lots WHERE a.lots AND account_id = a.id AND remaining > 0
) l ON true
ORDER BY s.code
""")


async def holdings(session: AsyncSession, owner_type: OwnerType | str, owner_id: uuid.UUID, *,
                   purpose: str = "main", soon: dt.timedelta = EXPIRING_SOON) -> list[HoldingOut]:
    """An owner's balance in every asset, zero where it has no account yet, in one query (a
    wallet screen is on every app's home page)."""
    now = clock.now()
    rows = (await session.execute(_HOLDINGS, {
        "owner_type": str(owner_type), "owner_id": owner_id, "purpose": purpose, "now": now,
        "soon": now + soon})).all()
    out = []
    for r in rows:
        posted = int(r.balance) - int(r.expired_free or 0)
        out.append(HoldingOut(
            asset_code=r.code, asset_name=r.name, asset_kind=r.kind, scale=r.scale,
            expires=r.expires, account_id=r.account_id, posted=posted, held=int(r.held),
            available=posted - int(r.held), expiring_soon=int(r.expiring_soon or 0),
            expiring_before=now + soon if r.lots else None))
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
   ORDER BY seq DESC LIMIT :limit)
  UNION ALL
  (SELECT id, seq, transaction_id, kind, amount, credit_balance_after, debit_account_id,
          reference_type, reference_id, metadata, reverses_id, created_at
   FROM ledger_transfers WHERE credit_account_id = :acc {filters}
   ORDER BY seq DESC LIMIT :limit)
) e ORDER BY seq DESC LIMIT :limit
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
    params: dict[str, Any] = {"acc": account_id, "limit": limit}
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
    rows = (await session.execute(text(_HISTORY.format(filters=" ".join(filters))), params)).all()
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


__all__ = [
    "balance", "balance_at", "capture", "create_asset", "expire_holds", "expire_lots",
    "find_account", "freeze", "get_account", "get_transfer", "get_asset", "get_hold", "history",
    "holdings", "list_assets",
    "open_account", "place_hold", "platform_account", "post", "release", "reverse",
    "set_limits", "transfer", "unfreeze", "user_account",
]
