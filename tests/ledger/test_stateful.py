"""The ledger service against an in-memory model, one random step at a time (Hypothesis).

Each example starts from an empty ledger (a savepoint on the test's connection, rolled back
afterwards) with two assets: COIN, which never expires, and PROMO, whose grants are lots that
expire. Each asset has an issuance and a breakage platform account and three user accounts.
The rules post transfers and atomic batches, place, capture and release holds, move the
clock, run the hold and lot expiry jobs, reverse transfers and retry idempotent commands.

Before every command the model predicts its outcome on a copy of itself: success, or the
exact error of a refusal, after which nothing may have changed. After every step the ledger
must hold exactly what the model holds: the transfers posted in the step (both sides, with
the balance after each), every balance as `service.balance` reports it, what is left and
reserved in each lot, every hold and its lot reservations; and `verify` must pass.

Hypothesis runs state machines synchronously, so the machine runs in a worker thread and
hands each coroutine to the test's event loop, where the session and its connection live.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import clock
from gullak.kit.errors import InvalidInput
from gullak.ledger import errors, service
from gullak.ledger.schemas import BalanceOut, CaptureIn, HoldIn, TransferIn, TransferOut
from gullak.ledger.verify import verify
from tests.helpers.ledger import make_book

T = TypeVar("T")

# A fixed start, so that a failing example replays with the same times.
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
PROMO_LIFETIME = dt.timedelta(days=90)  # make_book's PROMO asset
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)

ASSETS = ("COIN", "PROMO")
PLATFORM_ROLES = ("issuance", "breakage")
USERS = ("u0", "u1", "u2")
ROLES = PLATFORM_ROLES + USERS

assets = st.sampled_from(ASSETS)
roles = st.sampled_from(ROLES)
users = st.sampled_from(USERS)
amounts = st.integers(min_value=1, max_value=100)
# Amounts taken from a balance or a hold are drawn as a percentage of what is there, so that
# most commands can succeed whatever came before; above 100 they ask for too much.
shares = st.integers(min_value=1, max_value=120)
# None: the asset's own lifetime. The others fall due within the clock steps below, some
# exactly on a step, so that "expires_at <= now" is tried at its boundary. A hold that
# expires now (0) is refused: a hold must expire in the future.
lot_lifetimes = st.sampled_from([None, HOUR, DAY, 5 * DAY, 30 * DAY])
hold_lifetimes = st.sampled_from([dt.timedelta(0), HOUR, DAY, 5 * DAY, 30 * DAY])
clock_steps = st.sampled_from([HOUR, DAY, 5 * DAY, 30 * DAY, 60 * DAY])
# One transfer of a batch: asset, (debit role, credit role), amount, lot lifetime. Debits from
# issuance are weighted up, or nearly every batch would fail on a user with nothing yet;
# the same account on both sides is left to the single transfers.
sides = st.sampled_from([(d, c) for d in ROLES for c in ROLES if d != c]
                        + [("issuance", u) for u in USERS] * 3)
legs = st.tuples(assets, sides, amounts, lot_lifetimes)
Leg = tuple[str, tuple[str, str], int, dt.timedelta | None]
# Idempotency keys: none, a new one, or one whose command was refused earlier; a refused
# command must leave its key unused.
keyings = st.sampled_from(("no key", "new key", "refused key"))


def kind_of(debit_role: str, credit_role: str) -> str:
    from_platform, to_platform = debit_role in PLATFORM_ROLES, credit_role in PLATFORM_ROLES
    if from_platform and to_platform:
        return "adjust"
    if from_platform:
        return "earn"
    return "spend" if to_platform else "transfer"


# -- the model ----------------------------------------------------------------------------

class Refused(Exception):
    """The model's prediction that the service refuses a command with `error`."""

    def __init__(self, error: type[Exception]) -> None:
        super().__init__(error.__name__)
        self.error = error


@dataclass
class Account:
    name: str
    id: uuid.UUID
    asset: str
    platform: bool
    lots: bool
    balance: int = 0  # posted, counting expired lots until the sweep moves them out
    held: int = 0


@dataclass
class Lot:
    key: int  # creation order, which is the order of the lot ids (time-ordered UUIDs)
    account: str
    amount: int
    remaining: int
    expires_at: dt.datetime
    created_at: dt.datetime
    reserved: int = 0
    id: uuid.UUID | None = None  # the crediting transfer's id, known once it is posted

    def order(self) -> tuple[dt.datetime, dt.datetime, int]:
        # Earliest expiry first, then oldest.
        return self.expires_at, self.created_at, self.key


@dataclass
class Hold:
    account: str
    asset: str
    amount: int
    expires_at: dt.datetime
    reservations: dict[int, int]  # lot key -> amount reserved in it
    status: str = "pending"
    captured: int = 0


@dataclass
class Transfer:
    asset: str
    debit: str
    credit: str
    amount: int
    reversed: int = 0


@dataclass
class Posting:
    """A transfer the model expects the ledger to post in the current step."""

    asset: str
    debit: str
    credit: str
    amount: int
    kind: str
    lot_expires_at: dt.datetime | None = None
    reverses: uuid.UUID | None = None
    hold: uuid.UUID | None = None
    swept_lot: int | None = None  # key of the lot an expiry sweep empties
    new_lot: int | None = None  # key of the lot this credit creates
    row: Any = None  # the ledger_transfers row it matched


class Model:
    """What the ledger should hold, worked out in plain Python from the rules in the issue
    (available = posted - held; lots spent earliest expiry first, then oldest; a capture
    spends what its hold reserved first; expired lots do not count and are swept whole)."""

    def __init__(self, accounts: dict[str, Account], now: dt.datetime) -> None:
        self.accounts = accounts
        self.now = now
        self.lots: dict[int, Lot] = {}
        self.holds: dict[uuid.UUID, Hold] = {}
        self.transfers: dict[uuid.UUID, Transfer] = {}
        self.postings: list[Posting] = []
        self.next_lot = 0

    # reads

    def open_lots(self, name: str) -> list[Lot]:
        lots = [lot for lot in self.lots.values() if lot.account == name
                and lot.remaining > lot.reserved and lot.expires_at > self.now]
        return sorted(lots, key=Lot.order)

    def view(self, name: str) -> tuple[int, int, int, int]:
        """Posted (expired lots not counted), held, available, expiring within the week."""
        account = self.accounts[name]
        if not account.lots:
            return account.balance, account.held, account.balance - account.held, 0
        lots = [lot for lot in self.lots.values() if lot.account == name and lot.remaining > 0]
        expired_free = sum(lot.remaining - lot.reserved for lot in lots
                           if lot.expires_at <= self.now)
        soon = sum(lot.remaining for lot in lots
                   if self.now < lot.expires_at <= self.now + service.EXPIRING_SOON)
        posted = account.balance - expired_free
        return posted, account.held, posted - account.held, soon

    # commands; each raises Refused before the caller keeps any change

    def post(self, postings: list[Posting]) -> None:
        # Every transfer of a batch is validated before the first one is posted.
        for p in postings:
            if p.debit == p.credit:
                raise Refused(errors.SameAccount)
        for p in postings:
            self.apply(p)

    def apply(self, p: Posting) -> None:
        debit, credit = self.accounts[p.debit], self.accounts[p.credit]
        if debit.asset != p.asset or credit.asset != p.asset:
            raise Refused(errors.AssetMismatch)
        debit.balance -= p.amount
        if not debit.platform and debit.balance - debit.held < 0:
            raise Refused(errors.InsufficientFunds)
        credit.balance += p.amount
        if debit.lots:
            self.consume(debit.name, p)
        if credit.lots:
            lot = Lot(key=self.next_lot, account=credit.name, amount=p.amount,
                      remaining=p.amount, created_at=self.now,
                      expires_at=p.lot_expires_at or self.now + PROMO_LIFETIME)
            self.next_lot += 1
            self.lots[lot.key] = lot
            p.new_lot = lot.key
        self.postings.append(p)

    def consume(self, name: str, p: Posting) -> None:
        left = p.amount
        if p.swept_lot is not None:
            lot = self.lots[p.swept_lot]
            if lot.remaining - lot.reserved < left:
                raise Refused(errors.InsufficientFunds)
            lot.remaining -= left
            return
        if p.hold is not None:
            # A capture takes first from what its hold reserved, even from lots that have
            # expired since; by now the reservation itself is released.
            hold = self.holds[p.hold]
            for key in sorted(hold.reservations, key=lambda k: self.lots[k].order()):
                lot = self.lots[key]
                take = min(left, hold.reservations[key], lot.remaining - lot.reserved)
                lot.remaining -= take
                left -= take
        for lot in self.open_lots(name):
            take = min(left, lot.remaining - lot.reserved)
            lot.remaining -= take
            left -= take
        if left > 0:
            raise Refused(errors.InsufficientFunds)

    def place_hold(self, name: str, asset: str, amount: int, expires_at: dt.datetime) -> Hold:
        if expires_at <= self.now:
            raise Refused(InvalidInput)
        account = self.accounts[name]
        if account.asset != asset:
            raise Refused(errors.AssetMismatch)
        account.held += amount
        if account.balance - account.held < 0:
            raise Refused(errors.InsufficientFunds)
        reservations: dict[int, int] = {}
        if account.lots:
            left = amount
            for lot in self.open_lots(name):
                if left == 0:
                    break
                take = min(left, lot.remaining - lot.reserved)
                lot.reserved += take
                reservations[lot.key] = take
                left -= take
            if left > 0:
                raise Refused(errors.InsufficientFunds)
        return Hold(account=name, asset=asset, amount=amount, expires_at=expires_at,
                    reservations=reservations)

    def pending_hold(self, hold_id: uuid.UUID) -> Hold:
        hold = self.holds.get(hold_id)
        if hold is None:
            raise Refused(errors.HoldNotFound)
        if hold.status != "pending":
            raise Refused(errors.HoldNotPending)
        if hold.expires_at <= self.now:
            raise Refused(errors.HoldExpired)
        return hold

    def resolve(self, hold: Hold, status: str, captured: int) -> None:
        self.accounts[hold.account].held -= hold.amount
        for key, amount in hold.reservations.items():
            self.lots[key].reserved -= amount
        hold.status, hold.captured = status, captured

    def capture(self, hold_id: uuid.UUID, credit: str, amount: int | None) -> None:
        hold = self.pending_hold(hold_id)
        want = hold.amount if amount is None else amount
        if want > hold.amount:
            raise Refused(errors.CaptureExceedsHold)
        self.resolve(hold, "captured", want)
        self.post([Posting(hold.asset, hold.account, credit, want, "capture", hold=hold_id)])

    def release(self, hold_id: uuid.UUID) -> None:
        self.resolve(self.pending_hold(hold_id), "released", 0)

    def expire_holds(self) -> int:
        due = [h for h in self.holds.values() if h.status == "pending" and h.expires_at <= self.now]
        for hold in due:
            self.resolve(hold, "expired", 0)
        return len(due)

    def expire_lots(self) -> int:
        due = [lot for lot in self.lots.values()
               if lot.remaining > lot.reserved and lot.expires_at <= self.now]
        for lot in due:
            asset = self.accounts[lot.account].asset
            self.apply(Posting(asset, lot.account, f"{asset}:breakage",
                               lot.remaining - lot.reserved, "expire", swept_lot=lot.key))
        return len(due)

    def reverse(self, transfer_id: uuid.UUID, amount: int | None) -> None:
        original = self.transfers.get(transfer_id)
        if original is None:
            raise Refused(errors.TransferNotFound)
        left = original.amount - original.reversed
        if amount is not None and amount <= 0:
            raise Refused(errors.InvalidAmount)
        want = left if amount is None else amount
        if want <= 0 or want > left:
            raise Refused(errors.ReversalExceedsOriginal)
        self.post([Posting(original.asset, original.credit, original.debit, want, "reversal",
                           reverses=transfer_id)])
        original.reversed += want


def refuse(error: type[Exception]) -> Callable[[Model], None]:
    def predict(model: Model) -> None:
        raise Refused(error)
    return predict


def unchanged(model: Model) -> None:
    return None


@dataclass
class Stored:
    """A successful keyed command: how to send it again, and how to send another request."""

    command: str
    again: Callable[[AsyncSession], Awaitable[BaseModel]]
    variant: Callable[[AsyncSession], Awaitable[BaseModel]]
    result: BaseModel


@dataclass
class Snapshot:
    balances: dict[str, BalanceOut] = field(default_factory=dict)
    lots: list[Any] = field(default_factory=list)
    holds: list[Any] = field(default_factory=list)
    hold_lots: list[Any] = field(default_factory=list)


# -- the machine --------------------------------------------------------------------------

class LedgerMachine(RuleBasedStateMachine):
    transfers = Bundle("transfers")

    def __init__(self, loop: asyncio.AbstractEventLoop, connection: AsyncConnection,
                 ids: dict[str, uuid.UUID]) -> None:
        super().__init__()
        self.loop = loop
        self.connection = connection
        # The machine's thread has a context of its own; every coroutine it hands to the loop
        # runs in a copy of it, so they all see this clock.
        clock.freeze(T0)
        self.ids = ids
        self.run(self.open_ledger())
        self.names = {account_id: name for name, account_id in self.ids.items()}
        self.model = Model({
            name: Account(name=name, id=account_id, asset=name.split(":")[0],
                          platform=name.split(":")[1] in PLATFORM_ROLES,
                          lots=name.startswith("PROMO:") and name.split(":")[1] in USERS)
            for name, account_id in self.ids.items()
        }, T0)
        # Balance of each (account, shard) as the posted entries add up: platform accounts are
        # sharded, and each entry's balance-after is that of its shard.
        self.entry_balances: dict[tuple[uuid.UUID, int], int] = defaultdict(int)
        self.last_seq = 0
        self.last_postings: list[Posting] = []
        self.stored: dict[str, Stored] = {}
        self.refused_keys: list[str] = []
        self.keys_made = 0

    async def open_ledger(self) -> None:
        self.savepoint = await self.connection.begin_nested()
        self.session = AsyncSession(bind=self.connection, join_transaction_mode="create_savepoint",
                                    expire_on_commit=False)
        leftover = await self.session.scalar(text("SELECT count(*) FROM ledger_transfers"))
        assert leftover == 0, "the previous example's ledger was not rolled back"

    async def close_ledger(self) -> None:
        await self.session.close()
        await self.savepoint.rollback()

    def teardown(self) -> None:
        self.run(self.close_ledger())

    # plumbing

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def call(self, command: Callable[[AsyncSession], Awaitable[T]]) -> T | Exception:
        async def attempt() -> T | Exception:
            try:
                async with self.session.begin_nested():
                    return await command(self.session)
            except Exception as exc:  # a refusal; the savepoint has undone the command
                return exc
        return self.run(attempt())

    def execute(self, command: Callable[[AsyncSession], Awaitable[Any]],
                predict: Callable[[Model], T], key: str | None = None) -> tuple[Any, T] | None:
        """Run a command the model predicted on a copy of itself; None when it was refused.
        `key` is the command's own new idempotency key, free again if it is refused."""
        trial = copy.deepcopy(self.model)
        try:
            value = predict(trial)
        except Refused as refusal:
            outcome = self.call(command)
            assert type(outcome) is refusal.error, (
                f"the model expected {refusal.error.__name__}, the service gave {outcome!r}")
            self.settle()
            if key is not None:
                self.refused_keys.append(key)
            return None
        outcome = self.call(command)
        if isinstance(outcome, Exception):
            raise AssertionError(f"the model expected success, the service refused: {outcome!r}")
        self.model = trial
        self.settle()
        return outcome, value

    def new_key(self, keyed: str) -> str | None:
        if keyed == "no key":
            return None
        if keyed == "refused key" and self.refused_keys:
            return self.refused_keys.pop()
        self.keys_made += 1
        return f"key-{self.keys_made}"

    def remember(self, key: str | None, command: str,
                 again: Callable[[AsyncSession], Awaitable[BaseModel]],
                 variant: Callable[[AsyncSession], Awaitable[BaseModel]],
                 result: BaseModel) -> None:
        if key is not None:
            self.stored[key] = Stored(command, again, variant, result)

    def leg(self, asset: str, debit: str, credit_asset: str, credit: str, amount: int,
            lifetime: dt.timedelta | None) -> tuple[TransferIn, Posting]:
        expires = None if lifetime is None else self.model.now + lifetime
        debit_name, credit_name = f"{asset}:{debit}", f"{credit_asset}:{credit}"
        kind = kind_of(debit, credit)
        data = TransferIn(debit_account_id=self.ids[debit_name],
                          credit_account_id=self.ids[credit_name], asset_code=asset,
                          amount=amount, kind=kind, lot_expires_at=expires)
        return data, Posting(asset, debit_name, credit_name, amount, kind, lot_expires_at=expires)

    # checks of what a step posted

    async def new_rows(self) -> list[Any]:
        result = await self.session.execute(
            text("SELECT * FROM ledger_transfers WHERE seq > :after ORDER BY seq"),
            {"after": self.last_seq})
        return list(result.all())

    def settle(self) -> None:
        """The transfers the step posted are exactly those the model expected."""
        postings, self.model.postings = self.model.postings, []
        rows = self.run(self.new_rows())
        assert len(rows) == len(postings), (
            f"the model expected {len(postings)} new transfers, the ledger has {len(rows)}")
        if postings and all(p.kind == "expire" for p in postings):
            # The sweep orders its moves by account and expiry only; pair them by lot.
            by_lot = {row.lot_id: row for row in rows}
            pairs = [(p, by_lot.get(self.model.lots[p.swept_lot].id)) for p in postings]
        else:
            pairs = list(zip(postings, rows))
        for p, row in pairs:
            assert row is not None, f"no sweep of lot {self.model.lots[p.swept_lot]}"
            swept = None if p.swept_lot is None else self.model.lots[p.swept_lot].id
            expected = (p.asset, self.ids[p.debit], self.ids[p.credit], p.amount, p.kind,
                        p.reverses, p.hold, swept, p.lot_expires_at, self.model.now)
            actual = (row.asset_code, row.debit_account_id, row.credit_account_id, row.amount,
                      row.kind, row.reverses_id, row.hold_id, row.lot_id, row.lot_expires_at,
                      row.created_at)
            assert actual == expected, f"posted {actual}, the model expected {expected}"
            p.row = row
            if p.new_lot is not None:
                self.model.lots[p.new_lot].id = row.id
            self.model.transfers[row.id] = Transfer(p.asset, p.debit, p.credit, p.amount)
        assert len({row.transaction_id for row in rows}) <= 1, "one command, one transaction"
        for row in rows:
            for account_id, shard, delta, after in (
                (row.debit_account_id, row.debit_shard, -row.amount, row.debit_balance_after),
                (row.credit_account_id, row.credit_shard, row.amount, row.credit_balance_after),
            ):
                if not self.model.accounts[self.names[account_id]].platform:
                    assert shard == 0
                self.entry_balances[account_id, shard] += delta
                assert after == self.entry_balances[account_id, shard], (
                    f"{self.names[account_id]} shard {shard}: balance after entry {row.seq} is"
                    f" {after}, its entries add up to {self.entry_balances[account_id, shard]}")
            self.last_seq = row.seq
        for name, account in self.model.accounts.items():
            total = sum(v for (account_id, _), v in self.entry_balances.items()
                        if account_id == account.id)
            assert total == account.balance, (
                f"{name}: its entries add up to {total}, the model has {account.balance}")
        self.last_postings = postings

    def check_results(self, outs: list[TransferOut]) -> None:
        """What the service returned is what it posted."""
        postings = self.last_postings
        assert len(outs) == len(postings)
        for out, p in zip(outs, postings):
            row = p.row
            assert (out.id, out.seq, out.transaction_id, out.asset_code, out.debit_account_id,
                    out.credit_account_id, out.amount, out.kind, out.debit_balance_after,
                    out.credit_balance_after, out.reverses_id, out.hold_id, out.created_at) == (
                row.id, row.seq, row.transaction_id, row.asset_code, row.debit_account_id,
                row.credit_account_id, row.amount, row.kind, row.debit_balance_after,
                row.credit_balance_after, row.reverses_id, row.hold_id, row.created_at)

    # transfers and batches

    @initialize(target=transfers, grants=st.lists(
        st.tuples(st.integers(min_value=1, max_value=300), lot_lifetimes, shares,
                  hold_lifetimes.filter(bool)),
        min_size=len(ASSETS) * len(USERS), max_size=len(ASSETS) * len(USERS)))
    def fund_users(self, grants: list[tuple[int, dt.timedelta | None, int, dt.timedelta]]
                   ) -> Any:
        """Every user starts with a grant and a hold on part of it, so that spends, captures
        and releases can succeed from the first step."""
        users_ = [(asset, user) for asset in ASSETS for user in USERS]
        legs = [(asset, ("issuance", user), amount, lifetime)
                for (asset, user), (amount, lifetime, _, _) in zip(users_, grants)]
        funded = self.post_batch(self.batch_of(legs), keyed="no key")
        for (asset, user), (_, _, share, hold_lifetime) in zip(users_, grants):
            self.place_hold(asset, user, share, hold_lifetime, keyed="no key")
        return funded

    def single(self, data: TransferIn, posting: Posting, keyed: str) -> Any:
        key = self.new_key(keyed)
        done = self.execute(lambda s: service.transfer(s, data, idempotency_key=key),
                            lambda m: m.post([posting]), key)
        if done is None:
            return multiple()
        out, _ = done
        self.check_results([out])
        other = data.model_copy(update={"amount": data.amount + 1})
        self.remember(key, "transfer",
                      lambda s: service.transfer(s, data, idempotency_key=key),
                      lambda s: service.transfer(s, other, idempotency_key=key), out)
        return out.id

    @rule(target=transfers, asset=assets, user=users,
          amount=st.integers(min_value=1, max_value=200), lifetime=lot_lifetimes,
          keyed=keyings)
    def earn(self, asset: str, user: str, amount: int, lifetime: dt.timedelta | None,
             keyed: str) -> Any:
        return self.single(*self.leg(asset, "issuance", asset, user, amount, lifetime), keyed)

    def share_of(self, name: str, share: int) -> int:
        """`share` percent of what the account has available; a platform account, or a user
        with nothing, gets `share` itself."""
        available = self.model.view(name)[2]
        if self.model.accounts[name].platform or available <= 0:
            return share
        return -(-available * share // 100)  # rounded up: above 100 percent is too much

    @rule(target=transfers, asset=assets, debit=roles, credit=roles, share=shares,
          lifetime=lot_lifetimes, keyed=keyings)
    def move(self, asset: str, debit: str, credit: str, share: int,
             lifetime: dt.timedelta | None, keyed: str) -> Any:
        amount = self.share_of(f"{asset}:{debit}", share)
        note(f"move of {amount}")
        return self.single(*self.leg(asset, debit, asset, credit, amount, lifetime), keyed)

    @rule(what=st.sampled_from(("transfer to other asset", "hold in other asset",
                                "unknown hold", "unknown transfer")),
          asset=assets, debit=roles, credit=roles, user=users, amount=amounts)
    def bad_reference(self, what: str, asset: str, debit: str, credit: str, user: str,
                      amount: int) -> None:
        """A transfer into an account of the other asset, a hold on a user's account in the
        other asset, or a command on an id that does not exist. The asset is wrong whatever
        the account holds, so the refusal must not depend on its funds."""
        other = "PROMO" if asset == "COIN" else "COIN"
        if what == "transfer to other asset":
            self.single(*self.leg(asset, debit, other, credit, amount, None), keyed="no key")
            return
        if what == "hold in other asset":
            name = f"{asset}:{user}"
            data = HoldIn(account_id=self.ids[name], asset_code=other, amount=amount,
                          expires_at=self.model.now + DAY)
            note(f"hold of {amount} {other} on {name}")
            self.execute(lambda s: service.place_hold(s, data),
                         lambda m: m.place_hold(name, other, amount, data.expires_at))
            return
        missing = uuid.uuid4()
        if what == "unknown hold":
            self.execute(lambda s: service.release(s, missing), lambda m: m.release(missing))
        else:
            self.execute(lambda s: service.reverse(s, missing, reason="none"),
                         lambda m: m.reverse(missing, None))

    def batch_of(self, legs: list[Leg]) -> list[tuple[TransferIn, Posting]]:
        return [self.leg(asset, debit, asset, credit, amount, lifetime)
                for asset, (debit, credit), amount, lifetime in legs]

    def post_batch(self, pairs: list[tuple[TransferIn, Posting]], keyed: str) -> Any:
        key = self.new_key(keyed)
        data = [d for d, _ in pairs]
        done = self.execute(lambda s: service.post(s, data, idempotency_key=key),
                            lambda m: m.post([p for _, p in pairs]), key)
        if done is None:
            return multiple()
        out, _ = done
        self.check_results(out.transfers)
        assert {t.transaction_id for t in out.transfers} == {out.transaction_id}
        other = [*data[:-1], data[-1].model_copy(update={"amount": data[-1].amount + 1})]
        self.remember(key, "post", lambda s: service.post(s, data, idempotency_key=key),
                      lambda s: service.post(s, other, idempotency_key=key), out)
        return multiple(*(t.id for t in out.transfers))

    @rule(target=transfers, legs=st.lists(legs, min_size=1, max_size=4), keyed=keyings)
    def batch(self, legs: list[Leg], keyed: str) -> Any:
        return self.post_batch(self.batch_of(legs), keyed)

    @rule(legs=st.lists(legs, max_size=3), at=st.integers(min_value=0, max_value=3),
          asset=assets, user=users, extra=st.integers(min_value=1, max_value=50),
          keyed=keyings)
    def batch_with_overdraft(self, legs: list[Leg], at: int, asset: str, user: str, extra: int,
                             keyed: str) -> None:
        """A batch with one transfer of more than its user will have by then: nothing posts."""
        at = min(at, len(legs))
        projected = copy.deepcopy(self.model)
        try:
            projected.post([p for _, p in self.batch_of(legs[:at])])
        except Refused:
            pass  # an earlier transfer fails already; the batch must post nothing all the same
        name = f"{asset}:{user}"
        # An earlier refused transfer can leave the projection below zero.
        overdraft = max(projected.view(name)[2], 0) + extra
        note(f"{name} would have {projected.view(name)[2]} available; the batch takes {overdraft}")
        pairs = self.batch_of(legs)
        pairs.insert(at, self.leg(asset, user, asset, "issuance", overdraft, None))
        transfers_before = len(self.model.transfers)
        self.post_batch(pairs, keyed)
        assert len(self.model.transfers) == transfers_before, "an overdrawing batch posted"

    # holds

    @rule(asset=assets, user=users, share=shares, lifetime=hold_lifetimes, keyed=keyings)
    def place_hold(self, asset: str, user: str, share: int, lifetime: dt.timedelta,
                   keyed: str) -> None:
        name = f"{asset}:{user}"
        amount = self.share_of(name, share)
        note(f"hold of {amount}")
        key = self.new_key(keyed)
        data = HoldIn(account_id=self.ids[name], asset_code=asset, amount=amount,
                      expires_at=self.model.now + lifetime)
        done = self.execute(lambda s: service.place_hold(s, data, idempotency_key=key),
                            lambda m: m.place_hold(name, asset, amount, data.expires_at), key)
        if done is None:
            return
        out, hold = done
        self.model.holds[out.id] = hold
        assert (out.account_id, out.asset_code, out.amount, out.captured, out.status,
                out.expires_at, out.created_at, out.resolved_at) == (
            self.ids[name], asset, amount, 0, "pending", data.expires_at, self.model.now, None)
        other = data.model_copy(update={"amount": amount + 1})
        self.remember(key, "hold", lambda s: service.place_hold(s, data, idempotency_key=key),
                      lambda s: service.place_hold(s, other, idempotency_key=key), out)

    # Holds are picked by their place in the model rather than from a bundle, so that the
    # holds placed by the initial step are there whichever rules an example runs.
    @precondition(lambda self: self.model.holds)
    @rule(target=transfers, pick=st.integers(min_value=0, max_value=1000),
          how=st.sampled_from(("capture", "release")), credit=roles,
          share=st.none() | shares, keyed=keyings)
    def resolve_hold(self, pick: int, how: str, credit: str, share: int | None,
                     keyed: str) -> Any:
        """Capture all of a hold (share None) or `share` percent of it, to `credit`; or
        release it. Holds already resolved or past their deadline are picked too."""
        hold = list(self.model.holds)[pick % len(self.model.holds)]
        note(f"hold {hold}: {self.model.holds[hold]}")
        if how == "release":
            self.release(hold, keyed)
            return multiple()
        return self.capture(hold, credit, share, keyed)

    def capture(self, hold: uuid.UUID, credit: str, share: int | None, keyed: str) -> Any:
        held = self.model.holds[hold]
        credit_name = f"{held.asset}:{credit}"
        amount = None if share is None else -(-held.amount * share // 100)
        note(f"capture of {amount} of {held.amount}")
        key = self.new_key(keyed)
        data = CaptureIn(credit_account_id=self.ids[credit_name], amount=amount)
        done = self.execute(lambda s: service.capture(s, hold, data, idempotency_key=key),
                            lambda m: m.capture(hold, credit_name, amount), key)
        if done is None:
            return multiple()
        out, _ = done
        model_hold = self.model.holds[hold]
        assert (out.hold.id, out.hold.status, out.hold.amount, out.hold.captured,
                out.hold.resolved_at) == (hold, "captured", model_hold.amount,
                                          model_hold.captured, self.model.now)
        self.check_results([out.transfer])
        other = data.model_copy(update={"amount": 1 if amount is None else amount + 1})
        self.remember(key, "capture",
                      lambda s: service.capture(s, hold, data, idempotency_key=key),
                      lambda s: service.capture(s, hold, other, idempotency_key=key), out)
        return out.transfer.id

    def release(self, hold: uuid.UUID, keyed: str) -> None:
        key = self.new_key(keyed)
        done = self.execute(lambda s: service.release(s, hold, idempotency_key=key),
                            lambda m: m.release(hold), key)
        if done is None:
            return
        out, _ = done
        assert (out.id, out.status, out.captured, out.resolved_at) == (
            hold, "released", 0, self.model.now)
        elsewhere = uuid.uuid4()
        self.remember(key, "release", lambda s: service.release(s, hold, idempotency_key=key),
                      lambda s: service.release(s, elsewhere, idempotency_key=key), out)

    # time and the expiry jobs

    @rule(by=clock_steps)
    def advance_clock(self, by: dt.timedelta) -> None:
        clock.advance(by)
        self.model.now += by
        assert clock.now() == self.model.now

    @rule(target=transfers, job=st.sampled_from(("holds", "lots")))
    def run_expiry_job(self, job: str) -> Any:
        """service.expire_holds or service.expire_lots, as the periodic jobs run them."""
        if job == "holds":
            done = self.execute(lambda s: service.expire_holds(s), lambda m: m.expire_holds())
            assert done is not None
            expired, expected = done
            assert expired == expected, f"{expired} holds expired, the model expected {expected}"
            return multiple()
        done = self.execute(lambda s: service.expire_lots(s), lambda m: m.expire_lots())
        assert done is not None
        swept, expected = done
        assert swept == expected, f"{swept} lots swept, the model expected {expected}"
        return multiple(*(p.row.id for p in self.last_postings))

    # reversals

    @rule(target=transfers, transfer=transfers,
          share=st.none() | st.integers(min_value=0, max_value=120), keyed=keyings)
    def reverse(self, transfer: uuid.UUID, share: int | None, keyed: str) -> Any:
        """All that is left (share None), or `share` percent of it; 0 is an invalid amount."""
        original = self.model.transfers[transfer]
        left = original.amount - original.reversed
        amount = None if share is None else 0 if share == 0 else max(1, -(-left * share // 100))
        note(f"reversal of {amount} of the {left} left of {original.amount}")
        key = self.new_key(keyed)
        done = self.execute(
            lambda s: service.reverse(s, transfer, reason="correction", amount=amount,
                                      idempotency_key=key),
            lambda m: m.reverse(transfer, amount), key)
        if done is None:
            return multiple()
        out, _ = done
        self.check_results([out])
        other = 1 if amount is None else amount + 1
        self.remember(
            key, "reverse",
            lambda s: service.reverse(s, transfer, reason="correction", amount=amount,
                                      idempotency_key=key),
            lambda s: service.reverse(s, transfer, reason="correction", amount=other,
                                      idempotency_key=key), out)
        return out.id

    # idempotency

    @precondition(lambda self: self.stored)
    @rule(pick=st.integers(min_value=0, max_value=1000))
    def retry_same_request(self, pick: int) -> None:
        """Whatever happened since, the same key and request return the original result and
        move nothing (the step checks find no new transfer and every balance as it was)."""
        key = list(self.stored)[pick % len(self.stored)]
        stored = self.stored[key]
        note(f"retrying {key}, a {stored.command}")
        done = self.execute(stored.again, unchanged)
        assert done is not None
        out, _ = done
        assert out.model_dump() == stored.result.model_dump(), (
            f"replay of {key} gave {out!r}, the original was {stored.result!r}")

    @precondition(lambda self: self.stored)
    @rule(pick=st.integers(min_value=0, max_value=1000), other_command=st.booleans())
    def reuse_key_for_another_request(self, pick: int, other_command: bool) -> None:
        """The same command with another request, or another command, under a used key."""
        key = list(self.stored)[pick % len(self.stored)]
        stored = self.stored[key]
        note(f"reusing {key}, a {stored.command}")
        elsewhere = uuid.uuid4()

        async def another_command(session: AsyncSession) -> BaseModel:
            if stored.command == "release":
                return await service.reverse(session, elsewhere, reason="other",
                                             idempotency_key=key)
            return await service.release(session, elsewhere, idempotency_key=key)

        self.execute(another_command if other_command else stored.variant,
                     refuse(errors.IdempotencyKeyReused))

    # what must hold after every step

    async def snapshot(self) -> Snapshot:
        snap = Snapshot()
        for name, account_id in self.ids.items():
            snap.balances[name] = await service.balance(self.session, account_id)
        snap.lots = list((await self.session.execute(text(
            "SELECT id, account_id, amount, remaining, reserved, expires_at FROM ledger_lots"
        ))).all())
        snap.holds = list((await self.session.execute(text(
            "SELECT id, account_id, asset_code, amount, captured, status, expires_at"
            " FROM ledger_holds"))).all())
        snap.hold_lots = list((await self.session.execute(text(
            "SELECT hold_id, lot_id, amount FROM ledger_hold_lots"))).all())
        return snap

    @invariant()
    def ledger_matches_model(self) -> None:
        snap = self.run(self.snapshot())
        model = self.model
        for name, got in snap.balances.items():
            posted, held, available, soon = model.view(name)
            before = model.now + service.EXPIRING_SOON if model.accounts[name].lots else None
            assert (got.posted, got.held, got.available, got.expiring_soon,
                    got.expiring_before) == (posted, held, available, soon, before), (
                f"{name}: the service says {got!r}; the model says posted {posted}, held {held},"
                f" available {available}, expiring soon {soon}")
        lots = {row.id: (self.names[row.account_id], row.amount, row.remaining, row.reserved,
                         row.expires_at) for row in snap.lots}
        expected_lots = {lot.id: (lot.account, lot.amount, lot.remaining, lot.reserved,
                                  lot.expires_at) for lot in model.lots.values()}
        assert lots == expected_lots, f"lots {lots}, the model has {expected_lots}"
        holds = {row.id: (self.names[row.account_id], row.asset_code, row.amount, row.captured,
                          row.status, row.expires_at) for row in snap.holds}
        expected_holds = {hold_id: (h.account, h.asset, h.amount, h.captured, h.status,
                                    h.expires_at) for hold_id, h in model.holds.items()}
        assert holds == expected_holds, f"holds {holds}, the model has {expected_holds}"
        reservations = {(row.hold_id, row.lot_id): row.amount for row in snap.hold_lots}
        expected_reservations = {(hold_id, model.lots[key].id): amount
                                 for hold_id, h in model.holds.items()
                                 for key, amount in h.reservations.items()}
        assert reservations == expected_reservations, (
            f"hold reservations {reservations}, the model has {expected_reservations}")

    @invariant()
    def verify_passes(self) -> None:
        report = self.run(verify(self.session))
        failed = [(c.name, c.sample) for c in report.checks if not c.ok]
        assert report.ok, f"verify failed: {failed}"
        assert report.transfers == len(self.model.transfers)


async def open_accounts(connection: AsyncConnection) -> dict[str, uuid.UUID]:
    """The assets and accounts, opened once for all examples: each example only posts, and
    its savepoint takes that back, which keeps the many runs of shrinking cheap."""
    ids = {}
    async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as session:
        await make_book(session)
        for asset in ASSETS:
            for role in PLATFORM_ROLES:
                ids[f"{asset}:{role}"] = (await service.platform_account(session, asset, role)).id
            for role in USERS:
                ids[f"{asset}:{role}"] = (
                    await service.user_account(session, uuid.uuid4(), asset)).id
        await session.commit()  # releases the session's savepoint into the test's transaction
    return ids


async def test_ledger_matches_its_model(connection: AsyncConnection) -> None:
    ids = await open_accounts(connection)
    loop = asyncio.get_running_loop()
    await asyncio.to_thread(
        run_state_machine_as_test, lambda: LedgerMachine(loop, connection, ids),
        settings=settings(max_examples=30, stateful_step_count=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )
