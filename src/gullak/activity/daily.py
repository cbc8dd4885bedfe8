"""The daily conversion: every day that is over and not yet settled is validated and its
coins posted through the ledger's group-committing poster.

Two steps, so value never moves ahead of the row that says why:
1. settle, a chunk of users per unit of work: each day validated under its lock, its coins
   decided (`credited`, a new version) but positive differences left waiting;
2. post the waiting differences through the poster (the same transfer and key a sync would
   post), then mark them posted. A run cut short is run again: what was posted replays.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import conversion, steps
from gullak.activity.models import DaySummary
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn, TransferOut
from gullak.settings import get_settings

CHUNK = 200
WORKERS = 4  # units settling at once, each on its own rows (the round trips overlap)


class Poster(Protocol):
    async def transfer(self, data: TransferIn, *,
                       idempotency_key: str | None = None) -> TransferOut: ...


async def settle_open(session: AsyncSession, day: dt.date, *, limit: int = CHUNK,
                      inline: bool = True) -> int:
    """Settle up to `limit` open summaries of a day that is over; returns how many."""
    now = clock.now()
    if not steps.is_over(day, now):
        return 0
    users = list((await session.scalars(select(DaySummary.user_id).where(
        DaySummary.day == day, DaySummary.status == "open")
        .order_by(DaySummary.user_id).limit(limit).with_for_update(skip_locked=True))).all())
    for user_id in users:
        await steps.lock(session, user_id, day)
        await steps.refresh(session, user_id, day, now=now, inline=inline)
    return len(users)


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
            mains = {r.user_id: (await ledger.user_account(session, r.user_id, asset)).id
                     for r in rows}
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
    `workers` units settle at once, each claiming rows the others skip."""

    async def work() -> int:
        settled = 0
        while True:
            async with unit_of_work(db) as session:
                n = await settle_open(session, day, limit=chunk, inline=False)
            settled += n
            if n < chunk:
                return settled

    settled = sum(await asyncio.gather(*(work() for _ in range(workers))))
    await post_with(db, poster, day, chunk=chunk * 5)
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
