"""The unit of work: one transaction per request, committed whole or rolled back whole."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import APIRouter
from psycopg.pq import TransactionStatus
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from gullak.app import create_app
from gullak.db.engine import Database, UnitSession
from gullak.db.uow import SessionDep, unit_of_work
from gullak.kit.errors import Conflict
from gullak.ledger.models import Asset
from gullak.settings import Settings
from tests.helpers.http import http_client

router = APIRouter(prefix="/v1/uow")


@router.post("/ok/{n}")
async def write_ok(n: int, session: SessionDep) -> dict[str, int]:
    await session.execute(text("INSERT INTO uow_probe (n) VALUES (:n)"), {"n": n})
    return {"n": n}


@router.post("/fail/{n}")
async def write_then_fail(n: int, session: SessionDep) -> None:
    await session.execute(text("INSERT INTO uow_probe (n) VALUES (:n)"), {"n": n})
    raise Conflict("refused after writing")


@router.post("/deferred/{n}")
async def write_breaking_at_commit(n: int, session: SessionDep) -> dict[str, int]:
    # The deferred check only fires at COMMIT, after the endpoint has returned.
    await session.execute(text("INSERT INTO uow_probe (n, must_be_positive) VALUES (:n, -1)"),
                          {"n": n})
    return {"n": n}


@pytest.fixture
async def probe_db(fresh_db: Database) -> Database:
    async with fresh_db.engine.begin() as conn:
        await conn.execute(text(
            "CREATE TABLE uow_probe (n int PRIMARY KEY, must_be_positive int DEFAULT 1)"))
    return fresh_db


async def rows(db: Database) -> list[int]:
    async with db.engine.connect() as conn:
        return list((await conn.scalars(text("SELECT n FROM uow_probe ORDER BY n"))).all())


async def test_request_commits_on_success(probe_db: Database, settings: Settings) -> None:
    app = create_app(settings, probe_db)
    app.include_router(router)
    async with http_client(app) as c:
        assert (await c.post("/v1/uow/ok/1")).status_code == 200
    assert await rows(probe_db) == [1]


async def test_request_rolls_back_on_error(probe_db: Database, settings: Settings) -> None:
    app = create_app(settings, probe_db)
    app.include_router(router)
    async with http_client(app) as c:
        r = await c.post("/v1/uow/fail/2")
        assert r.status_code == 409
    assert await rows(probe_db) == []


async def test_failed_commit_is_an_error_response(probe_db: Database, settings: Settings) -> None:
    async with probe_db.engine.begin() as conn:
        await conn.execute(text("""
            CREATE FUNCTION uow_probe_check() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.must_be_positive <= 0 THEN
                RAISE EXCEPTION 'not positive' USING ERRCODE = 'check_violation';
              END IF;
              RETURN NULL;
            END $$"""))
        await conn.execute(text(
            "CREATE CONSTRAINT TRIGGER positive_at_commit AFTER INSERT ON uow_probe"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION uow_probe_check()"))
    app = create_app(settings, probe_db)
    app.include_router(router)
    async with http_client(app) as c:
        r = await c.post("/v1/uow/deferred/3")
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == "application/problem+json"
    assert await rows(probe_db) == []


async def test_unit_of_work_outside_http(probe_db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with unit_of_work(probe_db) as session:
            await session.execute(text("INSERT INTO uow_probe (n) VALUES (4)"))
            raise RuntimeError("job failed")
    async with unit_of_work(probe_db) as session:
        await session.execute(text("INSERT INTO uow_probe (n) VALUES (5)"))
    assert await rows(probe_db) == [5]


@router.post("/remembered/{n}")
async def write_then_refuse_keeping(n: int, session: SessionDep) -> None:
    await session.execute(text("INSERT INTO uow_probe (n) VALUES (:n)"), {"n": n})
    raise Conflict("refused, but the attempt counts", keep_changes=True)


async def test_refusal_that_keeps_its_changes(probe_db: Database, settings: Settings) -> None:
    app = create_app(settings, probe_db)
    app.include_router(router)
    async with http_client(app) as c:
        r = await c.post("/v1/uow/remembered/6")
        assert r.status_code == 409
        assert r.headers["content-type"] == "application/problem+json"
    assert await rows(probe_db) == [6]


# -- statements on the driver ---------------------------------------------------------------

async def test_driver_and_orm_statements_are_one_transaction(probe_db: Database) -> None:
    async with unit_of_work(probe_db) as session:
        assert isinstance(session, UnitSession)
        await session.driver.execute("INSERT INTO uow_probe (n) VALUES (7)")
        await session.execute(text("INSERT INTO uow_probe (n) VALUES (8)"))
        await session.driver.execute("INSERT INTO uow_probe (n) VALUES (9)")
    with pytest.raises(RuntimeError):
        async with unit_of_work(probe_db) as session:
            assert isinstance(session, UnitSession)
            await session.execute(text("INSERT INTO uow_probe (n) VALUES (10)"))
            await session.driver.execute("INSERT INTO uow_probe (n) VALUES (11)")
            raise RuntimeError("job failed")
    assert await rows(probe_db) == [7, 8, 9]


async def test_driver_only_units_commit_and_roll_back(probe_db: Database) -> None:
    async with unit_of_work(probe_db) as session:
        assert isinstance(session, UnitSession)
        await session.driver.execute("INSERT INTO uow_probe (n) VALUES (12)")
        assert not session.orm_started  # nothing built the ORM session
    with pytest.raises(Conflict):
        async with unit_of_work(probe_db) as session:
            assert isinstance(session, UnitSession)
            await session.driver.execute("INSERT INTO uow_probe (n) VALUES (13)")
            raise Conflict("refused after writing")
    with pytest.raises(Conflict):
        async with unit_of_work(probe_db) as session:
            assert isinstance(session, UnitSession)
            await session.driver.execute("INSERT INTO uow_probe (n) VALUES (14)")
            raise Conflict("refused, but the attempt counts", keep_changes=True)
    assert await rows(probe_db) == [12, 14]


async def test_a_failed_driver_commit_is_a_database_error(probe_db: Database) -> None:
    async with probe_db.engine.begin() as conn:
        await conn.execute(text("""
            CREATE FUNCTION uow_probe_check() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.must_be_positive <= 0 THEN
                RAISE EXCEPTION 'not positive' USING ERRCODE = 'check_violation';
              END IF;
              RETURN NULL;
            END $$"""))
        await conn.execute(text(
            "CREATE CONSTRAINT TRIGGER positive_at_commit AFTER INSERT ON uow_probe"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION uow_probe_check()"))
    with pytest.raises(IntegrityError):
        async with unit_of_work(probe_db) as session:
            assert isinstance(session, UnitSession)
            await session.driver.execute(
                "INSERT INTO uow_probe (n, must_be_positive) VALUES (15, -1)")
    # The connection went back to the pool clean: the next unit works.
    async with unit_of_work(probe_db) as session:
        await session.execute(text("INSERT INTO uow_probe (n) VALUES (16)"))
    assert await rows(probe_db) == [16]


@pytest.mark.parametrize(("pgbouncer", "threshold"), [(False, 5), (True, None)])
async def test_pgbouncer_mode_prepares_nothing(
        fresh_db: Database, pgbouncer: bool, threshold: int | None) -> None:
    db = Database(fresh_db.url, pool_size=1, max_overflow=0, pgbouncer=pgbouncer)
    try:
        async with unit_of_work(db) as session:
            assert isinstance(session, UnitSession)
            assert session.driver.prepare_threshold == threshold
    finally:
        await db.dispose()


def test_the_pgbouncer_setting_reaches_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GULLAK_DATABASE_PGBOUNCER", "true")
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none")
    assert Database.from_settings(settings).pgbouncer is True


async def test_what_the_orm_holds_is_flushed_at_commit(fresh_db: Database) -> None:
    async with unit_of_work(fresh_db) as session:
        session.add(Asset(code="PENDING", name="Pending", kind="coin", scale=0))
    async with unit_of_work(fresh_db) as session:
        assert await session.scalar(text(
            "SELECT name FROM ledger_assets WHERE code = 'PENDING'")) == "Pending"


async def test_a_unit_passes_its_idle_connection_to_the_next(fresh_db: Database) -> None:
    db = Database(fresh_db.url, pool_size=2, max_overflow=0)
    try:
        async with unit_of_work(db) as session:
            assert isinstance(session, UnitSession)
            first = session.driver
            await session.driver.execute("SELECT 1")
        assert len(db.pool.kept) == 1  # not given back: the next unit takes it as it is
        async with unit_of_work(db) as session:
            assert isinstance(session, UnitSession)
            assert session.driver is first
            assert db.pool.kept == []
        # A unit that used the ORM keeps it too, its session closed; the next one's ORM
        # session runs on it in a transaction of its own and sees what the first committed.
        async with unit_of_work(db) as session:
            session.add(Asset(code="KEPT", name="Kept", kind="coin", scale=0))
        assert len(db.pool.kept) == 1
        async with unit_of_work(db) as session:
            assert isinstance(session, UnitSession)
            assert session.driver is first
            assert await session.scalar(text("SELECT name FROM ledger_assets"
                                             " WHERE code = 'KEPT'")) == "Kept"
            assert session.driver.info.transaction_status != TransactionStatus.IDLE
        assert len(db.pool.kept) == 1
        assert first.info.transaction_status == TransactionStatus.IDLE
    finally:
        await db.dispose()


async def test_a_kept_connection_never_makes_anyone_wait(fresh_db: Database) -> None:
    # One connection: a unit keeps it; what asks the pool next takes it back at once (with the
    # pool's own 30 s wait, a kept connection that stayed kept would time out here).
    db = Database(fresh_db.url, pool_size=1, max_overflow=0)
    db.engine.sync_engine.pool._timeout = 2  # type: ignore[attr-defined]
    try:
        async with unit_of_work(db) as session:
            await session.driver.execute("SELECT 1")  # type: ignore[attr-defined]
        assert len(db.pool.kept) == 0  # a pool of one keeps nothing (keep = 0)
        wider = Database(fresh_db.url, pool_size=2, max_overflow=0)
        wider.engine.sync_engine.pool._timeout = 2  # type: ignore[attr-defined]
        try:
            async with unit_of_work(wider) as outer:
                async with unit_of_work(wider) as inner:
                    await inner.driver.execute("SELECT 1")  # type: ignore[attr-defined]
                assert len(wider.pool.kept) == 1
                # The pool is empty; engine.connect() takes the kept connection back.
                async with wider.engine.connect() as conn:
                    assert await conn.scalar(text("SELECT 2")) == 2
                assert wider.pool.kept == []
                await outer.driver.execute("SELECT 1")  # type: ignore[attr-defined]
        finally:
            await wider.dispose()
    finally:
        await db.dispose()


async def test_units_give_back_while_others_wait(fresh_db: Database) -> None:
    db = Database(fresh_db.url, pool_size=2, max_overflow=0)
    db.engine.sync_engine.pool._timeout = 5  # type: ignore[attr-defined]
    kept_while_waited: list[int] = []

    async def unit() -> None:
        async with unit_of_work(db) as session:
            await session.driver.execute("SELECT pg_sleep(0.01)")  # type: ignore[attr-defined]
        if db.pool.waiting:
            kept_while_waited.append(len(db.pool.kept))

    try:
        # Eight units on two connections: whoever ends while another waits gives its
        # connection back to the pool for the waiter, and keeps nothing.
        await asyncio.gather(*(unit() for _ in range(8)))
        assert kept_while_waited and set(kept_while_waited) == {0}
        assert db.pool.waiting == 0
        assert len(db.pool.kept) == 1  # the last to end kept theirs
    finally:
        await db.dispose()
