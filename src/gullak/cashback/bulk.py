"""Confirming many pending cashbacks at once.

Two steps, so that value never moves ahead of the row that says why:
1. claim: in the caller's unit, the chosen pending rows become `confirmed` (not yet settled);
   from then on a late word of the network changes nothing, as for any confirmed cashback;
2. settle: each claimed row's transfer, pending -> main, is posted through the ledger's
   group-committing `Poster` (many transfers per commit), with the same transfer and
   idempotency key a postback's confirmation uses, then the rows are marked settled and
   `cashback.confirmed` is published. A settle cut short is run again: what was posted
   replays, what was not is posted.
`settle` does the same inside one unit of work, for the periodic repair job and tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any, Protocol

from sqlalchemy import ColumnElement, case, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.cashback import conversions
from gullak.cashback.models import Cashback, Network
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import audit, clock
from gullak.kit.errors import NotFound
from gullak.kit.ids import uuid7
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import (
    AccountIn,
    AssetIn,
    AssetKind,
    OwnerType,
    TransferIn,
    TransferOut,
)

CHUNK = 5_000  # rows settled per round: one read, one gather through the poster, one update


class Poster(Protocol):
    """The ledger's group-committing poster (`gullak.ledger.posting.Poster`), as used here:
    each transfer committed on its own, concurrent ones sharing commits."""

    async def transfer(self, data: TransferIn, *,
                       idempotency_key: str | None = None) -> TransferOut: ...


async def claim(session: AsyncSession, *, ids: list[uuid.UUID] | None = None,
                network_id: uuid.UUID | None = None, created_before: dt.datetime | None = None,
                limit: int = 100_000, actor: Subject | None = None) -> list[uuid.UUID]:
    """Mark the chosen pending cashbacks confirmed; returns their ids. Rows another unit holds
    are skipped, not waited for."""
    filters: list[ColumnElement[bool]] = [Cashback.status == "pending"]
    if ids is not None:
        filters.append(Cashback.id.in_(ids))
    if network_id is not None:
        filters.append(Cashback.network_id == network_id)
    if created_before is not None:
        filters.append(Cashback.created_at < created_before)
    chosen = (select(Cashback.id).where(*filters).order_by(Cashback.id).limit(limit)
              .with_for_update(skip_locked=True))
    now = clock.now()
    claimed = list((await session.scalars(
        update(Cashback).where(Cashback.id.in_(chosen)).values(
            status="confirmed", confirmed_at=now, updated_at=now,
            # Nothing to move: settled as it is confirmed.
            settled_at=case((Cashback.credited == 0, now), else_=None))
        .returning(Cashback.id).execution_options(synchronize_session=False))).all())
    if actor is not None:
        await audit.record(session, actor, "cashback.confirm_bulk", "cashback", None, after={
            "count": len(claimed), "ids": [str(i) for i in claimed[:100]],
            "network_id": str(network_id) if network_id else None,
            "created_before": created_before.isoformat() if created_before else None})
    return claimed


_UNSETTLED = (select(Cashback.id, Cashback.user_id, Cashback.credited,
                     Cashback.pending_account_id, Cashback.main_account_id)
              .where(Cashback.status == "confirmed", Cashback.settled_at.is_(None))
              .order_by(Cashback.id))


def _transfer(row: Any) -> TransferIn:
    return conversions.confirm_transfer(row.id, row.user_id, row.credited,
                                        row.pending_account_id, row.main_account_id)


async def _settled(session: AsyncSession, rows: list[Any]) -> None:
    """Mark settled and publish, once per row whoever else settles it meanwhile: the second
    update waits for the first and finds nothing left to mark."""
    marked = set((await session.scalars(update(Cashback).where(
        Cashback.id.in_([r.id for r in rows]), Cashback.settled_at.is_(None))
        .values(settled_at=clock.now()).returning(Cashback.id)
        .execution_options(synchronize_session=False))).all())
    await conversions.confirmed_events(session, [(row.id, row.user_id, row.credited)
                                                 for row in rows if row.id in marked])


async def settle(session: AsyncSession, *, limit: int = 500) -> int:
    """Post the transfers of confirmed, unsettled cashbacks in this unit; returns how many."""
    rows = list((await session.execute(_UNSETTLED.limit(limit).with_for_update(
        skip_locked=True))).all())
    for row in rows:
        await ledger.transfer(session, _transfer(row),
                              idempotency_key=conversions.confirm_key(row.id))
    await _settled(session, rows)
    return len(rows)


async def settle_with(db: Database, poster: Poster, *, chunk: int = CHUNK) -> int:
    """Post the transfers of confirmed, unsettled cashbacks through the group-committing
    poster, a chunk at a time; returns how many were settled. Stops at a chunk with a
    failure (reported by the ledger for that row), leaving it for the next run."""
    total = 0
    while True:
        async with unit_of_work(db) as session:
            rows = list((await session.execute(_UNSETTLED.limit(chunk))).all())
        if not rows:
            return total
        results = await asyncio.gather(*(
            poster.transfer(_transfer(r), idempotency_key=conversions.confirm_key(r.id))
            for r in rows), return_exceptions=True)
        posted = [r for r, result in zip(rows, results) if not isinstance(result, BaseException)]
        async with unit_of_work(db) as session:
            await _settled(session, posted)
        total += len(posted)
        if len(posted) < len(rows):
            return total


async def confirm_many(db: Database, poster: Poster, *, ids: list[uuid.UUID] | None = None,
                       network_id: uuid.UUID | None = None,
                       created_before: dt.datetime | None = None, limit: int = 100_000,
                       actor: Subject | None = None) -> int:
    """Claim (one unit) then settle through the poster; returns how many were settled."""
    async with unit_of_work(db) as session:
        await claim(session, ids=ids, network_id=network_id, created_before=created_before,
                    limit=limit, actor=actor)
    return await settle_with(db, poster)


# -- for measuring (gullak bench rewards) and tests --------------------------------------------------------------------------------

async def prepare(db: Database, count: int, *, users: int = 1_000,
                  amount: int = 100) -> uuid.UUID:
    """`count` pending cashbacks of `amount` paise spread over `users` users, on a network of
    their own, each user's pending account credited with what their cashbacks hold (one
    transfer per user). Returns the network's id. For measuring only."""
    async with unit_of_work(db) as session:
        try:
            await ledger.get_asset(session, conversions.INR)
        except NotFound:
            await ledger.create_asset(session, AssetIn(code=conversions.INR, name="Indian rupee",
                                                       kind=AssetKind.cash, scale=2))
    network_id, now = uuid7(), clock.now()
    async with unit_of_work(db) as session:
        session.add(Network(id=network_id, code=f"bench-{network_id.hex[-8:]}",
                            name="Bulk confirmation measure", auth_mode="token",
                            secret_sealed="-", secret_hint="-", signature_header="X-Signature",
                            token_param="token", status_map={}, field_map={}, active=True,
                            refused_postbacks=0, created_at=now, updated_at=now))
        receivable = (await ledger.platform_account(session, conversions.INR,
                                                    conversions.RECEIVABLE)).id
        owners = []
        for _ in range(users):
            user_id = uuid7()
            pending = await ledger.open_account(session, AccountIn(
                asset_code=conversions.INR, owner_type=OwnerType.user, owner_id=user_id,
                purpose="pending"))
            main = await ledger.user_account(session, user_id, conversions.INR)
            owners.append((user_id, pending.id, main.id))
        per_user = [count // users + (1 if i < count % users else 0) for i in range(users)]
        for (user_id, pending_id, _), n in zip(owners, per_user):
            if n:
                await ledger.transfer(session, TransferIn(
                    debit_account_id=receivable, credit_account_id=pending_id,
                    asset_code=conversions.INR, amount=n * amount, kind="cashback_pending",
                    reference_type="cashback_measure", reference_id=str(network_id)))
    rows = []
    for i in range(count):
        user_id, pending_id, main_id = owners[i % users]
        rows.append({"id": uuid7(), "network_id": network_id, "transaction_id": f"T{i}",
                     "user_id": user_id, "currency": conversions.INR, "order_amount": amount * 10,
                     "amount": amount, "credited": amount, "revision": 1, "status": "pending",
                     "network_status": "pending", "pending_account_id": pending_id,
                     "main_account_id": main_id, "created_at": now, "updated_at": now})
    for start in range(0, count, 10_000):
        async with unit_of_work(db) as session:
            await session.execute(insert(Cashback), rows[start:start + 10_000])
    return network_id

