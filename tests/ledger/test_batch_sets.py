"""A batch is posted as a set (migrations/sql/0015): the same balances, balances after, seq
order and times as the per-row path, and the same refusals."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.ledger import errors, service
from gullak.ledger.schemas import TransferIn
from tests.helpers.ledger import Book
from tests.ledger.test_service import assert_verified, hold_in, merchant, move, refused

_POST = text("""
SELECT * FROM ledger_post(NULL, NULL, :tx, CAST(:ids AS uuid[]), CAST(:assets AS text[]),
    CAST(:debits AS uuid[]), CAST(:credits AS uuid[]), CAST(:amounts AS bigint[]),
    CAST(:kinds AS text[]), CAST(:rtypes AS text[]), CAST(:rids AS text[]),
    CAST(:metas AS text[]), CAST(:lexps AS timestamptz[]), :at, NULL, NULL)
""")

# The per-row path as a plain INSERT: the posting trigger checks and posts each row, in
# order, with the batch's one time (as 0014's ledger_post did).
_LOCK = text("""
SELECT max(l.last_posted_at) FROM (
  SELECT b.last_posted_at FROM ledger_balances b
  WHERE b.account_id = ANY(CAST(:debits AS uuid[]) || CAST(:credits AS uuid[]))
    AND b.shard = ledger_shard_key() % b.shards
  ORDER BY b.account_id, b.shard FOR UPDATE OF b) l
""")
_INSERT = text("""
INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
    credit_account_id, amount, kind, reference_type, reference_id, metadata,
    debit_balance_after, credit_balance_after, lot_expires_at, created_at)
SELECT u.id, :seq, :tx, u.asset, u.debit, u.credit, u.amount, u.kind, u.rtype, u.rid,
       u.meta::jsonb, 0, 0, u.lexp, :at
FROM unnest(CAST(:ids AS uuid[]), CAST(:assets AS text[]), CAST(:debits AS uuid[]),
            CAST(:credits AS uuid[]), CAST(:amounts AS bigint[]), CAST(:kinds AS text[]),
            CAST(:rtypes AS text[]), CAST(:rids AS text[]), CAST(:metas AS text[]),
            CAST(:lexps AS timestamptz[]))
     WITH ORDINALITY AS u(id, asset, debit, credit, amount, kind, rtype, rid, meta, lexp, ord)
ORDER BY u.ord
""")

_POSTED = text("""
SELECT id, debit_shard, credit_shard, debit_balance_after, credit_balance_after, created_at,
       rank() OVER (ORDER BY seq)
FROM ledger_transfers WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY seq
""")
_BALANCES = text("""
SELECT account_id, shard, balance, held, last_posted_at FROM ledger_balances
WHERE account_id = ANY(CAST(:accounts AS uuid[])) ORDER BY account_id, shard
""")
_ROWS = text("""
SELECT count(*) FROM (
  SELECT debit_account_id, debit_shard FROM ledger_transfers WHERE id = ANY(CAST(:ids AS uuid[]))
  UNION
  SELECT credit_account_id, credit_shard FROM ledger_transfers WHERE id = ANY(CAST(:ids AS uuid[])))
  x
""")
_SPEND_LOTS = text("""
SELECT (SELECT coalesce(json_agg(s ORDER BY s.account_id, s.period), '[]')::text
        FROM ledger_spend s),
       (SELECT coalesce(json_agg(l ORDER BY l.id), '[]')::text FROM ledger_lots l)
""")


def params(batch: list[TransferIn], at: dt.datetime) -> dict[str, Any]:
    return {
        "tx": uuid7(), "ids": [uuid7() for _ in batch], "at": at,
        "assets": [t.asset_code for t in batch],
        "debits": [t.debit_account_id for t in batch],
        "credits": [t.credit_account_id for t in batch],
        "amounts": [t.amount for t in batch], "kinds": [t.kind for t in batch],
        "rtypes": [t.reference_type for t in batch], "rids": [t.reference_id for t in batch],
        "metas": [json.dumps(t.metadata) for t in batch],
        "lexps": [t.lot_expires_at for t in batch]}


async def row_updates(session: AsyncSession) -> int:
    """Updates of balance rows so far in this transaction."""
    return int(await session.scalar(text(
        "SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_xact_user_tables"
        " WHERE relname = 'ledger_balances'")) or 0)


async def outcome(session: AsyncSession, p: dict[str, Any], *, by_row: bool) -> Any:
    """What a batch leaves behind, posted one way or the other; rolled back afterwards."""
    accounts = list({*p["debits"], *p["credits"]})
    savepoint = await session.begin_nested()
    try:
        updates = await row_updates(session)
        if by_row:
            latest = await session.scalar(_LOCK, p)
            at = max(p["at"], latest) if latest is not None else p["at"]
            await session.execute(_INSERT, {**p, "at": at, "seq": 0})
        else:
            await session.execute(_POST, p)
        updates = await row_updates(session) - updates - await session.scalar(_ROWS, p)
        posted = [tuple(r) for r in await session.execute(_POSTED, p)]
        balances = [tuple(r) for r in await session.execute(_BALANCES, {"accounts": accounts})]
        rest = tuple(await session.execute(_SPEND_LOTS))
        await assert_verified(session)
    finally:
        await savepoint.rollback()
    return posted, balances, rest, updates


async def same_as_by_row(session: AsyncSession, batch: list[TransferIn],
                         at: dt.datetime) -> int:
    """Posts `batch` both ways from the same state; returns how many more balance row updates
    the batch made than the rows it touched (the per-row path makes two per transfer)."""
    p = params(batch, at)
    *as_set, updates = await outcome(session, p, by_row=False)
    *by_row, row_updates_ = await outcome(session, p, by_row=True)
    assert as_set == by_row
    assert [r[0] for r in as_set[0]] == p["ids"]  # seq follows the batch's order
    assert row_updates_ > 0
    return updates


async def test_mixed_batch_matches_posting_row_by_row(book: Book) -> None:
    s = book.session
    a, b, c = await book.user(), await book.user(), await book.user()
    m = await merchant(s)
    rupees = await book.user("INR")
    await book.fund(a, 500)
    inr = await service.platform_account(s, "INR", "issuance")
    await service.transfer(s, move(inr, rupees, 10_000, kind="earn"))
    await service.place_hold(s, hold_in(a, 100))
    # A later time on b's row: the whole batch then takes that time.
    later = clock.now() + dt.timedelta(minutes=5)
    await s.execute(text(
        "SELECT * FROM ledger_transfer(NULL, NULL, :id, :tx, 'COIN', :d, :c, 7, 'earn', NULL,"
        " NULL, '{}', NULL, :at, NULL, NULL)"),
        {"id": uuid7(), "tx": uuid7(), "d": book.issuance.id, "c": b.id, "at": later})
    batch = [
        move(book.issuance, a, 100, kind="earn"),
        move(a, b, 500),  # down to 100 with 100 held: all that is available
        move(b, c, 200),
        move(c, m, 200),
        move(m, a, 50),
        move(book.issuance, m, 1, kind="earn"),
        move(m, book.issuance, 3, kind="redeem"),
        move(rupees, inr, 9_999, reference_type="order", reference_id="o-1",
             metadata={"note": "x"}),
        *[move(book.issuance, x, 1 + i, kind="earn") for i, x in enumerate((a, b, c, m) * 5)],
    ]
    # Posted as a set: each balance row updated once, and the trigger did not post the rows
    # again.
    assert await same_as_by_row(s, batch, clock.now()) == 0
    # The same batch, posted for real, reads back the same way.
    tx = await service.post(s, batch)
    assert [t.seq for t in tx.transfers] == sorted(t.seq for t in tx.transfers)
    assert len({t.created_at for t in tx.transfers}) == 1
    assert tx.transfers[0].created_at >= later
    stored = (await s.execute(_POSTED, {"ids": [t.id for t in tx.transfers]})).all()
    assert [(r[0], r[3], r[4], r[5]) for r in stored] == [
        (t.id, t.debit_balance_after, t.credit_balance_after, t.created_at)
        for t in tx.transfers]
    await assert_verified(s)


async def test_spending_lots_and_limits_take_the_per_row_path(book: Book) -> None:
    s = book.session
    promo, other, a, b = (await book.user("PROMO"), await book.user("PROMO"),
                          await book.user(), await book.user())
    await book.fund(a, 100)
    await book.fund(promo, 50)
    await service.set_limits(s, a.id, daily=1_000, monthly=None)
    # Rows that come back in a batch: the per-row path updates them once per entry.
    for batch in ([move(promo, other, 5), move(a, b, 2), move(b, a, 1)],
                  [move(a, b, 10), move(b, a, 3), move(a, b, 1)]):
        assert await same_as_by_row(s, batch, clock.now()) > 0


async def test_credits_of_expiring_coins_are_posted_as_a_set(book: Book) -> None:
    """Each credit to an account of expiring coins is a lot of its own (0044): expiring when
    the transfer says, or after the asset's lifetime; the same lots as posted row by row."""
    s = book.session
    a, b, c = await book.user("PROMO"), await book.user("PROMO"), await book.user()
    now = clock.now()
    batch = [move(book.promo_issuance, a, 5, kind="earn"),
             move(book.promo_issuance, b, 7, kind="earn", lot_expires_at=now + dt.timedelta(days=3)),
             move(book.promo_issuance, a, 2, kind="earn"),
             move(book.issuance, c, 4, kind="earn", lot_expires_at=now + dt.timedelta(days=1))]
    assert await same_as_by_row(s, batch, now) == 0
    tx = await service.post(s, batch)
    lots = (await s.execute(text(
        "SELECT transfer_id, account_id, amount, remaining, expires_at FROM ledger_lots"
        " WHERE transfer_id = ANY(:ids) ORDER BY amount"),
        {"ids": [t.id for t in tx.transfers]})).all()
    at = tx.transfers[0].created_at
    assert [(r.account_id, r.amount, r.remaining, r.expires_at) for r in lots] == [
        (a.id, 2, 2, at + dt.timedelta(days=90)), (a.id, 5, 5, at + dt.timedelta(days=90)),
        (b.id, 7, 7, now + dt.timedelta(days=3))]
    # The lots are spent as any other, earliest expiry first.
    await service.transfer(s, move(a, b, 6))
    assert await s.scalar(text("SELECT sum(remaining) FROM ledger_lots WHERE account_id = :a"),
                          {"a": a.id}) == 1
    await assert_verified(s)


async def test_a_transaction_posts_to_one_shard_of_a_sharded_account(book: Book) -> None:
    """However many transfers a transaction posts, by the set path or row by row, they take
    one shard of a sharded account (0047): a batch locks one of its balance rows, not all."""
    s = book.session
    users = [await book.user() for _ in range(40)]
    await service.post(s, [move(book.issuance, u, 1 + i, kind="earn")
                           for i, u in enumerate(users)])
    await book.fund(users[0], 5)
    shards = (await s.execute(text(
        "SELECT DISTINCT debit_shard FROM ledger_transfers WHERE debit_account_id = :a"),
        {"a": book.issuance.id})).scalars().all()
    assert len(shards) == 1
    moved = (await s.execute(text(
        "SELECT shard, balance FROM ledger_balances WHERE account_id = :a AND balance <> 0"),
        {"a": book.issuance.id})).all()
    assert moved == [(shards[0], -(sum(range(1, 41)) + 5))]
    await assert_verified(s)


async def test_a_grant_expiring_before_the_batch_is_refused_as_by_row(book: Book) -> None:
    s = book.session
    a = await book.user("PROMO")
    past = clock.now() - dt.timedelta(seconds=1)
    batch = [move(book.promo_issuance, a, 5, kind="earn"),
             move(book.promo_issuance, a, 1, kind="earn", lot_expires_at=past)]
    with pytest.raises(Exception, match="must expire after"):
        async with s.begin_nested():
            await s.execute(_POST, params(batch, clock.now()))
    assert (await service.balance(s, a.id)).posted == 0


async def test_batch_overdrawing_at_a_step_is_refused_whole(book: Book) -> None:
    s = book.session
    a, b, c = await book.user(), await book.user(), await book.user()
    await book.fund(a, 50)
    # a ends at 80, but is at -20 after the second transfer.
    batch = [move(a, b, 40), move(a, c, 30), move(book.issuance, a, 100, kind="earn")]
    error = await refused(s, errors.InsufficientFunds, lambda: service.post(s, batch))
    assert str(a.id) in str(error)
    # The same with a hold: the available balance counts, not the posted one.
    await service.place_hold(s, hold_in(a, 20))
    error = await refused(s, errors.InsufficientFunds,
                          lambda: service.post(s, [move(a, b, 31), move(book.issuance, a, 5,
                                                                            kind="earn")]))
    await service.freeze(s, c.id, "test")
    await refused(s, errors.AccountFrozen, lambda: service.post(s, [move(c, b, 1)]))
    await refused(s, errors.AssetMismatch,
                  lambda: service.post(s, [move(a, b, 1), TransferIn(
                      debit_account_id=a.id, credit_account_id=book.issuance.id,
                      asset_code="INR", amount=1, kind="spend")]))
    await refused(s, errors.AccountNotFound,
                  lambda: service.post(s, [move(a, b, 1), TransferIn(
                      debit_account_id=a.id, credit_account_id=uuid.uuid4(),
                      asset_code="COIN", amount=1, kind="spend")]))
    await assert_verified(s)


@pytest.mark.parametrize("group", [False, True], ids=["batch mark", "group mark"])
async def test_a_plain_insert_is_still_posted_and_checked(book: Book, group: bool) -> None:
    s = book.session
    a, b = await book.user(), await book.user()
    await book.fund(a, 10)
    tx = uuid7()
    # Even with a set's mark (a batch's or a group's: 0043) and a seq of its own, a plain
    # INSERT goes through the trigger.
    await s.execute(text("SELECT set_config('gullak.batch', :mark, true)"),
                    {"mark": "group" if group else str(tx)})
    p = params([move(a, b, 4)], clock.now())
    await s.execute(_INSERT, {**p, "tx": tx, "seq": 99})
    row = (await s.execute(_POSTED, p)).one()
    assert (row[3], row[4]) == (6, 4)
    assert (await service.balance(s, a.id)).posted == 6
    p = params([move(a, b, 7)], clock.now())
    with pytest.raises(Exception, match="insufficient available funds"):
        async with s.begin_nested():
            await s.execute(_INSERT, {**p, "tx": tx, "seq": 99})
    await assert_verified(s)
