"""The database keeps the ledger's rules on its own: raw SQL cannot bypass the service.

And when the guards are switched off by someone with the power to, `verify` notices.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.ledger import service
from gullak.ledger.schemas import AccountOut, CaptureIn, HoldIn, TransferIn
from gullak.ledger.verify import verify, verify_database
from tests.helpers.ledger import Book, make_book


async def state(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "balances": [tuple(r) for r in await session.execute(text(
            "SELECT account_id, shard, balance, held FROM ledger_balances ORDER BY 1, 2"))],
        "transfers": [tuple(r) for r in await session.execute(text(
            "SELECT id, amount, debit_balance_after, credit_balance_after FROM ledger_transfers"
            " ORDER BY seq"))],
        "holds": [tuple(r) for r in await session.execute(text(
            "SELECT id, status, captured FROM ledger_holds ORDER BY id"))],
    }


async def refused_sql(session: AsyncSession, sql: str,
                      params: dict[str, Any] | None = None) -> str | None:
    """Run raw SQL in a savepoint, expect the database to refuse it and change nothing;
    returns the SQLSTATE of the refusal."""
    before = await state(session)
    with pytest.raises(DBAPIError) as caught:
        async with session.begin_nested():
            await session.execute(text(sql), params or {})
    assert await state(session) == before
    sqlstate: str | None = getattr(caught.value.orig, "sqlstate", None)
    return sqlstate


async def funded(book: Book, amount: int = 100) -> AccountOut:
    account = await book.user()
    await book.fund(account, amount)
    return account


async def test_balance_and_held_cannot_be_updated(book: Book) -> None:
    a = await funded(book)
    for sql in (
        "UPDATE ledger_balances SET balance = balance + 1000 WHERE account_id = :a",
        "UPDATE ledger_balances SET balance = 0 WHERE account_id = :a",
        "UPDATE ledger_balances SET held = held + 1 WHERE account_id = :a",
        "UPDATE ledger_balances SET allow_negative = true WHERE account_id = :a",
    ):
        assert await refused_sql(book.session, sql, {"a": a.id}) == "GL009", sql
    # Nor a platform balance, even though platform balances may be negative.
    assert await refused_sql(
        book.session, "UPDATE ledger_balances SET balance = balance - 5 WHERE account_id = :a",
        {"a": book.issuance.id}) == "GL009"


async def test_balance_rows_cannot_be_deleted(book: Book) -> None:
    a = await funded(book)
    empty = await book.user()
    for account in (a, empty):
        assert await refused_sql(book.session, "DELETE FROM ledger_balances WHERE account_id = :a",
                                 {"a": account.id}) == "GL009"


async def test_a_new_balance_row_starts_at_zero(book: Book) -> None:
    a = await book.user()
    for values in ("1, 50, 0", "1, 0, 50", "1, -50, 0"):
        assert await refused_sql(
            book.session,
            f"INSERT INTO ledger_balances (account_id, shard, balance, held, allow_negative)"
            f" VALUES (:a, {values}, false)", {"a": a.id}) == "GL009", values


async def test_transfers_cannot_be_updated_deleted_or_truncated(book: Book) -> None:
    a = await funded(book)
    for sql in (
        "UPDATE ledger_transfers SET amount = amount + 1 WHERE credit_account_id = :a",
        "UPDATE ledger_transfers SET metadata = '{\"x\": 1}' WHERE credit_account_id = :a",
        "DELETE FROM ledger_transfers WHERE credit_account_id = :a",
    ):
        assert await refused_sql(book.session, sql, {"a": a.id}) == "GL010", sql
    assert await refused_sql(book.session, "TRUNCATE ledger_transfers CASCADE") == "GL010"


RAW_TRANSFER = """
INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
    credit_account_id, amount, kind, debit_balance_after, credit_balance_after, created_at)
VALUES (:id, 0, :tx, 'COIN', :debit, :credit, :amount, 'spend', 0, 0, :at)
"""


def raw(debit: AccountOut, credit: AccountOut, amount: int) -> dict[str, Any]:
    # A v7 id, as every transfer's: its month's partition holds it.
    return {"id": uuid7(), "tx": uuid.uuid4(), "debit": debit.id, "credit": credit.id,
            "amount": amount, "at": clock.now()}


async def test_raw_transfer_that_overdraws_a_user_is_refused(book: Book) -> None:
    a, b = await funded(book, 100), await book.user()
    # The posting trigger refuses it (GL001); ck_ledger_balances_available (23514) stands
    # behind it for any write that would get past the trigger.
    assert await refused_sql(book.session, RAW_TRANSFER, raw(a, b, 101)) == "GL001"
    await book.session.execute(text(
        "INSERT INTO ledger_holds (id, account_id, asset_code, amount, expires_at, created_at)"
        " VALUES (:id, :a, 'COIN', 60, :exp, :at)"),
        {"id": uuid.uuid4(), "a": a.id, "exp": clock.now() + dt.timedelta(hours=1),
         "at": clock.now()})
    # What is held is not available to a raw transfer either.
    assert await refused_sql(book.session, RAW_TRANSFER, raw(a, b, 41)) == "GL001"
    for bad in (raw(a, a, 1), raw(a, b, 0), raw(a, b, -1)):
        assert await refused_sql(book.session, RAW_TRANSFER, bad) == "23514"
    ghost = AccountOut.model_construct(id=uuid.uuid4())
    assert await refused_sql(book.session, RAW_TRANSFER, raw(a, ghost, 1)) == "GL003"
    rupees = await book.user("INR")
    assert await refused_sql(book.session, RAW_TRANSFER, raw(a, rupees, 1)) == "GL004"
    assert (await service.balance(book.session, a.id)).posted == 100
    assert (await verify(book.session)).ok


async def test_raw_valid_transfer_moves_both_balances(book: Book) -> None:
    a, b = await funded(book, 100), await book.user()
    params = raw(a, b, 40)
    await book.session.execute(text(RAW_TRANSFER), params)
    row = (await book.session.execute(text(
        "SELECT seq, debit_balance_after, credit_balance_after FROM ledger_transfers"
        " WHERE id = :id"), {"id": params["id"]})).one()
    # The trigger filled in what the raw INSERT claimed (0, 0, seq 0).
    assert (row.debit_balance_after, row.credit_balance_after) == (60, 40)
    assert row.seq > 0
    assert (await service.balance(book.session, a.id)).posted == 60
    assert (await service.balance(book.session, b.id)).posted == 40
    assert (await verify(book.session)).ok


async def test_a_resolved_hold_cannot_go_back_to_pending(book: Book) -> None:
    a, shop = await funded(book, 100), await book.user()
    hold = await service.place_hold(book.session, HoldIn(
        account_id=a.id, asset_code="COIN", amount=60,
        expires_at=clock.now() + dt.timedelta(hours=1)))
    await service.capture(book.session, hold.id, CaptureIn(credit_account_id=shop.id,
                                                           amount=50))
    for sql in (
        "UPDATE ledger_holds SET status = 'pending', resolved_at = NULL, captured = 0"
        " WHERE id = :h",
        "UPDATE ledger_holds SET status = 'released' WHERE id = :h",
        "UPDATE ledger_holds SET captured = 60 WHERE id = :h",
        "DELETE FROM ledger_holds WHERE id = :h",
    ):
        assert await refused_sql(book.session, sql, {"h": hold.id}) in {"GL006", "GL010"}, sql
    pending = await service.place_hold(book.session, HoldIn(
        account_id=a.id, asset_code="COIN", amount=10,
        expires_at=clock.now() + dt.timedelta(hours=1)))
    # A pending hold cannot change its amount, nor be released with something captured.
    for sql in ("UPDATE ledger_holds SET amount = 1 WHERE id = :h",
                "UPDATE ledger_holds SET status = 'released', resolved_at = now(), captured = 5"
                " WHERE id = :h"):
        assert await refused_sql(book.session, sql, {"h": pending.id}) == "GL006", sql
    assert (await service.balance(book.session, a.id)).held == 10
    assert (await verify(book.session)).ok


async def failing_checks(db: Database) -> set[str]:
    report = await verify_database(db)
    return {c.name for c in report.checks if not c.ok}


@pytest.mark.breaks_ledger
async def test_verify_names_what_tampering_broke(fresh_db: Database) -> None:
    async with fresh_db.sessionmaker() as session, session.begin():
        book = await make_book(session)
        a, b = await book.user(), await book.user()
        await book.fund(a, 100)
        await service.transfer(session, TransferIn(
            debit_account_id=a.id, credit_account_id=b.id, asset_code="COIN", amount=30,
            kind="spend"))
    assert await failing_checks(fresh_db) == set()

    async with fresh_db.engine.begin() as conn:
        await conn.execute(text(
            "ALTER TABLE ledger_balances DISABLE TRIGGER ledger_balances_guard"))
        await conn.execute(text("UPDATE ledger_balances SET balance = balance + 7"
                                " WHERE account_id = :a"), {"a": b.id})
    report = await verify_database(fresh_db)
    assert not report.ok
    assert {c.name for c in report.checks if not c.ok} == {
        "balance equals its entries", "every asset sums to zero"}
    [wrong] = next(c for c in report.checks if c.name == "balance equals its entries").sample
    assert (wrong["account_id"], wrong["balance"], wrong["from_entries"]) == (b.id, 37, 30)


@pytest.mark.breaks_ledger
async def test_verify_notices_an_entry_changed_behind_the_guard(fresh_db: Database) -> None:
    async with fresh_db.sessionmaker() as session, session.begin():
        book = await make_book(session)
        a = await book.user()
        await book.fund(a, 100)
    async with fresh_db.engine.begin() as conn:
        await conn.execute(text(
            "ALTER TABLE ledger_transfers DISABLE TRIGGER ledger_transfers_immutable"))
        await conn.execute(text("UPDATE ledger_transfers SET amount = 90"
                                " WHERE credit_account_id = :a"), {"a": a.id})
    assert await failing_checks(fresh_db) == {
        "balance equals its entries", "balance after each entry follows from the one before"}
