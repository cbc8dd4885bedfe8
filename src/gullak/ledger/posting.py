"""Group commit for standalone transfers.

`Poster.transfer` posts one transfer in its own committed transaction, as `service.transfer`
inside a unit of work would, but concurrent calls share database transactions: whatever
arrived while the previous group was being written goes out as the next group, through
`ledger_post_each` (migrations/sql/0013_ledger_posted_at.sql), where each transfer succeeds
or fails on its own. A call returns only after its group has committed. Callers that need a
transfer to commit together with their own writes use `service.transfer` in their unit of work.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import dataclass, field

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.kit.sql import Array
from gullak.ledger import errors
from gullak.ledger.schemas import TransferIn, TransferOut
from gullak.ledger.common import request_hash, validate

_POST_EACH = """
SELECT * FROM ledger_post_each(%(ids)s, %(txs)s, %(assets)s, %(debits)s, %(credits)s,
    %(amounts)s, %(kinds)s, %(rtypes)s, %(rids)s, %(metas)s, %(lexps)s, %(keys)s, %(hashes)s,
    %(at)s)
"""


@dataclass
class _Pending:
    data: TransferIn
    key: str | None
    future: asyncio.Future[TransferOut] = field(repr=False)


class Poster:
    """Group-committing transfer poster over its own connection pool."""

    def __init__(self, url: str, *, connections: int = 4, max_group: int = 500,
                 pgbouncer: bool = False) -> None:
        # Autocommit: a group is one statement, its own transaction, so one round trip
        # instead of three (BEGIN, the call, COMMIT).
        kwargs: dict[str, object] = {"application_name": "gullak-poster", "autocommit": True}
        if pgbouncer:  # transaction pooling: nothing prepared (see db/engine.py)
            kwargs["prepare_threshold"] = None
        self._pool = AsyncConnectionPool(url, min_size=connections, max_size=connections,
                                         open=False, kwargs=kwargs)
        self._connections = connections
        self._max_group = max_group
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._writers: list[asyncio.Task[None]] = []

    async def open(self) -> Poster:
        await self._pool.open(wait=True)
        self._writers = [asyncio.create_task(self._write_loop()) for _ in range(self._connections)]
        return self

    async def close(self) -> None:
        for task in self._writers:
            task.cancel()
        for task in self._writers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._pool.close()

    async def __aenter__(self) -> Poster:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def transfer(self, data: TransferIn, *, idempotency_key: str | None = None) -> TransferOut:
        validate(data)
        future: asyncio.Future[TransferOut] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(data, idempotency_key, future))
        return await future

    async def _write_loop(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < self._max_group and not self._queue.empty():
                group.append(self._queue.get_nowait())
            try:
                await self._write(group)
            except Exception as exc:  # nothing of this group committed: every caller learns it
                for item in group:
                    if not item.future.done():
                        item.future.set_exception(exc)

    async def _write(self, group: list[_Pending]) -> None:
        at = clock.now()
        ids = [uuid7() for _ in group]
        txs = [uuid7() for _ in group]
        # Binary arrays (kit.sql.Array): the text form costs more client CPU than the group.
        params = {
            "ids": Array(ids), "txs": Array(txs), "at": at,
            "assets": Array(p.data.asset_code for p in group),
            "debits": Array(p.data.debit_account_id for p in group),
            "credits": Array(p.data.credit_account_id for p in group),
            "amounts": Array(p.data.amount for p in group),
            "kinds": Array(p.data.kind for p in group),
            "rtypes": Array(p.data.reference_type for p in group),
            "rids": Array(p.data.reference_id for p in group),
            "metas": Array(Jsonb(p.data.metadata) for p in group),
            "lexps": Array(p.data.lot_expires_at for p in group),
            "keys": Array(p.key for p in group),
            "hashes": Array(request_hash("transfer", p.data.model_dump(mode="json"))
                            if p.key else None for p in group),
        }
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(_POST_EACH, params)).fetchall()
        # Committed: now every caller gets its own outcome.
        for row in rows:
            (i, status, state, constraint, message, seq, debit_after, credit_after, replay,
             posted_at) = row
            item, k = group[i - 1], i - 1
            if item.future.done():
                continue
            if status == "ok":
                item.future.set_result(_out(item.data, ids[k], txs[k], seq, debit_after,
                                            credit_after, posted_at))
            elif status == "replay":
                item.future.set_result(TransferOut.model_validate(replay))
            else:
                known = errors.from_database(state, constraint, message)
                item.future.set_exception(known or psycopg.DatabaseError(message))


def _out(data: TransferIn, id_: object, tx: object, seq: int, debit_after: int,
         credit_after: int, at: dt.datetime) -> TransferOut:
    return TransferOut(
        id=id_, seq=seq, transaction_id=tx, asset_code=data.asset_code,  # type: ignore[arg-type]
        debit_account_id=data.debit_account_id, credit_account_id=data.credit_account_id,
        amount=data.amount, kind=data.kind, reference_type=data.reference_type,
        reference_id=data.reference_id, metadata=dict(data.metadata),
        debit_balance_after=debit_after, credit_balance_after=credit_after, created_at=at,
    )
