"""The ledger service: assets, accounts, transfers, holds, lots, limits, reversals and reads.

Every scenario that moves value ends with `verify`; every refusal is shown to leave the
ledger exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.errors import GullakError, InvalidInput
from gullak.ledger import errors, service
from gullak.ledger.schemas import (
    MAX_AMOUNT,
    AccountIn,
    AccountOut,
    AssetIn,
    CaptureIn,
    EntryOut,
    HoldIn,
    OwnerType,
    ReversalIn,
    TransferIn,
)
from gullak.ledger.verify import verify
from tests.helpers.ledger import Book

T0 = dt.datetime(2030, 1, 10, 12, 0, tzinfo=dt.UTC)
BAD_AMOUNTS: list[object] = [0, -5, 1.5, True, "10", 2**63]

Snapshot = dict[str, list[tuple[Any, ...]]]

# Everything a ledger command may write: a refusal must leave all of it as it was.
SNAPSHOT_QUERIES = {
    "assets": "SELECT code FROM ledger_assets ORDER BY code",
    "accounts": "SELECT id, frozen_reason, daily_limit, monthly_limit FROM ledger_accounts"
                " ORDER BY id",
    "balances": "SELECT account_id, shard, balance, held, frozen FROM ledger_balances"
                " ORDER BY account_id, shard",
    "transfers": "SELECT id FROM ledger_transfers ORDER BY seq",
    "holds": "SELECT id, status, captured FROM ledger_holds ORDER BY id",
    "lots": "SELECT id, remaining, reserved FROM ledger_lots ORDER BY id",
    "hold_lots": "SELECT hold_id, lot_id, amount FROM ledger_hold_lots ORDER BY 1, 2",
    "spend": "SELECT account_id, period, period_start, spent FROM ledger_spend ORDER BY 1, 2, 3",
    "keys": "SELECT key, request_hash, result::text FROM ledger_idempotency ORDER BY key",
}


async def snapshot(session: AsyncSession) -> Snapshot:
    return {name: [tuple(r) for r in await session.execute(text(q))]
            for name, q in SNAPSHOT_QUERIES.items()}


async def refused(session: AsyncSession, error: type[Exception],
                  action: Callable[[], Awaitable[object]]) -> Any:
    """Run `action` in a savepoint, expect `error`, and prove that nothing changed."""
    before = await snapshot(session)
    with pytest.raises(error) as caught:
        async with session.begin_nested():
            await action()
    assert await snapshot(session) == before
    return caught.value


async def assert_verified(session: AsyncSession) -> None:
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]


async def posted(session: AsyncSession, account: AccountOut) -> int:
    return (await service.balance(session, account.id)).posted


async def raw_balance(session: AsyncSession, account: AccountOut) -> int:
    """The stored balance, which (unlike `balance`) still counts unswept expired lots."""
    value = await session.scalar(text(
        "SELECT sum(balance) FROM ledger_balances WHERE account_id = :a"), {"a": account.id})
    return int(value)


async def lots(session: AsyncSession, account: AccountOut) -> list[tuple[int, int, int]]:
    """(amount, remaining, reserved) of each lot, oldest first."""
    rows = await session.execute(text(
        "SELECT amount, remaining, reserved FROM ledger_lots WHERE account_id = :a"
        " ORDER BY created_at, id"), {"a": account.id})
    return [tuple(r) for r in rows]  # type: ignore[misc]


def move(debit: AccountOut, credit: AccountOut, amount: int, kind: str = "spend",
         **kw: Any) -> TransferIn:
    return TransferIn(debit_account_id=debit.id, credit_account_id=credit.id,
                      asset_code=debit.asset_code, amount=amount, kind=kind, **kw)


def hold_in(account: AccountOut, amount: int, expires_in: dt.timedelta = dt.timedelta(hours=1),
            **kw: Any) -> HoldIn:
    return HoldIn(account_id=account.id, asset_code=account.asset_code, amount=amount,
                  expires_at=clock.now() + expires_in, **kw)


async def merchant(session: AsyncSession, asset: str = "COIN") -> AccountOut:
    return await service.open_account(session, AccountIn(
        asset_code=asset, owner_type=OwnerType.merchant, owner_id=uuid.uuid4()))


# -- assets -------------------------------------------------------------------------------

async def test_create_asset_returns_and_lists_it(book: Book) -> None:
    created = await service.create_asset(book.session, AssetIn(
        code="REZ", name="ReZ coins", kind="coin", scale=0))
    assert (created.code, created.kind, created.scale, created.expires) == ("REZ", "coin", 0, False)
    assert await service.get_asset(book.session, "REZ") == created
    assert [a.code for a in await service.list_assets(book.session)] == [
        "COIN", "INR", "PROMO", "REZ"]


async def test_duplicate_asset_code_is_refused(book: Book) -> None:
    error = await refused(book.session, errors.AssetExists, lambda: service.create_asset(
        book.session, AssetIn(code="COIN", name="Other coins", kind="points", scale=0)))
    assert error.field == "code"
    assert (await service.get_asset(book.session, "COIN")).name == "Coins"


async def test_expiring_asset_without_lifetime_is_refused(book: Book) -> None:
    error = await refused(book.session, InvalidInput, lambda: service.create_asset(
        book.session, AssetIn(code="FLASH", name="Flash coins", kind="coin", scale=0,
                              expires=True)))
    assert error.field == "lifetime_days"
    await refused(book.session, errors.AssetNotFound,
                  lambda: service.get_asset(book.session, "FLASH"))


async def test_account_in_unknown_asset_is_refused(book: Book) -> None:
    await refused(book.session, errors.AssetNotFound,
                  lambda: service.user_account(book.session, uuid.uuid4(), "NOPE"))


# -- accounts -----------------------------------------------------------------------------

async def test_open_account_is_get_or_create(book: Book) -> None:
    owner = uuid.uuid4()
    first = await service.user_account(book.session, owner, "COIN")
    again = await service.user_account(book.session, owner, "COIN")
    assert again == first
    assert (first.owner_type, first.owner_id, first.purpose) == ("user", owner, "main")
    assert (first.allow_negative, first.shards) == (False, 1)
    # The same owner's account in another asset or for another purpose is another account.
    assert (await service.user_account(book.session, owner, "INR")).id != first.id
    other = await service.open_account(book.session, AccountIn(
        asset_code="COIN", owner_type=OwnerType.user, owner_id=owner, purpose="savings"))
    assert other.id != first.id
    rows = await book.session.scalar(text(
        "SELECT count(*) FROM ledger_balances WHERE account_id = :a"), {"a": first.id})
    assert rows == 1
    assert await service.platform_account(book.session, "COIN", "issuance") == book.issuance


async def test_owner_id_is_required_except_for_platform_accounts(book: Book) -> None:
    for data in (AccountIn(asset_code="COIN", owner_type=OwnerType.user),
                 AccountIn(asset_code="COIN", owner_type=OwnerType.platform,
                           owner_id=uuid.uuid4(), purpose="breakage")):
        error = await refused(book.session, InvalidInput,
                              lambda d=data: service.open_account(book.session, d))
        assert error.field == "owner_id"


async def test_platform_accounts_are_sharded_and_may_go_negative(book: Book) -> None:
    assert (book.issuance.allow_negative, book.issuance.shards) == (True, service.PLATFORM_SHARDS)
    shard_rows = await book.session.scalar(text(
        "SELECT count(*) FROM ledger_balances WHERE account_id = :a"), {"a": book.issuance.id})
    assert shard_rows == service.PLATFORM_SHARDS
    users = [await book.user() for _ in range(6)]
    for i, user in enumerate(users):
        await book.fund(user, 100 + i)
    total = sum(100 + i for i in range(6))
    assert await posted(book.session, book.issuance) == -total
    assert await service.balance_at(book.session, book.issuance.id, clock.now()) == -total
    await assert_verified(book.session)


async def test_user_account_never_goes_negative(book: Book) -> None:
    a, b = await book.user(), await book.user()
    await book.fund(a, 30)
    await refused(book.session, errors.InsufficientFunds,
                  lambda: service.transfer(book.session, move(a, b, 31)))
    await refused(book.session, errors.InsufficientFunds,
                  lambda: service.transfer(book.session, move(b, a, 1)))
    await service.transfer(book.session, move(a, b, 30))
    assert (await posted(book.session, a), await posted(book.session, b)) == (0, 30)
    await assert_verified(book.session)


# -- transfers ----------------------------------------------------------------------------

async def test_transfer_keeps_the_balance_after_on_both_sides(book: Book) -> None:
    a, b = await book.user(), await book.user()
    earn = await service.transfer(book.session, TransferIn(
        debit_account_id=book.issuance.id, credit_account_id=a.id, asset_code="COIN",
        amount=500, kind="earn", reference_type="order", reference_id="ORD-1",
        metadata={"campaign": "diwali"}))
    assert earn.credit_balance_after == 500
    spend = await service.transfer(book.session, move(a, b, 120))
    assert (spend.debit_balance_after, spend.credit_balance_after) == (380, 120)
    assert spend.seq > earn.seq
    assert (earn.reference_type, earn.reference_id, earn.metadata) == (
        "order", "ORD-1", {"campaign": "diwali"})
    assert (await posted(book.session, a), await posted(book.session, b)) == (380, 120)
    await assert_verified(book.session)


async def test_get_transfer_returns_the_posted_transfer(book: Book) -> None:
    a = await book.user()
    earn = await service.transfer(book.session, move(book.issuance, a, 500, kind="earn",
                                                     metadata={"campaign": "diwali"}))
    assert await service.get_transfer(book.session, earn.id) == earn
    back = await service.reverse(book.session, earn.id, reason="typo", amount=5)
    assert (await service.get_transfer(book.session, back.id)).reverses_id == earn.id
    await refused(book.session, errors.TransferNotFound,
                  lambda: service.get_transfer(book.session, uuid.uuid4()))


async def test_batch_posts_every_transfer_as_one_transaction(book: Book) -> None:
    a, b, c = await book.user(), await book.user(), await book.user()
    # Later transfers in a batch see the earlier ones: a is funded and spends in one go.
    tx = await service.post(book.session, [
        move(book.issuance, a, 100, kind="earn"),
        move(a, b, 70),
        move(b, c, 20),
    ])
    assert len({t.transaction_id for t in tx.transfers}) == 1
    assert tx.transfers[0].transaction_id == tx.transaction_id
    assert [t.seq for t in tx.transfers] == sorted(t.seq for t in tx.transfers)
    assert [(t.debit_balance_after, t.credit_balance_after) for t in tx.transfers[1:]] == [
        (30, 70), (50, 20)]
    assert [await posted(book.session, x) for x in (a, b, c)] == [30, 50, 20]
    await assert_verified(book.session)


async def test_batch_with_one_bad_transfer_posts_nothing(book: Book) -> None:
    a, b = await book.user(), await book.user()
    await book.fund(a, 50)
    for batch in (
        [move(book.issuance, a, 100, kind="earn"), move(a, b, 500)],  # overdraws a
        [move(a, b, 10), move(b, b, 5)],  # same account
        [move(a, b, 10), TransferIn(debit_account_id=a.id, credit_account_id=uuid.uuid4(),
                                    asset_code="COIN", amount=5, kind="spend")],
    ):
        await refused(book.session, GullakError, lambda t=batch: service.post(book.session, t))
    await refused(book.session, InvalidInput, lambda: service.post(book.session, []))
    assert (await posted(book.session, a), await posted(book.session, b)) == (50, 0)
    await assert_verified(book.session)


def test_check_amount_accepts_whole_numbers_from_1_to_2_63_minus_1() -> None:
    assert service.check_amount(1) == 1
    assert service.check_amount(MAX_AMOUNT) == MAX_AMOUNT


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
def test_check_amount_refuses_bad_amounts(amount: object) -> None:
    with pytest.raises(errors.InvalidAmount) as caught:
        service.check_amount(amount, "daily_limit")
    assert caught.value.field == "daily_limit"


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
def test_schemas_refuse_bad_amounts(amount: object) -> None:
    common: dict[str, Any] = {"asset_code": "COIN", "amount": amount}
    shapes: list[tuple[type[Any], dict[str, Any]]] = [
        (TransferIn, {**common, "debit_account_id": uuid.uuid4(),
                      "credit_account_id": uuid.uuid4(), "kind": "spend"}),
        (HoldIn, {**common, "account_id": uuid.uuid4(), "expires_at": T0}),
        (CaptureIn, {"credit_account_id": uuid.uuid4(), "amount": amount}),
        (ReversalIn, {"amount": amount, "reason": "duplicate"}),
    ]
    for model, data in shapes:
        with pytest.raises(ValidationError) as caught:
            model(**data)
        assert [e["loc"] for e in caught.value.errors()] == [("amount",)], model
    with pytest.raises(ValidationError):
        AccountIn(asset_code="COIN", owner_type=OwnerType.user, owner_id=uuid.uuid4(),
                  daily_limit=amount)


# Bypassing validation makes pydantic warn when the idempotency hash serialises the body.
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
async def test_service_refuses_bad_amounts(book: Book, amount: Any) -> None:
    a, b = await book.user(), await book.user()
    await book.fund(a, 100)
    hold = await service.place_hold(book.session, hold_in(a, 10))
    earn = await service.transfer(book.session, move(book.issuance, b, 10, kind="earn"))
    # model_construct skips validation, as a caller that bypasses the schemas would.
    bad_move = TransferIn.model_construct(
        debit_account_id=a.id, credit_account_id=b.id, asset_code="COIN", amount=amount,
        kind="spend", reference_type=None, reference_id=None, metadata={},
        lot_expires_at=None)
    bad_hold = HoldIn.model_construct(
        account_id=a.id, asset_code="COIN", amount=amount, expires_at=clock.now()
        + dt.timedelta(hours=1), reference_type=None, reference_id=None, metadata={})
    bad_capture = CaptureIn.model_construct(
        credit_account_id=b.id, amount=amount, kind="capture", reference_type=None,
        reference_id=None, metadata={})
    attempts: list[Callable[[], Awaitable[object]]] = [
        lambda: service.transfer(book.session, bad_move),
        lambda: service.transfer(book.session, bad_move, idempotency_key="bad-amount"),
        lambda: service.post(book.session, [move(a, b, 1), bad_move]),
        lambda: service.place_hold(book.session, bad_hold),
        lambda: service.capture(book.session, hold.id, bad_capture),
        lambda: service.reverse(book.session, earn.id, reason="typo", amount=amount),
        lambda: service.set_limits(book.session, a.id, daily=amount, monthly=None),
        lambda: service.set_limits(book.session, a.id, daily=None, monthly=amount),
    ]
    for attempt in attempts:
        await refused(book.session, errors.InvalidAmount, attempt)
    assert (await book.available(a), await book.available(b)) == (90, 10)
    await assert_verified(book.session)


async def test_balance_beyond_2_63_minus_1_is_a_clear_refusal(book: Book) -> None:
    a = await book.user()
    await book.fund(a, MAX_AMOUNT)
    # Each amount is valid, but the balance would pass the largest amount the ledger holds.
    await refused(book.session, GullakError, lambda: book.fund(a, 1))
    assert await posted(book.session, a) == MAX_AMOUNT
    await assert_verified(book.session)


async def test_unknown_account_is_refused(book: Book) -> None:
    a = await book.user()
    await book.fund(a, 10)
    ghost = uuid.uuid4()
    for data in (
        TransferIn(debit_account_id=ghost, credit_account_id=a.id, asset_code="COIN",
                   amount=1, kind="earn"),
        TransferIn(debit_account_id=a.id, credit_account_id=ghost, asset_code="COIN",
                   amount=1, kind="spend"),
    ):
        await refused(book.session, errors.AccountNotFound,
                      lambda d=data: service.transfer(book.session, d))
    for read in (lambda: service.balance(book.session, ghost),
                 lambda: service.get_account(book.session, ghost),
                 lambda: service.history(book.session, ghost),
                 lambda: service.balance_at(book.session, ghost, clock.now()),
                 lambda: service.freeze(book.session, ghost, "fraud")):
        await refused(book.session, errors.AccountNotFound, read)
    await assert_verified(book.session)


async def test_asset_mismatch_is_refused(book: Book) -> None:
    coin, rupees = await book.user(), await book.user("INR")
    await book.fund(coin, 100)
    other = await book.user()
    for data in (
        # Accounts of different assets.
        TransferIn(debit_account_id=coin.id, credit_account_id=rupees.id, asset_code="COIN",
                   amount=10, kind="spend"),
        # Both accounts agree with each other but not with the transfer.
        TransferIn(debit_account_id=coin.id, credit_account_id=other.id, asset_code="INR",
                   amount=10, kind="spend"),
    ):
        await refused(book.session, errors.AssetMismatch,
                      lambda d=data: service.transfer(book.session, d))
    await refused(book.session, errors.AssetMismatch, lambda: service.place_hold(
        book.session, HoldIn(account_id=coin.id, asset_code="INR", amount=5,
                             expires_at=clock.now() + dt.timedelta(hours=1))))
    assert await posted(book.session, coin) == 100
    await assert_verified(book.session)


async def test_same_account_on_both_sides_is_refused(book: Book) -> None:
    a = await book.user()
    await book.fund(a, 100)
    error = await refused(book.session, errors.SameAccount,
                          lambda: service.transfer(book.session, move(a, a, 10)))
    assert error.code == "same_account"
    await refused(book.session, errors.SameAccount, lambda: service.transfer(
        book.session, move(book.issuance, book.issuance, 10, kind="adjust")))
    await assert_verified(book.session)


async def test_frozen_account_takes_credits_but_no_debits_until_unfrozen(book: Book) -> None:
    a, b = await book.user(), await book.user()
    await book.fund(a, 100)
    frozen = await service.freeze(book.session, a.id, "chargeback under review")
    assert frozen.frozen_reason == "chargeback under review"
    assert frozen.frozen_at is not None
    await refused(book.session, errors.AccountFrozen,
                  lambda: service.transfer(book.session, move(a, b, 10)))
    await refused(book.session, errors.AccountFrozen,
                  lambda: service.post(book.session, [move(a, b, 10), move(a, b, 5)]))
    await refused(book.session, errors.AccountFrozen,
                  lambda: service.place_hold(book.session, hold_in(a, 10)))
    await book.fund(a, 25)  # credits still land
    assert await posted(book.session, a) == 125
    thawed = await service.unfreeze(book.session, a.id)
    assert (thawed.frozen_reason, thawed.frozen_at) == (None, None)
    await service.transfer(book.session, move(a, b, 10))
    assert (await posted(book.session, a), await posted(book.session, b)) == (115, 10)
    await assert_verified(book.session)


async def test_frozen_account_cannot_be_debited_by_naming_a_system_kind(book: Book) -> None:
    a, b = await book.user(), await book.user()
    await book.fund(a, 100)
    await service.freeze(book.session, a.id, "fraud")
    # Reversals and expiry sweeps may debit a frozen account; a client's transfer that merely
    # carries their kind is neither, and those kinds are the ledger's own.
    for kind in ("reversal", "expire"):
        await refused(book.session, errors.ReservedKind,
                      lambda k=kind: service.transfer(book.session, move(a, b, 10, kind=k)))
    assert await posted(book.session, a) == 100
    await assert_verified(book.session)


async def test_insufficient_available_funds_counts_what_is_held(book: Book) -> None:
    a, b = await book.user(), await book.user()
    await book.fund(a, 100)
    await service.place_hold(book.session, hold_in(a, 60))
    await refused(book.session, errors.InsufficientFunds,
                  lambda: service.transfer(book.session, move(a, b, 41)))
    await refused(book.session, errors.InsufficientFunds,
                  lambda: service.place_hold(book.session, hold_in(a, 41)))
    await service.transfer(book.session, move(a, b, 40))
    bal = await service.balance(book.session, a.id)
    assert (bal.posted, bal.held, bal.available) == (60, 60, 0)
    await assert_verified(book.session)


# -- holds --------------------------------------------------------------------------------

async def test_partial_capture_moves_part_and_releases_the_rest(book: Book) -> None:
    a, shop = await book.user(), await merchant(book.session)
    await book.fund(a, 100)
    hold = await service.place_hold(book.session, hold_in(a, 60, reference_type="order",
                                                          reference_id="ORD-7"))
    assert (hold.status, hold.captured, hold.resolved_at) == ("pending", 0, None)
    assert await book.available(a) == 40
    done = await service.capture(book.session, hold.id, CaptureIn(credit_account_id=shop.id,
                                                                  amount=45))
    assert (done.hold.status, done.hold.captured) == ("captured", 45)
    assert done.hold.resolved_at is not None
    t = done.transfer
    assert (t.debit_account_id, t.credit_account_id, t.amount, t.kind, t.hold_id) == (
        a.id, shop.id, 45, "capture", hold.id)
    assert (t.reference_type, t.reference_id) == ("order", "ORD-7")
    bal = await service.balance(book.session, a.id)
    assert (bal.posted, bal.held, bal.available) == (55, 0, 55)
    assert await posted(book.session, shop) == 45
    await assert_verified(book.session)


async def test_capture_of_the_whole_hold_by_default(book: Book) -> None:
    a, shop = await book.user(), await merchant(book.session)
    await book.fund(a, 100)
    hold = await service.place_hold(book.session, hold_in(a, 60))
    done = await service.capture(book.session, hold.id, CaptureIn(credit_account_id=shop.id))
    assert (done.hold.captured, done.transfer.amount) == (60, 60)
    assert (await posted(book.session, a), await posted(book.session, shop)) == (40, 60)
    await assert_verified(book.session)


async def test_capture_over_the_held_amount_is_refused(book: Book) -> None:
    a, shop = await book.user(), await merchant(book.session)
    await book.fund(a, 100)
    hold = await service.place_hold(book.session, hold_in(a, 60))
    error = await refused(book.session, errors.CaptureExceedsHold, lambda: service.capture(
        book.session, hold.id, CaptureIn(credit_account_id=shop.id, amount=61)))
    assert error.field == "amount"
    assert (await service.get_hold(book.session, hold.id)).status == "pending"
    await assert_verified(book.session)


async def test_hold_resolves_at_most_once(book: Book) -> None:
    a, shop = await book.user(), await merchant(book.session)
    await book.fund(a, 100)
    hold = await service.place_hold(book.session, hold_in(a, 60))
    released = await service.release(book.session, hold.id)
    assert (released.status, released.captured) == ("released", 0)
    assert await book.available(a) == 100
    await refused(book.session, errors.HoldNotPending,
                  lambda: service.release(book.session, hold.id))
    await refused(book.session, errors.HoldNotPending, lambda: service.capture(
        book.session, hold.id, CaptureIn(credit_account_id=shop.id, amount=10)))
    captured = await service.place_hold(book.session, hold_in(a, 30))
    await service.capture(book.session, captured.id, CaptureIn(credit_account_id=shop.id))
    await refused(book.session, errors.HoldNotPending,
                  lambda: service.release(book.session, captured.id))
    await refused(book.session, errors.HoldNotPending, lambda: service.capture(
        book.session, captured.id, CaptureIn(credit_account_id=shop.id)))
    assert (await posted(book.session, a), await posted(book.session, shop)) == (70, 30)
    await assert_verified(book.session)


async def test_expired_hold_cannot_be_captured(book: Book) -> None:
    clock.freeze(T0)
    a, shop = await book.user(), await merchant(book.session)
    await book.fund(a, 100)
    hold = await service.place_hold(book.session, hold_in(a, 60, dt.timedelta(hours=1)))
    clock.advance(dt.timedelta(hours=2))
    await refused(book.session, errors.HoldExpired, lambda: service.capture(
        book.session, hold.id, CaptureIn(credit_account_id=shop.id)))
    await refused(book.session, errors.HoldExpired,
                  lambda: service.release(book.session, hold.id))
    assert await service.expire_holds(book.session) == 1
    expired = await service.get_hold(book.session, hold.id)
    assert (expired.status, expired.captured) == ("expired", 0)
    assert await book.available(a) == 100
    await refused(book.session, errors.HoldNotPending, lambda: service.capture(
        book.session, hold.id, CaptureIn(credit_account_id=shop.id)))
    assert await service.expire_holds(book.session) == 0
    await assert_verified(book.session)


async def test_expire_holds_leaves_live_holds_alone(book: Book) -> None:
    clock.freeze(T0)
    a = await book.user()
    await book.fund(a, 100)
    short = await service.place_hold(book.session, hold_in(a, 10, dt.timedelta(minutes=5)))
    long = await service.place_hold(book.session, hold_in(a, 20, dt.timedelta(days=2)))
    clock.advance(dt.timedelta(hours=1))
    assert await service.expire_holds(book.session) == 1
    assert (await service.get_hold(book.session, short.id)).status == "expired"
    assert (await service.get_hold(book.session, long.id)).status == "pending"
    assert (await service.balance(book.session, a.id)).held == 20
    await assert_verified(book.session)


async def test_bad_holds_are_refused(book: Book) -> None:
    a = await book.user()
    await book.fund(a, 100)
    error = await refused(book.session, InvalidInput, lambda: service.place_hold(
        book.session, hold_in(a, 10, -dt.timedelta(seconds=1))))
    assert error.field == "expires_at"
    await refused(book.session, errors.HoldNotFound,
                  lambda: service.release(book.session, uuid.uuid4()))
    await refused(book.session, errors.HoldNotFound,
                  lambda: service.get_hold(book.session, uuid.uuid4()))
    await assert_verified(book.session)


async def test_hold_on_unknown_account_is_account_not_found(book: Book) -> None:
    await refused(book.session, errors.AccountNotFound, lambda: service.place_hold(
        book.session, HoldIn(account_id=uuid.uuid4(), asset_code="COIN", amount=5,
                             expires_at=clock.now() + dt.timedelta(hours=1))))


# -- idempotency --------------------------------------------------------------------------

async def test_same_key_and_body_returns_the_original_and_moves_nothing_more(book: Book) -> None:
    a = await book.user()
    data = move(book.issuance, a, 100, kind="earn")
    first = await service.transfer(book.session, data, idempotency_key="earn-1")
    after_first = await snapshot(book.session)
    again = await service.transfer(book.session, data.model_copy(), idempotency_key="earn-1")
    assert again == first
    assert await snapshot(book.session) == after_first
    assert await posted(book.session, a) == 100
    await assert_verified(book.session)


async def test_same_key_with_another_body_is_refused(book: Book) -> None:
    a = await book.user()
    await service.transfer(book.session, move(book.issuance, a, 100, kind="earn"),
                           idempotency_key="earn-1")
    error = await refused(book.session, errors.IdempotencyKeyReused, lambda: service.transfer(
        book.session, move(book.issuance, a, 101, kind="earn"), idempotency_key="earn-1"))
    assert error.field == "idempotency_key"
    # The key names one command: the same key for another command is another request.
    await refused(book.session, errors.IdempotencyKeyReused, lambda: service.post(
        book.session, [move(book.issuance, a, 100, kind="earn")], idempotency_key="earn-1"))
    await refused(book.session, errors.IdempotencyKeyReused, lambda: service.place_hold(
        book.session, hold_in(a, 10), idempotency_key="earn-1"))
    assert await posted(book.session, a) == 100
    await assert_verified(book.session)


async def test_every_command_replays_its_original_result(book: Book) -> None:
    clock.freeze(T0)
    a, shop = await book.user(), await merchant(book.session)
    await book.fund(a, 1000)
    to_capture = hold_in(a, 100)
    h1 = await service.place_hold(book.session, to_capture, idempotency_key="h1")
    h2 = await service.place_hold(book.session, hold_in(a, 50), idempotency_key="h2")
    spent = await service.transfer(book.session, move(a, shop, 200))
    batch = [move(a, shop, 10), move(a, shop, 20)]
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: service.post(book.session, batch, idempotency_key="post"),
        lambda: service.capture(book.session, h1.id, CaptureIn(
            credit_account_id=shop.id, amount=70), idempotency_key="cap"),
        lambda: service.release(book.session, h2.id, idempotency_key="rel"),
        lambda: service.reverse(book.session, spent.id, reason="refund", amount=80,
                                idempotency_key="rev"),
    ]
    for call in calls:
        original = await call()
        after = await snapshot(book.session)
        # A second real capture or release would be refused: the replay answers from the
        # stored result instead, and moves nothing.
        assert await call() == original
        assert await snapshot(book.session) == after
    # The hold has been captured since; its placement still replays as it was answered.
    after = await snapshot(book.session)
    assert await service.place_hold(book.session, to_capture, idempotency_key="h1") == h1
    assert await snapshot(book.session) == after
    assert await posted(book.session, a) == 1000 - 30 - 70 - 200 + 80
    assert (await service.balance(book.session, a.id)).held == 0
    await assert_verified(book.session)


async def test_refused_command_does_not_use_up_its_key(book: Book) -> None:
    a, b = await book.user(), await book.user()
    await refused(book.session, errors.InsufficientFunds, lambda: service.transfer(
        book.session, move(a, b, 10), idempotency_key="pay-1"))
    await book.fund(a, 10)
    done = await service.transfer(book.session, move(a, b, 10), idempotency_key="pay-1")
    assert done.amount == 10
    assert await posted(book.session, b) == 10
    await assert_verified(book.session)


# -- reversals ----------------------------------------------------------------------------

async def test_full_reversal_is_linked_to_the_original(book: Book) -> None:
    a = await book.user()
    earn = await service.transfer(book.session, move(book.issuance, a, 100, kind="earn",
                                                     reference_type="order",
                                                     reference_id="ORD-9"))
    back = await service.reverse(book.session, earn.id, reason="order cancelled")
    assert back.reverses_id == earn.id
    assert (back.debit_account_id, back.credit_account_id, back.amount, back.kind) == (
        a.id, book.issuance.id, 100, "reversal")
    assert (back.reference_type, back.reference_id) == ("order", "ORD-9")
    assert back.metadata == {"reason": "order cancelled"}
    stored = await book.session.scalar(text(
        "SELECT reverses_id FROM ledger_transfers WHERE id = :id"), {"id": back.id})
    assert stored == earn.id
    assert await posted(book.session, a) == 0
    page = await service.history(book.session, a.id)
    assert [(e.kind, e.amount, e.reverses_id) for e in page.entries] == [
        ("reversal", -100, earn.id), ("earn", 100, None)]
    await refused(book.session, errors.ReversalExceedsOriginal,
                  lambda: service.reverse(book.session, earn.id, reason="again"))
    await assert_verified(book.session)


async def test_partial_reversals_stop_at_the_original_amount(book: Book) -> None:
    a = await book.user()
    earn = await service.transfer(book.session, move(book.issuance, a, 100, kind="earn"))
    await refused(book.session, errors.ReversalExceedsOriginal,
                  lambda: service.reverse(book.session, earn.id, reason="x", amount=101))
    await service.reverse(book.session, earn.id, reason="part", amount=30)
    await service.reverse(book.session, earn.id, reason="part", amount=50)
    error = await refused(book.session, errors.ReversalExceedsOriginal,
                          lambda: service.reverse(book.session, earn.id, reason="x", amount=21))
    assert error.field == "amount"
    last = await service.reverse(book.session, earn.id, reason="rest")
    assert last.amount == 20
    await refused(book.session, errors.ReversalExceedsOriginal,
                  lambda: service.reverse(book.session, earn.id, reason="x", amount=1))
    assert await posted(book.session, a) == 0
    await refused(book.session, errors.TransferNotFound,
                  lambda: service.reverse(book.session, uuid.uuid4(), reason="x"))
    await assert_verified(book.session)


# -- expiring lots ------------------------------------------------------------------------

async def test_spending_takes_the_earliest_expiry_first_then_the_oldest(book: Book) -> None:
    clock.freeze(T0)
    a = await book.user("PROMO")
    await book.fund(a, 10, lot_expires_at=T0 + dt.timedelta(days=30))
    clock.advance(dt.timedelta(minutes=1))
    await book.fund(a, 20, lot_expires_at=T0 + dt.timedelta(days=10))
    clock.advance(dt.timedelta(minutes=1))
    await book.fund(a, 30, lot_expires_at=T0 + dt.timedelta(days=10))
    clock.advance(dt.timedelta(minutes=1))
    await book.fund(a, 40)  # the asset's lifetime: 90 days
    await service.transfer(book.session, move(a, book.promo_issuance, 25))
    assert await lots(book.session, a) == [(10, 10, 0), (20, 0, 0), (30, 25, 0), (40, 40, 0)]
    await service.transfer(book.session, move(a, book.promo_issuance, 30))
    assert await lots(book.session, a) == [(10, 5, 0), (20, 0, 0), (30, 0, 0), (40, 40, 0)]
    assert await posted(book.session, a) == 45
    await assert_verified(book.session)


async def test_balance_never_counts_an_expired_lot(book: Book) -> None:
    clock.freeze(T0)
    a = await book.user("PROMO")
    await book.fund(a, 70, lot_expires_at=T0 + dt.timedelta(days=1))
    await book.fund(a, 50)
    clock.advance(dt.timedelta(days=2))
    bal = await service.balance(book.session, a.id)
    assert (bal.posted, bal.held, bal.available) == (50, 0, 50)
    assert await raw_balance(book.session, a) == 120  # not yet swept
    await refused(book.session, errors.InsufficientFunds, lambda: service.transfer(
        book.session, move(a, book.promo_issuance, 51)))
    await refused(book.session, errors.InsufficientFunds,
                  lambda: service.place_hold(book.session, hold_in(a, 51)))
    await service.transfer(book.session, move(a, book.promo_issuance, 50))
    assert await posted(book.session, a) == 0
    await assert_verified(book.session)


async def test_expire_lots_moves_what_is_left_to_breakage(book: Book) -> None:
    clock.freeze(T0)
    a = await book.user("PROMO")
    await book.fund(a, 100, lot_expires_at=T0 + dt.timedelta(days=1))
    await book.fund(a, 50)
    await service.transfer(book.session, move(a, book.promo_issuance, 30))
    clock.advance(dt.timedelta(days=2))
    assert await service.expire_lots(book.session) == 1
    breakage = await service.platform_account(book.session, "PROMO", "breakage")
    assert await posted(book.session, breakage) == 70
    assert await posted(book.session, a) == 50
    assert await raw_balance(book.session, a) == 50
    assert await lots(book.session, a) == [(100, 0, 0), (50, 50, 0)]
    page = await service.history(book.session, a.id, kind="expire")
    [entry] = page.entries
    assert (entry.amount, entry.counterparty_account_id, entry.balance_after) == (
        -70, breakage.id, 50)
    assert entry.reference_type == "ledger_lot"
    # Sweeping again finds nothing left to move.
    before = await snapshot(book.session)
    assert await service.expire_lots(book.session) == 0
    assert await snapshot(book.session) == before
    await assert_verified(book.session)


async def test_frozen_account_still_has_its_lots_swept(book: Book) -> None:
    clock.freeze(T0)
    a = await book.user("PROMO")
    await book.fund(a, 40, lot_expires_at=T0 + dt.timedelta(days=1))
    await service.freeze(book.session, a.id, "review")
    clock.advance(dt.timedelta(days=2))
    assert await service.expire_lots(book.session) == 1
    assert await raw_balance(book.session, a) == 0
    await assert_verified(book.session)


async def test_pending_hold_keeps_its_lots_from_the_sweep(book: Book) -> None:
    clock.freeze(T0)
    a = await book.user("PROMO")
    shop = await merchant(book.session, "PROMO")
    await book.fund(a, 100, lot_expires_at=T0 + dt.timedelta(days=1))
    hold = await service.place_hold(book.session, hold_in(a, 60, dt.timedelta(days=10)))
    assert await lots(book.session, a) == [(100, 100, 60)]
    clock.advance(dt.timedelta(days=2))
    assert await service.expire_lots(book.session) == 1
    assert await lots(book.session, a) == [(100, 60, 60)]
    bal = await service.balance(book.session, a.id)
    assert (bal.posted, bal.held, bal.available) == (60, 60, 0)
    # The lot has expired, but what the hold reserved is still there to capture.
    done = await service.capture(book.session, hold.id, CaptureIn(credit_account_id=shop.id))
    assert done.transfer.amount == 60
    assert await lots(book.session, a) == [(100, 0, 0)]
    assert await raw_balance(book.session, a) == 0
    assert await posted(book.session, shop) == 60
    await assert_verified(book.session)


async def test_partial_capture_after_the_lot_expired_leaves_the_rest_to_sweep(
        book: Book) -> None:
    clock.freeze(T0)
    a = await book.user("PROMO")
    shop = await merchant(book.session, "PROMO")
    await book.fund(a, 100, lot_expires_at=T0 + dt.timedelta(days=1))
    hold = await service.place_hold(book.session, hold_in(a, 60, dt.timedelta(days=10)))
    clock.advance(dt.timedelta(days=2))
    await service.expire_lots(book.session)
    await service.capture(book.session, hold.id, CaptureIn(credit_account_id=shop.id, amount=45))
    bal = await service.balance(book.session, a.id)
    assert (bal.posted, bal.held) == (0, 0)
    assert await service.expire_lots(book.session) == 1
    breakage = await service.platform_account(book.session, "PROMO", "breakage")
    assert await posted(book.session, breakage) == 55
    assert await raw_balance(book.session, a) == 0
    await assert_verified(book.session)


async def test_released_hold_gives_its_lots_back_to_the_sweep(book: Book) -> None:
    clock.freeze(T0)
    a = await book.user("PROMO")
    await book.fund(a, 100, lot_expires_at=T0 + dt.timedelta(days=1))
    hold = await service.place_hold(book.session, hold_in(a, 60, dt.timedelta(days=10)))
    clock.advance(dt.timedelta(days=2))
    await service.expire_lots(book.session)
    await service.release(book.session, hold.id)
    assert await posted(book.session, a) == 0
    assert await service.expire_lots(book.session) == 1
    assert await raw_balance(book.session, a) == 0
    await assert_verified(book.session)


# -- limits -------------------------------------------------------------------------------

async def test_daily_and_monthly_spend_limits(book: Book) -> None:
    clock.freeze(T0)
    a, shop = await book.user(), await merchant(book.session)
    limited = await service.set_limits(book.session, a.id, daily=100, monthly=250)
    assert (limited.daily_limit, limited.monthly_limit) == (100, 250)
    # Earning is not spending: 1000 coins in leave the whole daily limit to spend.
    await book.fund(a, 1000)
    await service.transfer(book.session, move(a, shop, 60))
    await service.transfer(book.session, move(a, shop, 40))
    await refused(book.session, errors.LimitExceeded,
                  lambda: service.transfer(book.session, move(a, shop, 1)))
    # Nor does an earn give back what was spent today.
    await book.fund(a, 500)
    await refused(book.session, errors.LimitExceeded,
                  lambda: service.transfer(book.session, move(a, shop, 1)))
    clock.advance(dt.timedelta(days=1))
    await service.transfer(book.session, move(a, shop, 100))
    clock.advance(dt.timedelta(days=1))
    await refused(book.session, errors.LimitExceeded,  # 200 + 60 > 250 this month
                  lambda: service.transfer(book.session, move(a, shop, 60)))
    await service.transfer(book.session, move(a, shop, 50))
    clock.freeze(dt.datetime(2030, 2, 1, 0, 0, tzinfo=dt.UTC))  # a new month
    await service.transfer(book.session, move(a, shop, 100))
    assert await posted(book.session, a) == 1500 - 350
    await assert_verified(book.session)


async def test_every_outflow_of_a_limited_account_counts_whatever_its_kind(book: Book) -> None:
    # The kind is the client's word; a limit on what leaves an account must not depend on it.
    funding, user = await merchant(book.session), await book.user()
    await book.fund(funding, 1000)
    await service.set_limits(book.session, funding.id, daily=10, monthly=None)
    await refused(book.session, errors.LimitExceeded,
                  lambda: service.transfer(book.session, move(funding, user, 500, kind="earn")))
    await service.transfer(book.session, move(funding, user, 10, kind="earn"))
    await refused(book.session, errors.LimitExceeded,
                  lambda: service.transfer(book.session, move(funding, user, 1, kind="bonus")))
    assert await posted(book.session, user) == 10
    await assert_verified(book.session)


async def test_spend_limit_counts_captures_and_batches(book: Book) -> None:
    clock.freeze(T0)
    a, shop = await book.user(), await merchant(book.session)
    await book.fund(a, 1000)
    await service.set_limits(book.session, a.id, daily=100, monthly=None)
    hold = await service.place_hold(book.session, hold_in(a, 80))
    await service.capture(book.session, hold.id, CaptureIn(credit_account_id=shop.id))
    await refused(book.session, errors.LimitExceeded, lambda: service.post(
        book.session, [move(a, shop, 10), move(a, shop, 11)]))
    await service.post(book.session, [move(a, shop, 10), move(a, shop, 10)])
    assert await posted(book.session, a) == 900
    unlimited = await service.set_limits(book.session, a.id, daily=None, monthly=None)
    assert (unlimited.daily_limit, unlimited.monthly_limit) == (None, None)
    await service.transfer(book.session, move(a, shop, 500))
    await assert_verified(book.session)


# -- reads --------------------------------------------------------------------------------

async def test_balance_reports_posted_held_available_and_expiring_soon(book: Book) -> None:
    clock.freeze(T0)
    a = await book.user("PROMO")
    await book.fund(a, 40, lot_expires_at=T0 + dt.timedelta(days=3))
    await book.fund(a, 60)
    await service.place_hold(book.session, hold_in(a, 25))
    bal = await service.balance(book.session, a.id)
    assert (bal.asset_code, bal.posted, bal.held, bal.available) == ("PROMO", 100, 25, 75)
    assert bal.expiring_soon == 40
    assert bal.expiring_before == T0 + service.EXPIRING_SOON
    coins = await book.user()
    await book.fund(coins, 10)
    plain = await service.balance(book.session, coins.id)
    assert (plain.posted, plain.held, plain.available, plain.expiring_soon) == (10, 0, 10, 0)
    assert plain.expiring_before is None
    await assert_verified(book.session)


async def test_history_pages_newest_first_without_gaps_or_repeats(book: Book) -> None:
    a, b = await book.user(), await book.user()
    await book.fund(a, 1000)
    for i in range(22):
        await service.transfer(book.session, move(a, b, i + 1) if i % 3 else
                               move(book.issuance, a, 5, kind="earn"))
    expected = await book.session.scalars(text(
        "SELECT seq FROM ledger_transfers WHERE :a IN (debit_account_id, credit_account_id)"
        " ORDER BY seq DESC"), {"a": a.id})
    expected_seqs = list(expected)
    seen: list[int] = []
    entries: list[EntryOut] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await service.history(book.session, a.id, limit=5, cursor=cursor)
        pages += 1
        entries.extend(page.entries)
        seen.extend(e.seq for e in page.entries)
        if page.next_cursor is None:
            break
        assert len(page.entries) == 5
        cursor = page.next_cursor
    assert seen == expected_seqs
    assert pages >= 5
    # Newest first: each entry's balance follows from the one before it in time.
    for newer, older in zip(entries, entries[1:]):
        assert newer.balance_after - newer.amount == older.balance_after
    assert entries[0].balance_after == await posted(book.session, a)
    assert entries[-1].amount == 1000
    await assert_verified(book.session)


async def test_history_filters_by_kind_reference_and_time(book: Book) -> None:
    clock.freeze(T0)
    a, shop = await book.user(), await merchant(book.session)
    await book.fund(a, 100, reference_type="order", reference_id="ORD-1")
    clock.advance(dt.timedelta(hours=1))
    await service.transfer(book.session, move(a, shop, 10, reference_type="order",
                                              reference_id="ORD-2"))
    clock.advance(dt.timedelta(hours=1))
    await service.transfer(book.session, move(a, shop, 20, reference_type="order",
                                              reference_id="ORD-3"))
    clock.advance(dt.timedelta(hours=1))
    await book.fund(a, 5, reference_type="referral", reference_id="ORD-3")

    async def amounts(**filters: Any) -> list[int]:
        page = await service.history(book.session, a.id, **filters)
        return [e.amount for e in page.entries]

    assert await amounts() == [5, -20, -10, 100]
    assert await amounts(kind="spend") == [-20, -10]
    assert await amounts(kind="earn") == [5, 100]
    assert await amounts(reference_type="order") == [-20, -10, 100]
    assert await amounts(reference_type="order", reference_id="ORD-3") == [-20]
    assert await amounts(reference_id="ORD-3") == [5, -20]
    hour = dt.timedelta(hours=1)
    assert await amounts(since=T0 + hour) == [5, -20, -10]
    assert await amounts(until=T0 + hour) == [100]
    assert await amounts(since=T0 + hour, until=T0 + 3 * hour) == [-20, -10]
    assert await amounts(kind="spend", since=T0 + 2 * hour) == [-20]
    assert await amounts(kind="nothing") == []
    await assert_verified(book.session)


@pytest.mark.parametrize("cursor", ["abc", "-1", "", "1.5", "²"])
async def test_history_refuses_a_malformed_cursor(book: Book, cursor: str) -> None:
    a = await book.user()
    await book.fund(a, 10)
    error = await refused(book.session, InvalidInput,
                          lambda: service.history(book.session, a.id, cursor=cursor))
    assert error.field == "cursor"


@pytest.mark.parametrize("limit", [0, 501])
async def test_history_refuses_a_limit_out_of_range(book: Book, limit: int) -> None:
    a = await book.user()
    error = await refused(book.session, InvalidInput,
                          lambda: service.history(book.session, a.id, limit=limit))
    assert error.field == "limit"


async def test_balance_at_a_past_time_is_what_balance_said_then(book: Book) -> None:
    clock.freeze(T0)
    a, b = await book.user(), await book.user()
    earn_b = await service.transfer(book.session, move(book.issuance, b, 1, kind="earn"))
    steps: list[Callable[[], Awaitable[object]]] = [
        lambda: book.fund(a, 100),
        lambda: service.transfer(book.session, move(a, b, 30)),
        lambda: book.fund(a, 50),
        lambda: service.post(book.session, [move(a, b, 20),
                                            move(book.issuance, a, 7, kind="earn")]),
        lambda: service.reverse(book.session, earn_b.id, reason="undo"),
    ]
    seen: list[tuple[dt.datetime, int, int]] = []
    for step in steps:
        clock.advance(dt.timedelta(minutes=10))
        await step()
        seen.append((clock.now(), await posted(book.session, a),
                     await posted(book.session, book.issuance)))
    clock.advance(dt.timedelta(days=1))
    assert await service.balance_at(book.session, a.id, T0) == 0
    assert await service.balance_at(book.session, book.issuance.id, T0) == -1
    for at, balance_a, balance_issuance in seen:
        assert await service.balance_at(book.session, a.id, at) == balance_a
        later = at + dt.timedelta(minutes=5)
        assert await service.balance_at(book.session, a.id, later) == balance_a
        assert await service.balance_at(book.session, book.issuance.id, at) == balance_issuance
    assert [s[1] for s in seen] == [100, 70, 120, 107, 107]
    await assert_verified(book.session)


async def test_balance_at_does_not_count_a_lot_that_had_expired(book: Book) -> None:
    clock.freeze(T0)
    a = await book.user("PROMO")
    await book.fund(a, 70, lot_expires_at=T0 + dt.timedelta(days=1))
    await book.fund(a, 30)
    clock.advance(dt.timedelta(days=2))
    then = clock.now()
    # At `then` the 70 had expired but was not yet swept: balance said 30, not 100.
    assert await posted(book.session, a) == 30
    clock.advance(dt.timedelta(hours=1))
    await service.expire_lots(book.session)
    assert await service.balance_at(book.session, a.id, then) == 30
    assert await service.balance_at(book.session, a.id, clock.now()) == 30
