"""Monthly partitions by id (gullak.db.partitions, migration 0016): rows land in their month,
months are made ahead, an id without a month is refused, history reads across months as it
read from one table, and the migration keeps every row both ways."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak import worker
from gullak.access import service as access
from gullak.db import embedded, migrate, partitions
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.kit.audit import RequestMeta
from gullak.ledger import service
from gullak.ledger.schemas import AccountOut, TransferIn
from gullak.ledger.verify import verify, verify_database
from gullak.system import jobs
from tests.helpers.ledger import Book, make_book, verified

TABLES = ("audit_log", "cashback_events", "gateway_events", "ledger_transfers")
OF_0016 = ("audit_log", "ledger_transfers")  # the tables migration 0016 partitioned
DAY = dt.timedelta(days=1)

RAW_TRANSFER = text("""
INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
    credit_account_id, amount, kind, debit_balance_after, credit_balance_after, created_at)
VALUES (:id, 0, :id, 'COIN', :debit, :credit, :amount, 'earn', 0, 0, :at)
""")
RAW_AUDIT = text("""
INSERT INTO audit_log (id, at, actor_type, action, entity_type)
VALUES (:id, :at, 'system', 'test.partitions', 'test')
""")
RAW_EVENT = text("""
INSERT INTO gateway_events (id, provider, event_id, kind, payload)
VALUES (:id, 'sandbox', CAST(:id AS text), 'other', '{}')
""")
PARTITION_OF = "SELECT tableoid::regclass::text FROM {table} WHERE id = :id"


def uuid7_at(at: dt.datetime) -> uuid.UUID:
    """A v7 id with the time `at`, the rest random, as uuid7() makes one at that time."""
    return uuid.UUID(int=partitions.uuid7_floor(at).int | 7 << 76 | random.getrandbits(12) << 64
                     | 2 << 62 | random.getrandbits(62))


def last_month() -> dt.datetime:
    return partitions.month_start(partitions.month_start(clock.now()) - DAY)


async def partition_of(session: AsyncSession, table: str, id_: uuid.UUID) -> str:
    return str(await session.scalar(text(PARTITION_OF.format(table=table)), {"id": id_}))


def expected_partition(table: str, id_: uuid.UUID) -> str:
    made = partitions.uuid7_time(id_)
    assert made is not None
    return f"{partitions.SCHEMA}.{partitions.partition_name(table, made)}"


async def bounds_in_catalog(session: AsyncSession, table: str) -> dict[str, str]:
    rows = await session.execute(text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = CAST(:t AS regclass)"),
        {"t": table})
    return {name: bound for name, bound in rows}


def bound_sql(month: dt.datetime) -> str:
    low, high = partitions.bounds(month)
    return f"FOR VALUES FROM ('{low}') TO ('{high}')"


# -- the bounds --------------------------------------------------------------------------------

async def test_bounds_agree_with_the_sql_side_and_with_uuid7(session: AsyncSession) -> None:
    for at in (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 3, 31, 23, 59, 59,
                                                                     999000, tzinfo=dt.UTC)):
        assert await session.scalar(text("SELECT gullak_uuid7_floor(:at)"),
                                    {"at": at}) == partitions.uuid7_floor(at)
        made = await session.scalar(text("SELECT gullak_uuid7(:at)"), {"at": at})
        assert made.version == 7 and partitions.uuid7_time(made) == at
        assert await session.scalar(text("SELECT gullak_uuid7_time(:id)"), {"id": made}) == at
    now = uuid7()
    low, high = partitions.bounds(clock.now())
    assert low <= now < high
    assert partitions.bounds(dt.datetime(2026, 12, 31, 23, 0, tzinfo=dt.UTC))[1] \
        == partitions.uuid7_floor(dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    # Months are UTC months, whatever the zone of the time given.
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    assert partitions.month_start(dt.datetime(2027, 2, 1, 2, 0, tzinfo=ist)) \
        == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert partitions.uuid7_time(uuid.uuid4()) is None
    assert await session.scalar(text("SELECT gullak_uuid7_time(:id)"),
                                {"id": uuid.uuid4()}) is None


async def test_the_migration_made_this_month_and_three_ahead(session: AsyncSession) -> None:
    assert await partitions.tables(session) == sorted(TABLES)
    for table in TABLES:
        found = await bounds_in_catalog(session, table)
        month = partitions.month_start(clock.now())
        for _ in range(partitions.MONTHS_AHEAD + 1):
            assert found[partitions.partition_name(table, month)] == bound_sql(month)
            month = partitions.next_month(month)
        assert not any("DEFAULT" in bound for bound in found.values())


# -- rows and their partitions ---------------------------------------------------------------

async def test_rows_land_in_their_months_partition(session: AsyncSession) -> None:
    book = await make_book(session)
    a = await book.user()
    await book.fund(a, 100)
    [entry] = (await service.history(session, a.id)).entries
    assert await partition_of(session, "ledger_transfers", entry.transfer_id) \
        == expected_partition("ledger_transfers", entry.transfer_id)

    # A month that already passed, once its partition exists, holds the ids made in it.
    assert await partitions.ensure(session, since=last_month()) == [
        partitions.partition_name(t, last_month()) for t in sorted(TABLES)]
    old = uuid7_at(last_month() + 3 * DAY)
    await session.execute(RAW_TRANSFER, {"id": old, "debit": book.issuance.id,
                                         "credit": a.id, "amount": 5, "at": clock.now()})
    assert await partition_of(session, "ledger_transfers", old) \
        == expected_partition("ledger_transfers", old)
    await session.execute(RAW_AUDIT, {"id": old, "at": clock.now()})
    assert await partition_of(session, "audit_log", old) == expected_partition("audit_log", old)
    await session.execute(RAW_EVENT, {"id": old})
    assert await partition_of(session, "gateway_events", old) \
        == expected_partition("gateway_events", old)

    await access.write_audit(session, actor=None, action="test.written", entity_type="test",
                             entity_id=None, before=None, after=None, outcome="ok",
                             meta=RequestMeta())
    written = await session.scalar(text("SELECT id FROM audit_log WHERE action = 'test.written'"))
    assert await partition_of(session, "audit_log", written) \
        == expected_partition("audit_log", written)
    assert (await verify(session)).ok


async def test_an_id_without_a_partition_is_refused(session: AsyncSession) -> None:
    book = await make_book(session)
    a = await book.user()
    far = uuid7_at(clock.now() + 800 * DAY)
    for id_ in (far, uuid.uuid4()):
        for statement, params in (
            (RAW_TRANSFER, {"id": id_, "debit": book.issuance.id, "credit": a.id, "amount": 1,
                            "at": clock.now()}),
            (RAW_AUDIT, {"id": id_, "at": clock.now()}),
            (RAW_EVENT, {"id": id_}),
        ):
            with pytest.raises(DBAPIError) as refused:
                async with session.begin_nested():
                    await session.execute(statement, params)
            assert refused.value.orig.sqlstate == "23514"  # type: ignore[union-attr]
            assert "no partition of relation" in str(refused.value.orig)
            assert str(id_) in str(refused.value.orig)  # the detail names the id
    assert (await service.balance(session, a.id)).posted == 0


async def test_partitions_keep_the_guards(session: AsyncSession) -> None:
    book = await make_book(session)
    a = await book.user()
    await book.fund(a, 10)
    name = f"{partitions.SCHEMA}.{partitions.partition_name('ledger_transfers', clock.now())}"
    audit = f"{partitions.SCHEMA}.{partitions.partition_name('audit_log', clock.now())}"
    await session.execute(RAW_AUDIT, {"id": uuid7(), "at": clock.now()})
    # A partition of the ledger is referred to by reversals: TRUNCATE alone is refused for
    # that (0A000) before any trigger runs, and with CASCADE by the partition's own trigger.
    for statement in (f"TRUNCATE {name} CASCADE", f"UPDATE {name} SET amount = 11",
                      f"DELETE FROM {name}", "TRUNCATE ledger_transfers",
                      f"TRUNCATE {audit}", f"UPDATE {audit} SET action = 'x'",
                      f"DELETE FROM {audit}", "TRUNCATE audit_log"):
        with pytest.raises(DBAPIError) as refused:
            async with session.begin_nested():
                await session.execute(text(statement))
        assert refused.value.orig.sqlstate == "GL010", statement  # type: ignore[union-attr]


async def test_gateway_event_partitions_keep_the_append_only_guard(
        session: AsyncSession) -> None:
    made = uuid7()
    await session.execute(RAW_EVENT, {"id": made})
    name = f"{partitions.SCHEMA}.{partitions.partition_name('gateway_events', clock.now())}"
    # gateway_event_keys refers to them: TRUNCATE alone is refused for that (0A000).
    for statement in (f"TRUNCATE {name} CASCADE", f"UPDATE {name} SET payload = '[]'",
                      f"DELETE FROM {name}", "TRUNCATE gateway_events CASCADE",
                      f"UPDATE gateway_events SET kind = 'captured' WHERE id = '{made}'"):
        with pytest.raises(DBAPIError) as refused:
            async with session.begin_nested():
                await session.execute(text(statement))
        assert refused.value.orig.sqlstate == "23001", statement  # type: ignore[union-attr]
    # The processing mark is written once, in any month's partition.
    await session.execute(text(f"UPDATE {name} SET processed_at = now(), outcome = 'ignored'"
                               f" WHERE id = '{made}'"))
    assert await session.scalar(text("SELECT outcome FROM gateway_events WHERE id = :id"),
                                {"id": made}) == "ignored"


async def test_verify_still_finds_a_repeated_entry_number(session: AsyncSession) -> None:
    book = await make_book(session)
    a, b = await book.user(), await book.user()
    await book.fund(a, 10)
    first = (await service.history(session, a.id)).entries[0]
    # Only the posting trigger numbers entries; without it a second row may take a number.
    await session.execute(text(
        "ALTER TABLE ledger_transfers DISABLE TRIGGER ledger_transfers_post"))
    await session.execute(text(
        "INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,"
        " credit_account_id, amount, kind, debit_balance_after, credit_balance_after, created_at)"
        " VALUES (:id, :seq, :id, 'COIN', :a, :b, 1, 'spend', 9, 1, :at)"),
        {"id": uuid7(), "seq": first.seq, "a": a.id, "b": b.id, "at": clock.now()})
    report = await verify(session)
    failing = {c.name: c for c in report.checks if not c.ok}
    assert failing["entry numbers are unique"].sample == [{"seq": first.seq, "count": 2}]


# -- the job ---------------------------------------------------------------------------------

async def test_the_job_makes_the_months_ahead_once(fresh_db: Database,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "_db", fresh_db)
    assert await jobs.ensure_partitions(timestamp=0) == []  # the migration made them

    later = clock.now() + 150 * DAY
    clock.freeze(later)
    made = await jobs.ensure_partitions(timestamp=0)
    months, month = [], partitions.month_start(later)
    for _ in range(partitions.MONTHS_AHEAD + 1):
        months.append(month)
        month = partitions.next_month(month)
    # 150 days on is at least four months on: none of these existed.
    assert sorted(made) == sorted(partitions.partition_name(t, m) for t in TABLES for m in months)
    async with fresh_db.sessionmaker() as session:
        for table in TABLES:
            found = await bounds_in_catalog(session, table)
            for m in months:
                assert found[partitions.partition_name(table, m)] == bound_sql(m)
    assert await jobs.ensure_partitions(timestamp=0) == []

    # A month made by the job takes rows and keeps the guards like the others.
    ahead = uuid7_at(months[-1] + DAY)
    async with unit_of_work(fresh_db) as session:
        book = await make_book(session)
        a = await book.user()
        await session.execute(RAW_TRANSFER, {"id": ahead, "debit": book.issuance.id,
                                             "credit": a.id, "amount": 3, "at": clock.now()})
        assert await partition_of(session, "ledger_transfers", ahead) \
            == expected_partition("ledger_transfers", ahead)
    with pytest.raises(DBAPIError) as refused:
        async with unit_of_work(fresh_db) as session:
            await session.execute(text(
                f"TRUNCATE {expected_partition('ledger_transfers', ahead)} CASCADE"))
    assert refused.value.orig.sqlstate == "GL010"  # type: ignore[union-attr]
    assert (await verify_database(fresh_db)).ok


# -- history across months -------------------------------------------------------------------

async def pages(session: AsyncSession, account: uuid.UUID, limit: int = 3) -> list[list[Any]]:
    """Every page of an account's history, following next_cursor."""
    out, cursor = [], None
    while True:
        page = await service.history(session, account, limit=limit, cursor=cursor)
        out.append([e.model_dump() for e in page.entries])
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


async def post_across_months(session: AsyncSession, book: Book, a: AccountOut,
                             months: list[dt.datetime]) -> list[uuid.UUID]:
    """Transfers to and from `a` whose ids take turns between the months: their entry numbers
    interleave the partitions."""
    b = await book.user()
    ids = []
    for n in range(12):
        id_ = uuid7_at(months[n % len(months)] + dt.timedelta(hours=n))
        debit, credit = (book.issuance, a) if n % 3 else (a, b)
        await session.execute(RAW_TRANSFER, {"id": id_, "debit": debit.id, "credit": credit.id,
                                             "amount": 10 + n, "at": clock.now()})
        ids.append(id_)
    return ids


async def test_history_across_a_month_boundary_reads_in_entry_order(
        session: AsyncSession) -> None:
    book = await make_book(session)
    a = await book.user()
    await partitions.ensure(session, since=last_month())
    months = [last_month(), partitions.month_start(clock.now())]
    await book.fund(a, 100)
    ids = await post_across_months(session, book, a, months)
    assert {await partition_of(session, "ledger_transfers", i) for i in ids} \
        == {expected_partition("ledger_transfers", uuid7_at(m)) for m in months}
    read = await pages(session, a.id)
    entries = [e for page in read for e in page]
    assert [len(p) for p in read] == [3, 3, 3, 3, 1]
    assert [e["seq"] for e in entries] == sorted((e["seq"] for e in entries), reverse=True)
    assert {e["transfer_id"] for e in entries} == {*ids, entries[-1]["transfer_id"]}
    # Each entry's balance after is the one before it plus its amount, across the months.
    for newer, older in zip(entries, entries[1:], strict=False):
        assert newer["balance_after"] == older["balance_after"] + newer["amount"]


# -- the migration, with rows ----------------------------------------------------------------

@pytest.fixture
def empty_url(server_url: str, run_id: str) -> Iterator[str]:
    name = f"gullak_test_{run_id}_partitions"
    embedded.drop_database(server_url, name)
    embedded.ensure_database(server_url, name)
    yield embedded.with_database(server_url, name)
    embedded.drop_database(server_url, name)


def snapshot(url: str, tables: tuple[str, ...] = OF_0016) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in tables}


def kinds(url: str, tables: tuple[str, ...] = OF_0016) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute(
            "SELECT relname, relkind::text FROM pg_class WHERE relname = ANY(%s)"
            " AND relnamespace = 'public'::regnamespace", (list(tables),)).fetchall())


async def history_of(url: str, account: uuid.UUID) -> list[list[Any]]:
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        async with unit_of_work(db) as session:
            return await pages(session, account)
    finally:
        await db.dispose()


async def test_upgrade_from_0015_and_back_keeps_every_row(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0015")
    months = [partitions.month_start(clock.now() - n * 31 * DAY) for n in (4, 1, 0)]
    db = Database(empty_url, pool_size=1, max_overflow=0)
    try:
        async with unit_of_work(db) as session:
            book = await make_book(session)
            a = await book.user()
            await book.fund(a, 1000)
            ids = await post_across_months(session, book, a, months)
            for month in months:
                await session.execute(RAW_AUDIT, {"id": uuid7_at(month + DAY), "at": month})
    finally:
        await db.dispose()
    before, history = snapshot(empty_url), await history_of(empty_url, a.id)
    assert len(before["ledger_transfers"]) == 13 and len(before["audit_log"]) >= 3

    migrate.upgrade(empty_url, "0016")
    assert kinds(empty_url) == {t: "p" for t in OF_0016}
    assert snapshot(empty_url) == before
    assert await history_of(empty_url, a.id) == history
    assert await verified(empty_url)
    with psycopg.connect(empty_url) as conn:
        for table, rows in before.items():
            for row in rows:
                where = conn.execute(f"SELECT tableoid::regclass::text FROM {table}"
                                     f" WHERE id = %s", (row[0],)).fetchone()
                assert where == (expected_partition(table, row[0]),)
        made = {r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'partitions'::regnamespace"
            " AND relkind = 'r'")}
    # From the oldest row's month to three months ahead.
    month, wanted, last = months[0], set(), partitions.month_start(clock.now())
    for _ in range(partitions.MONTHS_AHEAD):
        last = partitions.next_month(last)
    while month <= last:
        wanted |= {partitions.partition_name(t, month) for t in OF_0016}
        month = partitions.next_month(month)
    assert made == wanted

    # Posting goes on: a new entry, and a reversal of one made months ago.
    db = Database(empty_url, pool_size=1, max_overflow=0)
    try:
        async with unit_of_work(db) as session:
            await service.transfer(session, TransferIn(
                debit_account_id=book.issuance.id, credit_account_id=a.id, asset_code="COIN",
                amount=7, kind="earn"))
            back = await service.reverse(session, ids[1], reason="test")
            assert back.reverses_id == ids[1]
    finally:
        await db.dispose()
    after = snapshot(empty_url)
    assert len(after["ledger_transfers"]) == 15
    assert await verified(empty_url)

    migrate.downgrade(empty_url, "0015")
    assert kinds(empty_url) == {t: "r" for t in OF_0016}
    assert snapshot(empty_url) == after
    assert await verified(empty_url)
    with psycopg.connect(empty_url) as conn:
        assert conn.execute("SELECT indisunique FROM pg_index"
                            " WHERE indexrelid = 'uq_ledger_transfers_seq'::regclass").fetchone() \
            == (True,)
        assert conn.execute("SELECT to_regnamespace('partitions')").fetchone() == (None,)
    migrate.upgrade(empty_url)
    assert snapshot(empty_url) == after


def test_upgrade_refuses_ids_that_tell_no_month(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0015")
    with psycopg.connect(empty_url, autocommit=True) as conn:
        conn.execute("INSERT INTO audit_log (id, at, actor_type, action, entity_type)"
                     " VALUES (%s, now(), 'system', 'test', 'test')", (uuid.uuid4(),))
    with pytest.raises(RuntimeError, match="audit_log: 1 rows have an id that is not a UUID"
                                           " version 7"):
        migrate.upgrade(empty_url, "0016")
    assert migrate.current(empty_url) == {"0015"}
    assert kinds(empty_url) == {t: "r" for t in OF_0016}


# -- migration 0021: gateway events ----------------------------------------------------------

EVENT_ROWS = ("SELECT id, provider, event_id, kind, ref, amount, payload, received_at,"
              " processed_at, outcome FROM gateway_events ORDER BY id")


def events_of(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(EVENT_ROWS).fetchall()


def test_gateway_events_upgrade_from_0020_and_back_keeps_every_event(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0020")
    months = [partitions.month_start(clock.now() - n * 31 * DAY) for n in (2, 0)]
    ids = [uuid7_at(months[0] + DAY), uuid7_at(months[1] + DAY), uuid7_at(months[1] + 2 * DAY)]
    with psycopg.connect(empty_url, autocommit=True) as conn:
        for n, id_ in enumerate(ids):
            conn.execute("INSERT INTO gateway_events (id, provider, event_id, kind, ref, amount,"
                         " payload) VALUES (%s, 'sandbox', %s, 'captured', 'sandbox_x', 100,"
                         " '{\"n\": 1}')", (id_, f"evt_{n}"))
        conn.execute("UPDATE gateway_events SET processed_at = now(), outcome = 'succeeded'"
                     " WHERE id = %s", (ids[0],))
    before = events_of(empty_url)

    migrate.upgrade(empty_url, "0021")
    assert kinds(empty_url, ("gateway_events", "gateway_event_keys")) == {
        "gateway_events": "p", "gateway_event_keys": "r"}
    assert events_of(empty_url) == before
    with psycopg.connect(empty_url, autocommit=True) as conn:
        for id_ in ids:
            assert conn.execute("SELECT tableoid::regclass::text FROM gateway_events"
                                " WHERE id = %s", (id_,)).fetchone() \
                == (expected_partition("gateway_events", id_),)
        assert conn.execute("SELECT provider, event_id, gateway_event_id FROM gateway_event_keys"
                            " ORDER BY gateway_event_id").fetchall() == [
            ("sandbox", f"evt_{n}", id_) for n, id_ in enumerate(ids)]
        # An event's key, once taken, refuses a second row; a key must name a stored event.
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO gateway_event_keys VALUES ('sandbox', 'evt_1', %s)",
                         (ids[0],))
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("INSERT INTO gateway_event_keys VALUES ('sandbox', 'evt_9', %s)",
                         (uuid7(),))
        with pytest.raises(psycopg.errors.RestrictViolation):
            conn.execute("UPDATE gateway_events SET outcome = 'x' WHERE id = %s", (ids[0],))

    migrate.downgrade(empty_url, "0020")
    assert kinds(empty_url, ("gateway_events", "gateway_event_keys")) == {"gateway_events": "r"}
    assert events_of(empty_url) == before
    with psycopg.connect(empty_url, autocommit=True) as conn, \
            pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("INSERT INTO gateway_events (id, provider, event_id, kind, payload)"
                     " VALUES (%s, 'sandbox', 'evt_1', 'other', '{}')", (uuid7(),))
    migrate.upgrade(empty_url)
    assert events_of(empty_url) == before
