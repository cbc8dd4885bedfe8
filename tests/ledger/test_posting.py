"""Group commit: concurrent standalone transfers share transactions but keep their outcomes."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger import errors, service
from gullak.ledger.posting import Poster
from gullak.ledger.schemas import AccountOut, TransferIn
from gullak.ledger.verify import verify_database
from tests.helpers.ledger import make_book


async def setup(db: Database, users: int) -> tuple[AccountOut, list[AccountOut]]:
    async with unit_of_work(db) as session:
        book = await make_book(session)
        accounts = [await book.user() for _ in range(users)]
        return book.issuance, accounts


def earn(issuance: AccountOut, user: AccountOut, amount: int) -> TransferIn:
    return TransferIn(debit_account_id=issuance.id, credit_account_id=user.id, asset_code="COIN",
                      amount=amount, kind="earn")


def spend(a: AccountOut, b: AccountOut, amount: int) -> TransferIn:
    return TransferIn(debit_account_id=a.id, credit_account_id=b.id, asset_code="COIN",
                      amount=amount, kind="spend")


async def balances(db: Database, accounts: list[AccountOut]) -> list[int]:
    async with unit_of_work(db) as session:
        return [(await service.balance(session, a.id)).posted for a in accounts]


async def test_refusals_stay_with_their_own_transfer(fresh_db: Database) -> None:
    issuance, (a, b, c) = await setup(fresh_db, 3)
    async with Poster(fresh_db.url, connections=1) as poster:
        await poster.transfer(earn(issuance, a, 100))
        results = await asyncio.gather(
            poster.transfer(spend(a, b, 30)),
            poster.transfer(spend(c, b, 1)),  # c has nothing
            poster.transfer(spend(a, c, 50)),
            poster.transfer(spend(a, c, 500)),  # more than a has
            return_exceptions=True,
        )
    assert [type(r).__name__ for r in results] == [
        "TransferOut", "InsufficientFunds", "TransferOut", "InsufficientFunds"]
    assert await balances(fresh_db, [a, b, c]) == [20, 30, 50]
    ok = [r for r in results if not isinstance(r, BaseException)]
    assert ok[0].debit_balance_after in (70, 20) and ok[1].credit_balance_after == 50
    assert (await verify_database(fresh_db)).ok


async def test_same_outcomes_as_the_session_path(fresh_db: Database) -> None:
    issuance, (a, b) = await setup(fresh_db, 2)
    async with Poster(fresh_db.url) as poster:
        out = await poster.transfer(earn(issuance, a, 40))
    async with unit_of_work(fresh_db) as session:
        stored = await service.get_transfer(session, out.id)
    assert stored == out
    assert out.credit_balance_after == 40 and out.debit_balance_after < 0


async def test_idempotent_replay_across_paths(fresh_db: Database) -> None:
    issuance, (a, _) = await setup(fresh_db, 2)
    key = f"k-{uuid.uuid4()}"
    async with unit_of_work(fresh_db) as session:
        first = await service.transfer(session, earn(issuance, a, 7), idempotency_key=key)
    async with Poster(fresh_db.url) as poster:
        again = await poster.transfer(earn(issuance, a, 7), idempotency_key=key)
        with pytest.raises(errors.IdempotencyKeyReused):
            await poster.transfer(earn(issuance, a, 8), idempotency_key=key)
        other = f"k-{uuid.uuid4()}"
        dupes = await asyncio.gather(*(poster.transfer(earn(issuance, a, 5), idempotency_key=other)
                                       for _ in range(10)))
    assert again == first
    assert len({d.id for d in dupes}) == 1
    assert await balances(fresh_db, [a]) == [12]
    async with unit_of_work(fresh_db) as session:
        replayed = await service.transfer(session, earn(issuance, a, 5), idempotency_key=other)
    assert replayed == dupes[0]


async def test_concurrent_load_is_all_acknowledged(fresh_db: Database) -> None:
    issuance, users = await setup(fresh_db, 20)
    async with Poster(fresh_db.url, connections=3) as poster:
        await asyncio.gather(*(poster.transfer(earn(issuance, u, 1000)) for u in users))

        async def client(n: int) -> list[tuple[uuid.UUID, int]]:
            done = []
            for i in range(40):
                t = spend(users[n], users[(n + 1 + i % 19) % len(users)], 1 + (i % 7))
                try:
                    out = await poster.transfer(t)
                except errors.InsufficientFunds:
                    continue
                done.append((out.id, out.amount))
            return done

        acknowledged = [x for xs in await asyncio.gather(*(client(n) for n in range(20)))
                        for x in xs]
    async with unit_of_work(fresh_db) as session:
        for transfer_id, amount in acknowledged:
            assert (await service.get_transfer(session, transfer_id)).amount == amount
    assert sum(await balances(fresh_db, users)) == 20 * 1000
    assert (await verify_database(fresh_db)).ok


async def test_a_group_is_posted_as_a_set_each_transfer_its_own(fresh_db: Database) -> None:
    issuance, (a, b, c) = await setup(fresh_db, 3)
    async with Poster(fresh_db.url, connections=1) as poster:
        await poster.transfer(earn(issuance, a, 100))
        # Queued together, so one writer takes them as one group.
        outs = await asyncio.gather(poster.transfer(spend(a, b, 10)),
                                    poster.transfer(spend(a, c, 20)),
                                    poster.transfer(spend(b, c, 5)),
                                    poster.transfer(earn(issuance, b, 1)))
    assert len({o.transaction_id for o in outs}) == 4
    assert [o.seq for o in outs] == sorted(o.seq for o in outs)
    # Balances after each step, in the group's order.
    assert [(o.debit_balance_after, o.credit_balance_after) for o in outs[:3]] == [
        (90, 10), (70, 20), (5, 25)]
    assert outs[3].credit_balance_after == 6
    async with unit_of_work(fresh_db) as session:
        assert [await service.get_transfer(session, o.id) for o in outs] == outs
    assert await balances(fresh_db, [a, b, c]) == [70, 6, 25]
    assert (await verify_database(fresh_db)).ok


async def test_a_keyed_group_replays_from_its_transfers(fresh_db: Database) -> None:
    issuance, (a, b) = await setup(fresh_db, 2)
    keys = [f"k-{uuid.uuid4()}" for _ in range(3)]
    async with Poster(fresh_db.url, connections=1) as poster:
        outs = await asyncio.gather(*(poster.transfer(earn(issuance, u, 3 + n),
                                                      idempotency_key=k)
                                      for n, (u, k) in enumerate(zip([a, b, a], keys))))
        again = await poster.transfer(earn(issuance, b, 4), idempotency_key=keys[1])
    assert again == outs[1]
    async with unit_of_work(fresh_db) as session:
        assert await service.transfer(session, earn(issuance, a, 5),
                                      idempotency_key=keys[2]) == outs[2]
        with pytest.raises(errors.IdempotencyKeyReused):
            await service.transfer(session, earn(issuance, a, 6), idempotency_key=keys[0])
    assert await balances(fresh_db, [a, b]) == [8, 4]
