"""Read-only endpoints run each statement on its own: no BEGIN and no COMMIT around a read
(db/uow.py `autocommit`), nor around a ledger command, which is one statement; other writes
keep their transaction, and the pool gets its connections back in transaction mode."""

from __future__ import annotations

import uuid
from collections.abc import Generator
from typing import Any

import psycopg
import pytest
from psycopg._connection_base import BaseConnection
from sqlalchemy import text

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import autocommit, unit_of_work
from gullak.kit.security import Subject
from gullak.ledger import service
from gullak.ledger.schemas import AccountOut, AssetIn, TransferIn
from gullak.settings import Settings
from tests.helpers.http import acting_as

SERVICE = Subject("service", uuid.uuid4(), frozenset({"ledger.read", "ledger.write"}))


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What any psycopg connection sends from now on: statements, and the BEGIN, COMMIT and
    ROLLBACK that psycopg sends by itself."""
    log: list[str] = []
    execute = psycopg.AsyncCursor.execute
    command = BaseConnection._exec_command

    async def counted(self: psycopg.AsyncCursor[Any], query: Any, *args: Any, **kw: Any) -> Any:
        result = await execute(self, query, *args, **kw)  # psycopg's BEGIN goes out first
        log.append(str(query).split()[0].upper())
        return result

    def commanded(self: BaseConnection[Any], cmd: Any, *args: Any,
                  **kw: Any) -> Generator[Any, Any, Any]:
        raw = cmd if isinstance(cmd, bytes) else str(cmd).encode()
        log.append(raw.decode(errors="replace").split()[0].upper())
        return (yield from command(self, cmd, *args, **kw))

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", counted)
    monkeypatch.setattr(BaseConnection, "_exec_command", commanded)
    return log


async def funded(db: Database) -> tuple[AccountOut, AccountOut]:
    async with unit_of_work(db) as s:
        await service.create_asset(s, AssetIn(code="RU", name="Coins", kind="coin", scale=0))
        issuance = await service.platform_account(s, "RU", "issuance")
        a = await service.user_account(s, uuid.uuid4(), "RU")
        b = await service.user_account(s, uuid.uuid4(), "RU")
        await service.transfer(s, TransferIn(debit_account_id=issuance.id, credit_account_id=a.id,
                                             asset_code="RU", amount=100, kind="earn"))
    return a, b


async def test_reads_and_ledger_commands_are_one_statement_other_writes_one_transaction(
        fresh_db: Database, settings: Settings, sent: list[str]) -> None:
    a, b = await funded(fresh_db)
    app = create_app(settings, fresh_db)
    async with acting_as(app, SERVICE) as client:
        sent.clear()
        r = await client.get(f"/v1/ledger/accounts/{a.id}/balance")
        assert r.status_code == 200 and r.json()["posted"] == 100
        assert sent == ["SELECT"]

        sent.clear()
        r = await client.post("/v1/ledger/transfers", headers={"Idempotency-Key": "ru-1"},
                              json={"debit_account_id": str(a.id), "credit_account_id": str(b.id),
                                    "asset_code": "RU", "amount": 30, "kind": "spend"})
        assert r.status_code == 201, r.text
        assert sent == ["SELECT"]  # the ledger's function: key, posting and result

        sent.clear()
        r = await client.post("/v1/ledger/holds", headers={"Idempotency-Key": "ru-2"},
                              json={"account_id": str(a.id), "asset_code": "RU", "amount": 20,
                                    "expires_at": "2099-01-01T00:00:00Z"})
        assert r.status_code == 201, r.text
        assert sent[0] == "BEGIN" and sent[-1] == "COMMIT" and len(sent) > 3  # hold + audit

        r = await client.get(f"/v1/ledger/accounts/{a.id}/balance")
        assert (r.json()["posted"], r.json()["held"]) == (70, 20)  # both writes are in


async def test_a_read_unit_gives_its_connection_back_in_transaction_mode(
        fresh_db: Database) -> None:
    db = Database(fresh_db.url, pool_size=1, max_overflow=0)  # one connection, reused
    try:
        async with unit_of_work(db) as s:
            await autocommit(s)
            assert s.driver.autocommit  # type: ignore[attr-defined]
            await s.execute(text("SELECT 1"))
        async with unit_of_work(db) as s:
            assert not s.driver.autocommit  # type: ignore[attr-defined]
            await s.execute(text("CREATE TEMP TABLE ru_probe (n int)"))
            await s.execute(text("INSERT INTO ru_probe VALUES (1)"))
            in_tx = await s.scalar(text("SELECT now() = statement_timestamp()"))
            assert in_tx is False  # a transaction began before this statement
    finally:
        await db.dispose()


async def test_a_unit_already_in_a_transaction_stays_in_it(fresh_db: Database) -> None:
    async with unit_of_work(fresh_db) as s:
        await s.execute(text("SELECT 1"))
        await autocommit(s)
        assert not s.driver.autocommit  # type: ignore[attr-defined]
