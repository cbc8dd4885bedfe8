"""The daily conversion: every day that is over and not yet settled is validated and its
coins credited.

1. settle, a chunk of users per unit of work (`batch.settle_many`): the chunk's days validated,
   their coins decided and posted as one ledger transaction in the same unit of work, the
   others told, all in a few statements for the chunk;
2. post whatever is still waiting (a chunk whose post the ledger refused, a sync's credit
   left for later) through the ledger's group-committing poster, with the same transfer and
   key a sync would post, then mark it posted. A run cut short is run again: what was posted
   replays.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import batch, conversion, steps
from gullak.activity.models import DaySummary
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn, TransferOut
from gullak.settings import get_settings

CHUNK = 1_000
# Units settling at once: while one waits on its round trips, the others use the server and
# the client. They no longer wait for each other's commits (a transaction posts to one shard
# of an issuance account, and counts into a board bucket's shard of its own, one of eight):
# eight units convert about a third more users a second than four, and four about twice as
# many as one (bench/README.md, "The daily conversion").
WORKERS = 8


class Poster(Protocol):
    async def transfer(self, data: TransferIn, *,
                       idempotency_key: str | None = None) -> TransferOut: ...


async def post_with(db: Database, poster: Poster, day: dt.date, *, chunk: int = CHUNK) -> int:
    """Post the day's waiting credits through the poster; returns how many were posted."""
    asset = get_settings().activity_asset
    async with unit_of_work(db) as session:
        issuance = (await ledger.platform_account(session, asset, conversion.ISSUANCE)).id
    total, after = 0, uuid.UUID(int=0)
    while True:
        async with unit_of_work(db) as session:
            rows = (await session.execute(select(
                DaySummary.id, DaySummary.user_id, DaySummary.version, DaySummary.post_amount)
                .where(DaySummary.day == day, DaySummary.posted_version < DaySummary.version,
                       DaySummary.post_amount > 0, DaySummary.id > after)
                .order_by(DaySummary.id).limit(chunk))).all()
            mains = await ledger.user_accounts(session, [r.user_id for r in rows], asset)
        if not rows:
            return total
        after = rows[-1].id
        results = await asyncio.gather(*(poster.transfer(
            conversion.transfer_of(r.id, r.version, r.post_amount, mains[r.user_id], issuance,
                                   asset), idempotency_key=conversion.key_of(r.id, r.version))
            for r in rows), return_exceptions=True)
        posted = [r for r, res in zip(rows, results) if not isinstance(res, BaseException)]
        async with unit_of_work(db) as session:
            for r in posted:  # only if no later change came meanwhile
                await session.execute(update(DaySummary).where(
                    DaySummary.id == r.id, DaySummary.version == r.version,
                    DaySummary.posted_version < r.version).values(posted_version=r.version))
        total += len(posted)


async def convert_day(db: Database, day: dt.date, poster: Poster, *,
                      chunk: int = CHUNK, workers: int = WORKERS) -> int:
    """Settle and credit every user's `day` (once it is over); returns the users settled.
    `workers` units settle at once, each claiming the next chunk in user order after the
    last one claimed (rows held by a sync are skipped, and picked up by a last pass)."""
    cursor: list[uuid.UUID | None] = [None]

    async def work(after: Callable[[], uuid.UUID | None]) -> int:
        settled = 0
        while True:
            async with unit_of_work(db) as session:
                n, last = await batch.settle_many(session, day, limit=chunk, after=after())
                if last is not None and (cursor[0] is None or last > cursor[0]):
                    cursor[0] = last
            settled += n
            if n < chunk:
                return settled

    settled = sum(await asyncio.gather(*(work(lambda: cursor[0]) for _ in range(workers))))
    settled += await work(lambda: None)  # what was skipped: nothing else claims it now
    await post_with(db, poster, day, chunk=chunk)
    return settled


async def open_days(session: AsyncSession) -> list[dt.date]:
    """Days over, within the resync window, with summaries still to settle or post."""
    now = clock.now()
    rows = await session.scalars(select(DaySummary.day).where(
        DaySummary.day >= steps.oldest_day(now) - dt.timedelta(days=2),
        (DaySummary.status == "open") | (DaySummary.posted_version < DaySummary.version))
        .distinct().order_by(DaySummary.day))
    return [d for d in rows if steps.is_over(d, now)]


async def convert_closed(db: Database, poster: Poster) -> int:
    async with unit_of_work(db) as session:
        days = await open_days(session)
    return sum([await convert_day(db, d, poster) for d in days])
