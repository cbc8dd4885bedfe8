"""Every value-moving command is one statement sent to PostgreSQL, idempotency key included,
whether it posts or replays (migrations/sql/0014)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.ledger import service
from gullak.ledger.schemas import AssetIn, CaptureIn, HoldIn, TransferIn
from gullak.ledger.verify import verify_database


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement any psycopg cursor sends from now on."""
    sent: list[str] = []
    execute = psycopg.AsyncCursor.execute

    async def counted(self: psycopg.AsyncCursor[Any], query: Any, *args: Any, **kw: Any) -> Any:
        sent.append(str(query))
        return await execute(self, query, *args, **kw)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", counted)
    return sent


async def test_each_command_and_its_replay_is_one_statement(
        fresh_db: Database, statements: list[str]) -> None:
    async with unit_of_work(fresh_db) as s:
        await service.create_asset(s, AssetIn(code="COIN", name="Coins", kind="coin", scale=0))
        issuance = (await service.platform_account(s, "COIN", "issuance")).id
        a = (await service.user_account(s, uuid.uuid4(), "COIN")).id
        b = (await service.user_account(s, uuid.uuid4(), "COIN")).id
        await service.transfer(s, TransferIn(debit_account_id=issuance, credit_account_id=a,
                                             asset_code="COIN", amount=1000, kind="earn"))
    move = TransferIn(debit_account_id=a, credit_account_id=b, asset_code="COIN", amount=5,
                      kind="spend")
    hold_in = HoldIn(account_id=a, asset_code="COIN", amount=50,
                     expires_at=clock.now() + dt.timedelta(hours=1))

    async def once(command: Callable[[Any], Awaitable[Any]]) -> tuple[Any, Any]:
        """The command, then the same again (a replay), each in its own unit of work."""
        results = []
        for _ in range(2):
            async with unit_of_work(fresh_db) as s:
                statements.clear()
                results.append(await command(s))
                assert len(statements) == 1, statements
        return results[0], results[1]

    k = uuid.uuid4().hex
    first, again = await once(lambda s: service.transfer(s, move, idempotency_key=f"t{k}"))
    assert again == first
    first, again = await once(lambda s: service.post(s, [move, move], idempotency_key=f"p{k}"))
    assert again == first
    back, again = await once(lambda s: service.reverse(s, first.transfers[0].id, reason="r",
                                                       idempotency_key=f"r{k}"))
    assert again == back
    hold, again = await once(lambda s: service.place_hold(s, hold_in, idempotency_key=f"h{k}"))
    assert again == hold
    done, again = await once(lambda s: service.capture(
        s, hold.id, CaptureIn(credit_account_id=b, amount=20), idempotency_key=f"c{k}"))
    assert again == done and done.transfer.amount == 20
    other, _ = await once(lambda s: service.place_hold(s, hold_in, idempotency_key=f"o{k}"))
    freed, again = await once(lambda s: service.release(s, other.id, idempotency_key=f"l{k}"))
    assert again == freed and freed.status == "released"
    report = await verify_database(fresh_db)
    assert report.ok, report
