"""Each rule fires on its pattern and not below its threshold, with the score and signals it
explains itself by. Findings below the block threshold are kept in the publisher's
transaction, pending review, and refuse nothing."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock, events
from gullak.offers import service as offers
from gullak.offers.schemas import RedeemIn
from gullak.risk.rules import escalate
from tests.helpers.offers import live_merchant, make_offer
from tests.risk.support import (
    block_of,
    events_of,
    make_user,
    on_device,
    referral,
    signed_in,
    tune,
    withdrawal,
    withdrawal_requested,
)

NEVER = 101  # a block score no finding reaches: the rules are observed without blocking


def test_a_count_scores_half_at_its_threshold_and_all_at_twice() -> None:
    assert [escalate(n, 10) for n in (0, 9, 10, 15, 16, 20, 50)] == [0, 0, 50, 75, 80, 100, 100]


# -- suspicious sign-in -------------------------------------------------------------------------

async def test_a_new_device_in_a_new_city_is_a_finding(session: AsyncSession,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    tune(monkeypatch, risk_sign_in_score=60)
    user = await make_user(session)
    # The first city is learnt, not suspicious; a known city or a known device is not either.
    await events.publish(session, "user.signed_in", signed_in(user, "phone-1", "Pune"))
    await events.publish(session, "user.signed_in", signed_in(user, "phone-2", "Pune"))
    await events.publish(session, "user.signed_in",
                         signed_in(user, "phone-1", "Delhi", new_device=False))
    await events.publish(session, "user.signed_in", signed_in(user, "phone-3", None))
    assert await events_of(session, user) == []
    await events.publish(session, "user.signed_in", signed_in(user, "phone-4", "Kochi"))
    [found] = await events_of(session, user)
    assert (found.rule, found.score, found.status, found.blocked) == (
        "suspicious_sign_in", 60, "pending", False)
    assert found.signals["city"] == "Kochi" and found.signals["device_id"] == "phone-4"
    assert found.signals["known_cities"] == 2  # Pune and Delhi
    assert await block_of(session, user) is None


# -- accounts per device ----------------------------------------------------------------------

async def test_accounts_on_one_device_are_counted_from_the_threshold(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    tune(monkeypatch, risk_device_accounts=3, risk_block_score=NEVER)
    device = f"shared-{uuid.uuid4()}"
    first, second, third = [await make_user(session) for _ in range(3)]
    await on_device(session, device, first)
    # Two accounts (the one registered, the one signing up): below the threshold.
    await events.publish(session, "user.signed_up", {"user_id": str(second),
                                                     "device_id": device})
    assert await events_of(session, second) == []
    await on_device(session, device, second)
    await events.publish(session, "user.signed_up", {"user_id": str(third), "device_id": device})
    [found] = await events_of(session, third)
    assert (found.rule, found.score, found.subject_type, found.subject_id) == (
        "device_accounts", 50, "device", device)
    assert found.signals["accounts"] == 3


async def test_a_sign_in_on_a_known_device_is_not_counted_again(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    tune(monkeypatch, risk_device_accounts=2, risk_block_score=NEVER)
    device = f"shared-{uuid.uuid4()}"
    one, two = await make_user(session), await make_user(session)
    await on_device(session, device, one, two)
    await events.publish(session, "user.signed_in", signed_in(two, device, None,
                                                              new_device=False))
    assert await events_of(session, two) == []
    await events.publish(session, "user.signed_in", signed_in(two, device, None))
    assert [e.rule for e in await events_of(session, two)] == ["device_accounts"]


# -- referral rings ---------------------------------------------------------------------------

async def test_referees_from_one_device_are_a_ring_from_the_threshold(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    tune(monkeypatch, risk_referees_per_device=3, risk_device_accounts=100,
         risk_block_score=NEVER)
    device = f"farm-{uuid.uuid4()}"
    referrer = await make_user(session)
    referees = []
    for _ in range(3):
        referee = await make_user(session, referred_by=referrer)
        await referral(session, referrer, referee, device)
        await events.publish(session, "user.signed_up", {
            "user_id": str(referee), "referred_by_id": str(referrer), "device_id": device})
        referees.append(referee)
    assert await events_of(session, referees[0]) == []
    assert await events_of(session, referees[1]) == []
    [found] = await events_of(session, referees[2])
    assert (found.rule, found.score) == ("referral_ring", 50)
    assert found.signals["referees_on_device"] == 3 and not found.signals["closed_chain"]


async def test_a_chain_that_comes_back_to_its_device_is_a_ring(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    tune(monkeypatch, risk_referees_per_device=100, risk_device_accounts=100,
         risk_block_score=NEVER)
    a, b, c = [await make_user(session) for _ in range(3)]
    device = f"phone-{uuid.uuid4()}"
    await referral(session, a, b, device)
    await referral(session, b, c, f"other-{uuid.uuid4()}")
    await events.publish(session, "user.signed_up", {
        "user_id": str(c), "referred_by_id": str(b), "device_id": "x"})
    assert await events_of(session, c) == []  # a chain on different devices is fine
    d = await make_user(session)
    await referral(session, c, d, device)  # d signs up on the phone that made b
    await events.publish(session, "user.signed_up", {
        "user_id": str(d), "referred_by_id": str(c), "device_id": device})
    [found] = await events_of(session, d)
    assert (found.rule, found.score, found.signals["closed_chain"]) == (
        "referral_ring", 100, True)
    assert found.signals["chain"][:2] == [str(c), str(b)]


# -- redemptions ------------------------------------------------------------------------------

async def test_a_burst_of_redemptions_is_one_finding_raised_as_it_grows(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    tune(monkeypatch, risk_redemptions_per_window=3, risk_redemption_window_minutes=10,
         risk_block_score=NEVER)
    merchant, _ = await live_merchant(session)
    offer = await make_offer(session, merchant, per_user_limit=None)
    user = uuid.uuid4()
    for _ in range(2):
        await offers.redeem(session, offer.id, user, RedeemIn(amount=10_000))
    assert await events_of(session, user) == []
    await offers.redeem(session, offer.id, user, RedeemIn(amount=10_000))
    [found] = await events_of(session, user)
    assert (found.rule, found.score, found.signals["redemptions"]) == (
        "redemption_velocity", 50, 3)
    await offers.redeem(session, offer.id, user, RedeemIn(amount=10_000))
    [raised] = await events_of(session, user)  # the same row, its score raised
    assert (raised.id, raised.score, raised.signals["redemptions"]) == (found.id, 66, 4)


async def test_redemptions_outside_the_window_do_not_count(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    tune(monkeypatch, risk_redemptions_per_window=2, risk_redemption_window_minutes=10,
         risk_block_score=NEVER)
    merchant, _ = await live_merchant(session)
    offer = await make_offer(session, merchant, per_user_limit=None)
    user = uuid.uuid4()
    start = clock.now()
    clock.freeze(start - dt.timedelta(minutes=11))
    await offers.redeem(session, offer.id, user, RedeemIn(amount=10_000))
    clock.freeze(start)
    await offers.redeem(session, offer.id, user, RedeemIn(amount=10_000))
    assert await events_of(session, user) == []


# -- withdrawals ------------------------------------------------------------------------------

async def test_a_withdrawal_far_above_the_usual_is_a_finding(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    tune(monkeypatch, risk_withdrawal_multiple=5, risk_withdrawal_history=3,
         risk_withdrawals_per_window=100, risk_block_score=NEVER)
    user = await make_user(session)
    old = clock.now() - dt.timedelta(days=40)
    for amount in (10_000, 12_000, 8_000):
        await withdrawal(session, user, amount, at=old)
    usual = 10_000  # the median
    just_below = await withdrawal(session, user, 5 * usual - 1)
    await events.publish(session, "withdrawal.requested",
                         withdrawal_requested(user, just_below, 5 * usual - 1))
    assert await events_of(session, user) == []
    big = await withdrawal(session, user, 8 * usual)
    await events.publish(session, "withdrawal.requested",
                         withdrawal_requested(user, big, 8 * usual))
    [found] = await events_of(session, user)
    # The usual now counts the one just below too: the median of 8, 10, 12 and 49.999
    # thousand is 11,000, and 80,000 is 7.2 times it: 50 at five times, 100 at ten.
    assert (found.rule, found.score, found.subject_id) == ("withdrawal_amount", 72, str(big))
    assert (found.signals["usual"], found.signals["amount"]) == (11_000, 8 * usual)


async def test_a_withdrawal_without_history_has_no_usual(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    tune(monkeypatch, risk_withdrawal_history=3, risk_block_score=NEVER)
    user = await make_user(session)
    await withdrawal(session, user, 100, at=clock.now() - dt.timedelta(days=40))
    first = await withdrawal(session, user, 10_000_000)
    await events.publish(session, "withdrawal.requested",
                         withdrawal_requested(user, first, 10_000_000))
    assert await events_of(session, user) == []


async def test_many_withdrawals_in_the_window_are_a_finding(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    tune(monkeypatch, risk_withdrawals_per_window=3, risk_withdrawal_window_hours=24,
         risk_block_score=NEVER)
    user = await make_user(session)
    await withdrawal(session, user, 1_000, at=clock.now() - dt.timedelta(hours=25))
    for _ in range(2):
        inside = await withdrawal(session, user, 1_000)
        await events.publish(session, "withdrawal.requested",
                             withdrawal_requested(user, inside, 1_000))
    assert await events_of(session, user) == []  # two in the window, one before it
    third = await withdrawal(session, user, 1_000)
    await events.publish(session, "withdrawal.requested",
                         withdrawal_requested(user, third, 1_000))
    [found] = await events_of(session, user)
    assert (found.rule, found.score, found.signals["withdrawals"]) == (
        "withdrawal_velocity", 50, 3)


async def test_a_merchant_settlement_is_not_scored(session: AsyncSession,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    tune(monkeypatch, risk_withdrawals_per_window=1, risk_block_score=NEVER)
    merchant = uuid.uuid4()
    await events.publish(session, "withdrawal.requested", {
        "withdrawal_id": str(uuid.uuid4()), "owner_type": "merchant", "owner_id": str(merchant),
        "purpose": "settlement", "asset_code": "INR", "amount": 10**9})
    assert await events_of(session, merchant) == []
