"""The ledger's periodic jobs, run by the real worker against committed data."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak import worker
from gullak.db.engine import Database
from gullak.kit import clock
from gullak.ledger import jobs, service
from gullak.ledger.schemas import AccountOut, BalanceOut, HoldIn, HoldOut
from gullak.ledger.verify import verify_database
from tests.helpers.ledger import Book, make_book

DAY = dt.timedelta(days=1)


def hold_in(account: AccountOut, amount: int, expires_at: dt.datetime) -> HoldIn:
    return HoldIn(account_id=account.id, asset_code=account.asset_code, amount=amount,
                  expires_at=expires_at)


async def read_balance(db: Database, account: AccountOut) -> BalanceOut:
    async with db.sessionmaker() as session:
        return await service.balance(session, account.id)


async def read_hold(db: Database, hold: HoldOut) -> HoldOut:
    async with db.sessionmaker() as session:
        return await service.get_hold(session, hold.id)


async def raw_balance(db: Database, account: AccountOut) -> int:
    async with db.engine.connect() as conn:
        value = await conn.scalar(text(
            "SELECT sum(balance) FROM ledger_balances WHERE account_id = :a"), {"a": account.id})
    return int(value)


async def breakage_balance(db: Database, asset: str) -> int:
    async with db.sessionmaker() as session, session.begin():
        breakage = await service.platform_account(session, asset, "breakage")
        return (await service.balance(session, breakage.id)).posted


async def assert_verified(db: Database) -> None:
    report = await verify_database(db)
    assert report.ok, [c for c in report.checks if not c.ok]


async def test_worker_expires_holds_and_sweeps_lots(fresh_db: Database) -> None:
    now = clock.now()
    # Everything is written a hundred days ago, so that by the worker's (real) clock the
    # short holds and lots have long expired while the others are still live.
    clock.freeze(now - 100 * DAY)
    async with fresh_db.sessionmaker() as session, session.begin():
        book = await make_book(session)
        stale_owner, live_owner = await book.user(), await book.user()
        await book.fund(stale_owner, 100)
        await book.fund(live_owner, 50)
        stale = await service.place_hold(session, hold_in(stale_owner, 60, clock.now() + DAY))
        live = await service.place_hold(session, hold_in(live_owner, 10, now + DAY))
        promo = await book.user("PROMO")
        await book.fund(promo, 70, lot_expires_at=clock.now() + DAY)
        await book.fund(promo, 30, lot_expires_at=now + 30 * DAY)
        # A live hold reserves 20 of the lot that expires: the sweep must leave those.
        reserving = await service.place_hold(session, hold_in(promo, 20, now + DAY))
        await worker.enqueue(session, jobs.expire_holds, timestamp=0)
        await worker.enqueue(session, jobs.expire_lots, timestamp=0)
    clock.reset()

    await worker.run(fresh_db.url, concurrency=1, stop_after_idle=True)

    async with fresh_db.engine.connect() as conn:
        statuses = (await conn.execute(text(
            "SELECT task_name, status::text FROM procrastinate_jobs"
            " WHERE task_name LIKE 'ledger.%' ORDER BY id"))).all()
    assert [tuple(s) for s in statuses][:2] == [("ledger.expire_holds", "succeeded"),
                                                ("ledger.expire_lots", "succeeded")]
    expired = await read_hold(fresh_db, stale)
    assert (expired.status, expired.captured) == ("expired", 0)
    assert expired.resolved_at is not None
    bal = await read_balance(fresh_db, stale_owner)
    assert (bal.posted, bal.held, bal.available) == (100, 0, 100)
    assert (await read_hold(fresh_db, live)).status == "pending"
    assert (await read_balance(fresh_db, live_owner)).held == 10
    assert (await read_hold(fresh_db, reserving)).status == "pending"
    assert await breakage_balance(fresh_db, "PROMO") == 50
    assert await raw_balance(fresh_db, promo) == 50
    bal = await read_balance(fresh_db, promo)
    assert (bal.posted, bal.held, bal.available) == (50, 20, 30)
    await assert_verified(fresh_db)


async def expired_backlog(session: AsyncSession, count: int) -> tuple[list[HoldOut],
                                                                     list[AccountOut]]:
    """`count` holds and `count` lots, all of which expire a day after the clock's now."""
    book: Book = await make_book(session)
    holds, owners = [], []
    for _ in range(count):
        coins, promo = await book.user(), await book.user("PROMO")
        await book.fund(coins, 10)
        holds.append(await service.place_hold(session, hold_in(coins, 10, clock.now() + DAY)))
        await book.fund(promo, 7, lot_expires_at=clock.now() + DAY)
        owners.append(promo)
    return holds, owners


async def test_jobs_work_through_a_backlog_batch_by_batch(
        fresh_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    clock.freeze(dt.datetime(2030, 1, 10, tzinfo=dt.UTC))
    async with fresh_db.sessionmaker() as session, session.begin():
        holds, owners = await expired_backlog(session, 5)
    clock.advance(2 * DAY)
    # Small batches, so that the jobs need several units of work to finish the backlog.
    monkeypatch.setattr(jobs, "BATCH", 2)
    monkeypatch.setattr(worker, "_db", fresh_db)
    assert await jobs.expire_holds(timestamp=0) == 5
    assert await jobs.expire_lots(timestamp=0) == 5
    assert [(await read_hold(fresh_db, h)).status for h in holds] == ["expired"] * 5
    assert [await raw_balance(fresh_db, o) for o in owners] == [0] * 5
    assert await breakage_balance(fresh_db, "PROMO") == 35
    # A second run finds nothing left to do.
    assert await jobs.expire_holds(timestamp=0) == 0
    assert await jobs.expire_lots(timestamp=0) == 0
    await assert_verified(fresh_db)

