"""A balance "as of T" takes in exactly the transfers made up to T.

A transfer's time is taken before its balance rows are locked and its seq after, so a transfer
that waited for a lock used to carry a time earlier than the one it waited for: a read as of a
time between the two then counted the later transfer on one side only. The posting trigger now
moves such a time forward, so on every balance row entry times follow entry order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.app import create_app
from gullak.db import embedded, migrate
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.kit.security import Subject
from gullak.ledger import service
from gullak.ledger.posting import Poster
from gullak.ledger.schemas import AccountOut, TransferIn, TransferOut
from gullak.ledger.verify import verify, verify_database
from gullak.settings import Settings
from tests.helpers.http import acting_as
from tests.helpers.ledger import Book, make_book

T1 = dt.datetime(2030, 1, 10, 23, 59, 50, tzinfo=dt.UTC)
T2 = dt.datetime(2030, 1, 11, 0, 0, 10, tzinfo=dt.UTC)  # the next day, 20 s later
BETWEEN = T1 + dt.timedelta(seconds=5)
TICK = dt.timedelta(microseconds=1)


def move(debit: AccountOut, credit: AccountOut, amount: int, kind: str = "spend") -> TransferIn:
    return TransferIn(debit_account_id=debit.id, credit_account_id=credit.id,
                      asset_code=debit.asset_code, amount=amount, kind=kind)


async def stored_time(session: AsyncSession, transfer_id: uuid.UUID) -> dt.datetime:
    return (await service.get_transfer(session, transfer_id)).created_at


async def balances_at(session: AsyncSession, accounts: list[AccountOut],
                      at: dt.datetime) -> list[int]:
    return [await service.balance_at(session, a.id, at) for a in accounts]


async def assert_verified(session: AsyncSession) -> None:
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]


# -- two connections ----------------------------------------------------------------------

async def wait_until_blocked(db: Database) -> None:
    """Until a backend of this database waits for a lock (each poll a transaction of its own:
    pg_stat_activity is fixed for the length of one)."""
    for _ in range(500):
        async with db.engine.connect() as conn:
            waiting = await conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"))
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second transfer never waited for the first one's lock")


Post = Callable[[TransferIn], Awaitable[TransferOut]]


async def in_unit(conn: AsyncConnection, data: TransferIn) -> TransferOut:
    async with AsyncSession(bind=conn, expire_on_commit=False) as session, session.begin():
        return await service.transfer(session, data)


@pytest.mark.parametrize("path", ["unit of work", "group commit"])
async def test_a_transfer_that_waited_for_a_lock_is_not_earlier_than_what_it_waited_for(
        fresh_db: Database, settings: Settings, path: str) -> None:
    clock.freeze(T1 - dt.timedelta(minutes=1))
    async with unit_of_work(fresh_db) as session:
        book = await make_book(session)
        x, y, z = await book.user(), await book.user(), await book.user()
        await book.fund(x, 100)

    clock.freeze(T1)  # the poster's writers keep the clock they were started with
    async with (fresh_db.engine.connect() as first, fresh_db.engine.connect() as second,
                Poster(fresh_db.url, connections=1) as poster):
        async with AsyncSession(bind=second, expire_on_commit=False) as holder:
            async with holder.begin():
                clock.freeze(T2)
                later = await service.transfer(holder, move(x, y, 30))
                # Its clock reads T1, earlier than the transfer whose lock on x it waits for.
                clock.freeze(T1)
                post: Post = (poster.transfer if path == "group commit"
                              else lambda data: in_unit(first, data))
                waiting = asyncio.create_task(post(move(x, z, 20)))
                await wait_until_blocked(fresh_db)
        earlier = await waiting

    assert earlier.seq > later.seq
    assert earlier.created_at == later.created_at == T2
    async with unit_of_work(fresh_db) as session:
        assert await stored_time(session, earlier.id) == T2
        # As of a time between the two clocks neither transfer had happened. Before, x read
        # 50 (the entry stamped T1 carried the balance after both) and z read 20: 70 in all.
        assert await balances_at(session, [x, y, z], BETWEEN) == [100, 0, 0]
        assert await balances_at(session, [x, y, z], T2 - TICK) == [100, 0, 0]
        assert await balances_at(session, [x, y, z], T2) == [50, 30, 20]
    reader = Subject(kind="service", id=uuid.uuid4(), permissions=frozenset({"ledger.read"}))
    async with acting_as(create_app(settings, fresh_db), reader) as api:
        read = [await api.get(f"/v1/ledger/accounts/{a.id}/balance-at",
                              params={"at": BETWEEN.isoformat()}) for a in (x, y, z)]
    assert [r.json()["balance"] for r in read] == [100, 0, 0]
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]


# -- one session, the clock going back ----------------------------------------------------

async def test_a_transfer_is_never_earlier_than_the_last_one_on_its_rows(book: Book) -> None:
    a, b = await book.user(), await book.user()
    clock.freeze(T2)
    await book.fund(a, 100)
    clock.freeze(T1)
    out = await service.transfer(book.session, move(a, b, 10))
    assert out.created_at == T2 == await stored_time(book.session, out.id)
    # b had no transfer yet: its row took a's time, so b's next one is not earlier either.
    c = await book.user()
    again = await service.transfer(book.session, move(b, c, 5))
    assert again.created_at == T2
    assert await balances_at(book.session, [a, b, c], T2 - TICK) == [0, 0, 0]
    assert await balances_at(book.session, [a, b, c], T2) == [90, 5, 5]
    await assert_verified(book.session)


async def test_spend_limits_count_the_day_of_the_final_time(book: Book) -> None:
    a, shop = await book.user(), await book.user()
    await service.set_limits(book.session, a.id, daily=100, monthly=None)
    clock.freeze(T2)
    await book.fund(a, 500)
    clock.freeze(T1)  # the day before T2
    await service.transfer(book.session, move(a, shop, 60))
    spend = (await book.session.execute(text(
        "SELECT period, period_start, spent FROM ledger_spend WHERE account_id = :a"
        " ORDER BY period"), {"a": a.id})).all()
    assert [tuple(r) for r in spend] == [("d", T2.date(), 60), ("m", dt.date(2030, 1, 1), 60)]


async def test_a_lot_is_made_at_the_final_time(book: Book) -> None:
    p = await book.user("PROMO")
    clock.freeze(T2)
    await book.fund(p, 10)
    clock.freeze(T1)
    await book.fund(p, 20)
    lots = (await book.session.execute(text(
        "SELECT amount, created_at, expires_at FROM ledger_lots WHERE account_id = :a"
        " ORDER BY amount"), {"a": p.id})).all()
    ninety = dt.timedelta(days=90)
    assert [tuple(r) for r in lots] == [(10, T2, T2 + ninety), (20, T2, T2 + ninety)]


async def test_the_transfers_of_one_transaction_share_one_time(book: Book) -> None:
    a, b, c, d = [await book.user() for _ in range(4)]
    await book.fund(c, 50)  # at the real time, long before T2 in 2030
    clock.freeze(T2)
    await book.fund(a, 100)
    clock.freeze(T1)
    # The second leg's rows never saw T2; the transaction still takes it for both legs.
    posted = await service.post(book.session, [move(a, b, 10), move(c, d, 5)])
    assert [t.created_at for t in posted.transfers] == [T2, T2]
    assert [await stored_time(book.session, t.id) for t in posted.transfers] == [T2, T2]
    await assert_verified(book.session)


_POST_EACH = text("""
SELECT i, status, err_state, posted_at FROM ledger_post_each(
  CAST(:ids AS uuid[]), CAST(:txs AS uuid[]), CAST(:assets AS text[]), CAST(:debits AS uuid[]),
  CAST(:credits AS uuid[]), CAST(:amounts AS bigint[]), CAST(:kinds AS text[]),
  CAST(:rtypes AS text[]), CAST(:rids AS text[]), CAST(:metas AS jsonb[]),
  CAST(:lexps AS timestamptz[]), CAST(:keys AS text[]), CAST(:hashes AS text[]), :at)
ORDER BY i
""")


def group(ids: list[uuid.UUID], items: list[TransferIn], keys: list[str]) -> dict[str, object]:
    n = len(items)
    return {"ids": ids, "txs": [uuid.uuid4() for _ in items],
            "assets": [t.asset_code for t in items], "debits": [t.debit_account_id for t in items],
            "credits": [t.credit_account_id for t in items],
            "amounts": [t.amount for t in items], "kinds": [t.kind for t in items],
            "rtypes": [None] * n, "rids": [None] * n, "metas": ["{}"] * n, "lexps": [None] * n,
            "keys": keys, "hashes": ["h"] * n, "at": T1}


@pytest.mark.parametrize("refused", [False, True], ids=["whole group", "item by item"])
async def test_group_commit_returns_and_keeps_the_stored_time(book: Book, refused: bool) -> None:
    a, b, empty = await book.user(), await book.user(), await book.user()
    clock.freeze(T2)
    await book.fund(a, 100)
    # A refused item sends the group down the item-by-item path.
    items = [move(a, b, 10)] + ([move(empty, b, 1)] if refused else [])
    keys = [f"k-{uuid.uuid4()}" for _ in items]
    ids = [uuid7() for _ in items]
    rows = (await book.session.execute(_POST_EACH, group(ids, items, keys))).all()
    assert [(r.status, r.posted_at) for r in rows] == (
        [("ok", T2)] + ([("error", None)] if refused else []))
    assert await stored_time(book.session, ids[0]) == T2
    # What the key replays: a copy (item by item) or its transfer (the whole group, 0043).
    kept = await book.session.scalar(text(
        "SELECT ledger_replay(:k, 'h')->>'created_at'"), {"k": keys[0]})
    assert kept is not None and dt.datetime.fromisoformat(kept) == T2


# -- what guards it -----------------------------------------------------------------------

async def test_the_last_posted_time_moves_only_by_posting(book: Book) -> None:
    a = await book.user()
    await book.fund(a, 10)
    with pytest.raises(DBAPIError) as caught:
        async with book.session.begin_nested():
            await book.session.execute(text(
                "UPDATE ledger_balances SET last_posted_at = :t WHERE account_id = :a"),
                {"t": T1, "a": a.id})
    assert getattr(caught.value.orig, "sqlstate", None) == "GL009"


@pytest.mark.breaks_ledger
async def test_verify_notices_entry_times_out_of_order(fresh_db: Database) -> None:
    async with unit_of_work(fresh_db) as session:
        book = await make_book(session)
        a, b = await book.user(), await book.user()
        await book.fund(a, 100)
        second = await service.transfer(session, move(a, b, 10))
    assert (await verify_database(fresh_db)).ok
    async with fresh_db.engine.begin() as conn:
        await conn.execute(text(
            "ALTER TABLE ledger_transfers DISABLE TRIGGER ledger_transfers_immutable"))
        await conn.execute(text("UPDATE ledger_transfers SET created_at = :t WHERE id = :id"),
                           {"t": second.created_at - dt.timedelta(days=1), "id": second.id})
    report = await verify_database(fresh_db)
    failing = {c.name: c for c in report.checks if not c.ok}
    assert set(failing) == {"entry times follow entry order on each balance row"}
    # Only on a's row is it out of order: on b's it is the first entry.
    [wrong] = failing["entry times follow entry order on each balance row"].sample
    assert (wrong["account_id"], wrong["seq"]) == (a.id, second.seq)


# -- the migration ------------------------------------------------------------------------

@pytest.fixture
def empty_url(server_url: str, run_id: str) -> Iterator[str]:
    name = f"gullak_test_{run_id}_posted_at"
    embedded.drop_database(server_url, name)
    embedded.ensure_database(server_url, name)
    yield embedded.with_database(server_url, name)
    embedded.drop_database(server_url, name)


RAW_SETUP = [
    "INSERT INTO ledger_assets (code, name, kind, scale) VALUES ('COIN', 'Coins', 'coin', 0)",
    """INSERT INTO ledger_accounts (id, asset_code, owner_type, owner_id, allow_negative)
       VALUES (%(src)s, 'COIN', 'platform', NULL, true), (%(a)s, 'COIN', 'user', %(a)s, false),
              (%(b)s, 'COIN', 'user', %(b)s, false)""",
    """INSERT INTO ledger_balances (account_id, shard, asset_code, shards, allow_negative, lots)
       VALUES (%(src)s, 0, 'COIN', 1, true, false), (%(a)s, 0, 'COIN', 1, false, false),
              (%(b)s, 0, 'COIN', 1, false, false)""",
]
RAW_TRANSFER = """
INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
    credit_account_id, amount, kind, debit_balance_after, credit_balance_after, created_at)
VALUES (gen_random_uuid(), 0, gen_random_uuid(), 'COIN', %s, %s, %s, 'earn', 0, 0, %s)
"""


def test_upgrade_takes_each_rows_last_time_from_its_entries(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0012")
    src, a, b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(empty_url, autocommit=True) as conn:
        for statement in RAW_SETUP:
            conn.execute(statement, {"src": src, "a": a, "b": b})
        # Out of order, as concurrent transfers could leave them before the upgrade.
        conn.execute(RAW_TRANSFER, (src, a, 100, T2))
        conn.execute(RAW_TRANSFER, (src, a, 50, T1))
    migrate.upgrade(empty_url, "0013")
    with psycopg.connect(empty_url, autocommit=True) as conn:
        rows = conn.execute("SELECT account_id, last_posted_at FROM ledger_balances").fetchall()
        assert dict(rows) == {src: T2, a: T2, b: None}
        # The next transfer starts after every entry already on its rows.
        conn.execute(RAW_TRANSFER, (a, b, 10, T1))
        stored = conn.execute("SELECT created_at FROM ledger_transfers WHERE credit_account_id"
                              " = %s", (b,)).fetchone()
        assert stored == (T2,)
    migrate.downgrade(empty_url, "0012")
    with psycopg.connect(empty_url, autocommit=True) as conn:
        conn.execute(RAW_TRANSFER, (a, b, 10, T1))  # posts as before, at the clock's time
        times = conn.execute("SELECT created_at FROM ledger_transfers WHERE credit_account_id"
                             " = %s ORDER BY seq", (b,)).fetchall()
        assert times == [(T2,), (T1,)]
