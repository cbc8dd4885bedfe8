"""The bank test: many real connections move coins among 50 accounts at once while readers
check, one snapshot at a time, that no coin is lost or invented and no balance goes negative,
now and as of any time already past.

Every transfer and hold whose commit returned is kept in a model; at the end the database must
hold exactly those, with the values the clients were given, and `verify` must pass.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.ledger import errors, service
from gullak.ledger.posting import Poster
from gullak.ledger.schemas import CaptureIn, HoldIn, HoldOut, TransferIn, TransferOut
from gullak.ledger.verify import verify_database
from tests.helpers.ledger import make_book

pytestmark = pytest.mark.slow

BANK_SECONDS = 20
ACCOUNTS = 50
WRITERS = 32
# Each racer places a hold, then captures and releases it at the same moment on two
# connections, as when an order is delivered while it is being cancelled.
RACERS = 2
# Clients of the group-committing poster, which shares a few connections of its own among
# them: its transfers must be as durable and as consistent as those of a unit of work.
GROUP_CLIENTS = 8
GROUP_CONNECTIONS = 4
# Half read every balance through the service in one REPEATABLE READ snapshot, half read them
# all in one statement.
READERS = 4
# Read every balance as of a time already past, through `balance_at`, in one snapshot.
PAST_READERS = 2
PAST_READS_CHECKED = 20  # times read again after the run, account by account
START_BALANCE = 10_000
TOTAL = ACCOUNTS * START_BALANCE
# Large against the starting balance, so that accounts run dry and refusals happen.
MAX_AMOUNT = 3_000
HOLD_LIFETIME = dt.timedelta(hours=1)  # far beyond the run: no hold expires during it
MIN_MOVES = 500
RACES = 20
ASSET = "COIN"
SAMPLES = 20


@dataclass
class HoldState:
    """What the clients were told about a hold."""

    account_id: uuid.UUID
    amount: int
    status: str = "pending"
    captured: int = 0


@dataclass
class Bank:
    """The acknowledged history, the counts, and everything that went wrong."""

    accounts: list[uuid.UUID]
    deadline: float = 0.0
    transfers: dict[uuid.UUID, TransferOut] = field(default_factory=dict)
    holds: dict[uuid.UUID, HoldState] = field(default_factory=dict)
    # Pending holds that no client is resolving: a writer takes one out to capture or release
    # it, so that only the racers resolve one hold from two connections.
    free_holds: list[uuid.UUID] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    peak_connections: int = 0
    # Times taken during the run, read back as past times while transfers go on and after.
    times: list[dt.datetime] = field(default_factory=list)

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    def violate(self, message: str) -> None:
        self.counts["violations"] += 1
        if len(self.violations) < SAMPLES:
            self.violations.append(message)

    def acknowledge(self, transfers: list[TransferOut]) -> None:
        for t in transfers:
            self.transfers[t.id] = t
            if t.debit_balance_after < 0 or t.credit_balance_after < 0:
                self.violate(f"transfer {t.id} left a user balance negative: "
                             f"{t.debit_balance_after}, {t.credit_balance_after}")

    def check_snapshot(self, how: str, total: int, posted: list[int], available: list[int]) -> None:
        if len(posted) != ACCOUNTS:
            self.violate(f"{how}: read {len(posted)} balances, not {ACCOUNTS}")
        if total != TOTAL:
            self.violate(f"{how}: balances sum to {total}, not {TOTAL}")
        if min(posted) < 0 or min(available) < 0:
            self.violate(f"{how}: a negative balance (posted {min(posted)}, "
                         f"available {min(available)})")


def describe(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        first_line = str(orig).splitlines()[0] if str(orig) else ""
        return f"{type(orig).__name__} [{getattr(orig, 'sqlstate', None)}] {first_line}"
    return f"{type(exc).__name__}: {exc}"


@asynccontextmanager
async def unit(conn: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A unit of work on a connection the client keeps for the whole run, so that every
    client is a real connection of its own: committed on success, rolled back on error."""
    async with AsyncSession(bind=conn, expire_on_commit=False) as session, session.begin():
        yield session


async def attempt(bank: Bank, name: str, op: Callable[[], Awaitable[None]],
                  refusals: tuple[type[Exception], ...] = (errors.InsufficientFunds,)) -> bool:
    """Run one operation: done, refused as expected, or an unexpected error (a failure)."""
    try:
        await op()
    except refusals:
        bank.counts[f"{name}: refused"] += 1
        return False
    except Exception as exc:
        bank.unexpected[f"{name}: {describe(exc)}"] += 1
        return False
    bank.counts[f"{name}: done"] += 1
    return True


def transfer_in(debit: uuid.UUID, credit: uuid.UUID, amount: int) -> TransferIn:
    return TransferIn(debit_account_id=debit, credit_account_id=credit, asset_code=ASSET,
                      amount=amount, kind="transfer")


def hold_in(account: uuid.UUID, amount: int) -> HoldIn:
    return HoldIn(account_id=account, asset_code=ASSET, amount=amount,
                  expires_at=clock.now() + HOLD_LIFETIME)


# -- writers ------------------------------------------------------------------------------

async def move(bank: Bank, conn: AsyncConnection, rng: random.Random) -> None:
    debit, credit = rng.sample(bank.accounts, 2)
    amount = rng.randint(1, MAX_AMOUNT)

    async def op() -> None:
        async with unit(conn) as session:
            out = await service.transfer(session, transfer_in(debit, credit, amount))
        bank.acknowledge([out])

    await attempt(bank, "transfer", op)


async def batch(bank: Bank, conn: AsyncConnection, rng: random.Random) -> None:
    legs = [transfer_in(*rng.sample(bank.accounts, 2), rng.randint(1, MAX_AMOUNT))
            for _ in range(rng.randint(2, 4))]

    async def op() -> None:
        async with unit(conn) as session:
            out = await service.post(session, legs)
        bank.acknowledge(out.transfers)

    await attempt(bank, "batch", op)


async def overdraw(bank: Bank, conn: AsyncConnection, rng: random.Random) -> None:
    """More than all the users hold together: no interleaving can make this succeed."""
    debit, credit = rng.sample(bank.accounts, 2)
    amount = TOTAL + rng.randint(1, TOTAL)

    async def by_transfer() -> None:
        async with unit(conn) as session:
            out = await service.transfer(session, transfer_in(debit, credit, amount))
        bank.acknowledge([out])
        bank.violate(f"an overdraft of {amount} was accepted: transfer {out.id}")

    async def by_hold() -> None:
        async with unit(conn) as session:
            out = await service.place_hold(session, hold_in(debit, amount))
        bank.holds[out.id] = HoldState(debit, amount)
        bank.violate(f"a hold of {amount} was accepted: hold {out.id}")

    if rng.random() < 0.5:
        await attempt(bank, "overdraft transfer", by_transfer)
    else:
        await attempt(bank, "overdraft hold", by_hold)


async def hold(bank: Bank, conn: AsyncConnection, rng: random.Random) -> None:
    account = rng.choice(bank.accounts)
    amount = rng.randint(1, MAX_AMOUNT)

    async def op() -> None:
        async with unit(conn) as session:
            out = await service.place_hold(session, hold_in(account, amount))
        bank.holds[out.id] = HoldState(account, amount)
        bank.free_holds.append(out.id)
        if (out.status, out.amount, out.account_id) != ("pending", amount, account):
            bank.violate(f"placed hold {out.id} came back as {out}")

    await attempt(bank, "hold", op)


async def capture(bank: Bank, conn: AsyncConnection, rng: random.Random) -> None:
    hold_id = bank.free_holds.pop(rng.randrange(len(bank.free_holds)))
    state = bank.holds[hold_id]
    credit = rng.choice([a for a in bank.accounts if a != state.account_id])
    amount = None if rng.random() < 0.5 else rng.randint(1, state.amount)
    taken = state.amount if amount is None else amount

    async def op() -> None:
        async with unit(conn) as session:
            out = await service.capture(session, hold_id,
                                        CaptureIn(credit_account_id=credit, amount=amount))
        bank.acknowledge([out.transfer])
        state.status, state.captured = "captured", taken
        t = out.transfer
        if ((t.debit_account_id, t.credit_account_id, t.amount, t.hold_id)
                != (state.account_id, credit, taken, hold_id)
                or (out.hold.status, out.hold.captured) != ("captured", taken)):
            bank.violate(f"capture of {taken} from hold {hold_id} came back as {out}")

    # A hold reserved the funds: a capture within it is never refused.
    await attempt(bank, "capture", op, refusals=())


async def release(bank: Bank, conn: AsyncConnection, rng: random.Random) -> None:
    hold_id = bank.free_holds.pop(rng.randrange(len(bank.free_holds)))
    state = bank.holds[hold_id]

    async def op() -> None:
        async with unit(conn) as session:
            out = await service.release(session, hold_id)
        state.status = "released"
        if (out.status, out.captured) != ("released", 0):
            bank.violate(f"release of hold {hold_id} came back as {out}")

    await attempt(bank, "release", op, refusals=())


async def writer(bank: Bank, conn: AsyncConnection, rng: random.Random) -> None:
    while bank.running():
        roll = rng.random()
        if roll < 0.35:
            await move(bank, conn, rng)
        elif roll < 0.45:
            await batch(bank, conn, rng)
        elif roll < 0.48:
            await overdraw(bank, conn, rng)
        elif roll < 0.72 or not bank.free_holds:
            await hold(bank, conn, rng)
        elif roll < 0.88:
            await capture(bank, conn, rng)
        else:
            await release(bank, conn, rng)


async def race(bank: Bank, first: AsyncConnection, second: AsyncConnection,
               rng: random.Random) -> None:
    """Place a hold, then capture it on one connection while releasing it on another: one
    wins, the other is told the hold is no longer pending."""
    while bank.running():
        account, credit = rng.sample(bank.accounts, 2)
        amount = rng.randint(1, MAX_AMOUNT)
        placed: list[HoldOut] = []

        async def place() -> None:
            async with unit(first) as session:
                placed.append(await service.place_hold(session, hold_in(account, amount)))

        if not await attempt(bank, "race hold", place):
            continue
        hold_id = placed[0].id
        state = bank.holds[hold_id] = HoldState(account, amount)

        async def take() -> None:
            async with unit(first) as session:
                out = await service.capture(session, hold_id, CaptureIn(credit_account_id=credit))
            bank.acknowledge([out.transfer])
            state.status, state.captured = "captured", amount

        async def give_back() -> None:
            async with unit(second) as session:
                await service.release(session, hold_id)
            state.status = "released"

        won = await asyncio.gather(
            attempt(bank, "race capture", take, refusals=(errors.HoldNotPending,)),
            attempt(bank, "race release", give_back, refusals=(errors.HoldNotPending,)),
        )
        if all(won):
            bank.violate(f"hold {hold_id} was both captured and released")


async def group_client(bank: Bank, poster: Poster, rng: random.Random) -> None:
    while bank.running():
        debit, credit = rng.sample(bank.accounts, 2)
        amount = rng.randint(1, MAX_AMOUNT)

        async def op() -> None:
            out = await poster.transfer(transfer_in(debit, credit, amount))
            bank.acknowledge([out])

        await attempt(bank, "group-committed transfer", op)


# -- readers ------------------------------------------------------------------------------

SNAPSHOT = text("""
SELECT count(*) AS n, sum(balance) AS total,
       array_agg(balance) AS posted, array_agg(balance - held) AS available,
       (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()) AS connections
FROM ledger_balances WHERE account_id = ANY(CAST(:ids AS uuid[]))
""")


async def statement_reader(bank: Bank, conn: AsyncConnection) -> None:
    """All balances in one statement, which reads one snapshot even in READ COMMITTED."""
    while bank.running():
        async def op() -> None:
            async with unit(conn) as session:
                row = (await session.execute(SNAPSHOT, {"ids": bank.accounts})).one()
            bank.peak_connections = max(bank.peak_connections, int(row.connections))
            bank.check_snapshot("one statement", int(row.total), list(row.posted),
                                list(row.available))

        await attempt(bank, "read in one statement", op, refusals=())


async def snapshot_reader(bank: Bank, conn: AsyncConnection) -> None:
    """Every balance through the service, one query each, all in one REPEATABLE READ
    transaction: the sum is only fixed if the snapshot is consistent."""
    await conn.execution_options(isolation_level="REPEATABLE READ")
    while bank.running():
        async def op() -> None:
            async with unit(conn) as session:
                await session.execute(text("SET TRANSACTION READ ONLY"))
                found = [await service.balance(session, a) for a in bank.accounts]
            bank.check_snapshot("repeatable read", sum(b.posted for b in found),
                                [b.posted for b in found], [b.available for b in found])

        await attempt(bank, "read in one snapshot", op, refusals=())


async def past_reader(bank: Bank, conn: AsyncConnection, rng: random.Random) -> None:
    """Every balance as of a time already past, all in one REPEATABLE READ snapshot: each
    transfer made up to then shows on both sides or on neither, so they sum to the total."""
    await conn.execution_options(isolation_level="REPEATABLE READ")
    while bank.running():
        bank.times.append(clock.now())
        await asyncio.sleep(rng.uniform(0.01, 0.1))
        at = rng.choice(bank.times)

        async def op() -> None:
            async with unit(conn) as session:
                await session.execute(text("SET TRANSACTION READ ONLY"))
                found = [await service.balance_at(session, a, at) for a in bank.accounts]
            if sum(found) != TOTAL or min(found) < 0:
                bank.violate(f"as of {at.isoformat()}: balances sum to {sum(found)}, not"
                             f" {TOTAL} (lowest {min(found)})")

        await attempt(bank, "read as of a past time", op, refusals=())


# -- the test -----------------------------------------------------------------------------

async def open_bank(db: Database) -> tuple[list[uuid.UUID], set[uuid.UUID]]:
    """50 user accounts, funded once from issuance; returns them and the funding transfers."""
    async with unit_of_work(db) as session:
        book = await make_book(session)
        accounts = [(await book.user(ASSET)).id for _ in range(ACCOUNTS)]
        funded = await service.post(session, [
            TransferIn(debit_account_id=book.issuance.id, credit_account_id=a, asset_code=ASSET,
                       amount=START_BALANCE, kind="earn") for a in accounts])
    return accounts, {t.id for t in funded.transfers}


async def check_past_balances(db: Database, bank: Bank, rng: random.Random) -> None:
    times = sorted(rng.sample(bank.times, min(PAST_READS_CHECKED, len(bank.times))))
    assert times, "no time was taken during the run"
    async with unit_of_work(db) as session:
        for at in times:
            expected = {a: START_BALANCE for a in bank.accounts}
            for t in bank.transfers.values():
                if t.created_at <= at:
                    expected[t.debit_account_id] -= t.amount
                    expected[t.credit_account_id] += t.amount
            found = {a: await service.balance_at(session, a, at) for a in bank.accounts}
            wrong = {a: (found[a], expected[a]) for a in bank.accounts if found[a] != expected[a]}
            assert not wrong, f"as of {at.isoformat()}, (read, expected): {wrong}"
            assert sum(found.values()) == TOTAL


def print_counts(bank: Bank, seconds: float) -> None:
    print(f"\nbank: {WRITERS} writers, {RACERS} racers (2 connections each), {GROUP_CLIENTS}"
          f" clients of a poster with {GROUP_CONNECTIONS} connections, {READERS} readers,"
          f" {PAST_READERS} readers of past balances,"
          f" {seconds:.1f} s, peak {bank.peak_connections} connections on the database")
    print(f"  acknowledged transfers: {len(bank.transfers)}, holds: {len(bank.holds)}")
    for name, n in sorted(bank.counts.items()):
        print(f"  {name}: {n}")
    for name, n in sorted(bank.unexpected.items()):
        print(f"  UNEXPECTED {name}: {n}")
    for message in bank.violations:
        print(f"  VIOLATION {message}")


async def test_bank(fresh_db: Database) -> None:
    seed = random.randrange(2**32)
    print(f"\nbank seed {seed}")
    accounts, funding = await open_bank(fresh_db)
    bank = Bank(accounts)

    async with AsyncExitStack() as stack:
        conns = [await stack.enter_async_context(fresh_db.engine.connect())
                 for _ in range(WRITERS + 2 * RACERS + READERS + PAST_READERS)]
        writer_conns = conns[:WRITERS]
        racer_conns = conns[WRITERS:WRITERS + 2 * RACERS]
        reader_conns = conns[WRITERS + 2 * RACERS:WRITERS + 2 * RACERS + READERS]
        past_conns = conns[WRITERS + 2 * RACERS + READERS:]
        poster = await stack.enter_async_context(
            Poster(fresh_db.url, connections=GROUP_CONNECTIONS))
        started = time.monotonic()
        bank.deadline = started + BANK_SECONDS
        clients: list[Awaitable[Any]] = [
            writer(bank, c, random.Random(seed + i)) for i, c in enumerate(writer_conns)]
        clients += [race(bank, racer_conns[2 * i], racer_conns[2 * i + 1],
                         random.Random(seed + WRITERS + i)) for i in range(RACERS)]
        clients += [group_client(bank, poster, random.Random(seed + WRITERS + RACERS + i))
                    for i in range(GROUP_CLIENTS)]
        clients += [(snapshot_reader if i % 2 else statement_reader)(bank, c)
                    for i, c in enumerate(reader_conns)]
        clients += [past_reader(bank, c, random.Random(seed + 2 * WRITERS + i))
                    for i, c in enumerate(past_conns)]
        await asyncio.gather(*clients)
        seconds = time.monotonic() - started
    print_counts(bank, seconds)

    async with unit_of_work(fresh_db) as session:
        stored = {r.id: r for r in await session.execute(text("SELECT * FROM ledger_transfers"))}
        held = {r.id: r for r in await session.execute(text("SELECT * FROM ledger_holds"))}
        balances = {r.account_id: r for r in await session.execute(
            text("SELECT account_id, balance, held FROM ledger_balances"
                 " WHERE account_id = ANY(CAST(:ids AS uuid[]))"), {"ids": accounts})}

    # Every acknowledged transfer is there, exactly as its client was told.
    missing = [i for i in bank.transfers if i not in stored]
    assert not missing, f"{len(missing)} acknowledged transfers are missing, e.g. {missing[:5]}"
    differ = [(t, stored[t.id]) for t in bank.transfers.values()
              if (t.seq, t.transaction_id, t.debit_account_id, t.credit_account_id, t.amount,
                  t.kind, t.hold_id, t.debit_balance_after, t.credit_balance_after, t.created_at)
              != (stored[t.id].seq, stored[t.id].transaction_id, stored[t.id].debit_account_id,
                  stored[t.id].credit_account_id, stored[t.id].amount, stored[t.id].kind,
                  stored[t.id].hold_id, stored[t.id].debit_balance_after,
                  stored[t.id].credit_balance_after, stored[t.id].created_at)]
    assert not differ, f"{len(differ)} transfers differ from their acknowledgement: {differ[:3]}"
    # And nothing else was written: every commit that happened was acknowledged.
    unacknowledged = set(stored) - set(bank.transfers) - funding
    assert not unacknowledged, f"{len(unacknowledged)} transfers nobody was told about"

    # Every hold is in the state its clients were told.
    assert set(held) == set(bank.holds)
    wrong_holds = [(h, held[i]) for i, h in bank.holds.items()
                   if (h.account_id, h.amount, h.status, h.captured)
                   != (held[i].account_id, held[i].amount, held[i].status, held[i].captured)]
    assert not wrong_holds, f"{len(wrong_holds)} holds differ: {wrong_holds[:3]}"

    # The balances follow from the acknowledged history alone.
    expected = {a: START_BALANCE for a in accounts}
    for t in bank.transfers.values():
        expected[t.debit_account_id] -= t.amount
        expected[t.credit_account_id] += t.amount
    expected_held = Counter({a: 0 for a in accounts})
    for h in bank.holds.values():
        if h.status == "pending":
            expected_held[h.account_id] += h.amount
    assert {a: (b.balance, b.held) for a, b in balances.items()} == {
        a: (expected[a], expected_held[a]) for a in accounts}
    assert sum(b.balance for b in balances.values()) == TOTAL
    assert all(b.balance - b.held >= 0 for b in balances.values())

    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]

    # As of each past time, every balance is what the transfers acknowledged with a time up to
    # then make it.
    await check_past_balances(fresh_db, bank, random.Random(seed))

    assert not bank.violations, bank.violations
    assert len(bank.transfers) > MIN_MOVES
    assert bank.counts["read in one statement: done"] > 0
    assert bank.counts["read in one snapshot: done"] > 0
    assert bank.counts["capture: done"] > 0 and bank.counts["release: done"] > 0
    assert bank.counts["group-committed transfer: done"] > 0
    assert bank.counts["read as of a past time: done"] > 0
    overdrafts = bank.counts["overdraft transfer: refused"] + bank.counts["overdraft hold: refused"]
    assert overdrafts > 0
    assert bank.peak_connections >= WRITERS + 2 * RACERS + READERS
    assert not bank.unexpected, dict(bank.unexpected)


async def test_capture_racing_release_of_one_hold_resolves_it_once(fresh_db: Database) -> None:
    """A capture and a release of the same hold at the same moment, on two connections: one
    wins and the other is told the hold is resolved; neither may deadlock."""
    async with unit_of_work(fresh_db) as session:
        book = await make_book(session)
        payer, payee = await book.user(), await book.user()
        await book.fund(payer, RACES * 10)
    outcomes: Counter[str] = Counter()
    async with fresh_db.engine.connect() as first, fresh_db.engine.connect() as second:
        for _ in range(RACES):
            async with unit(first) as session:
                placed = await service.place_hold(session, hold_in(payer.id, 10))

            async def take(hold_id: uuid.UUID = placed.id) -> str:
                async with unit(first) as session:
                    await service.capture(session, hold_id, CaptureIn(credit_account_id=payee.id))
                return "captured"

            async def give_back(hold_id: uuid.UUID = placed.id) -> str:
                async with unit(second) as session:
                    await service.release(session, hold_id)
                return "released"

            results = await asyncio.gather(take(), give_back(), return_exceptions=True)
            seen = [r if isinstance(r, str)
                    else "refused" if isinstance(r, errors.HoldNotPending) else describe(r)
                    for r in results]
            assert seen in (["captured", "refused"], ["refused", "released"]), seen
            outcomes[seen[0] if seen[0] != "refused" else seen[1]] += 1
    print(f"\nraces: {dict(outcomes)}")
    async with unit_of_work(fresh_db) as session:
        assert (await service.balance(session, payee.id)).posted == 10 * outcomes["captured"]
        paid = await service.balance(session, payer.id)
        assert (paid.posted, paid.held) == (RACES * 10 - 10 * outcomes["captured"], 0)
    assert (await verify_database(fresh_db)).ok
