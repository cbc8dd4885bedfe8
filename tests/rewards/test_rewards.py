"""Rewards through the services: earning on a completed order (pending through the return
window, then confirmed by the job), triggers other than orders, versions, caps kept in the
database, branded coins whose merchant cannot pay, and refunds taking rewards back, debt
included."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.events import publish
from gullak.kit.ids import uuid7
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountIn, OwnerType, TransferIn
from gullak.offers import service as offers
from gullak.rewards import service
from gullak.rewards.errors import InvalidRule
from gullak.rewards.schemas import RuleIn
from tests.helpers.offers import live_merchant
from tests.rewards.support import (
    ADMIN,
    balances,
    complete_order,
    make_campaign,
    make_rule,
    reasons,
    refund,
)

pytestmark = pytest.mark.usefixtures("assets")
DAY = dt.timedelta(days=1)


async def reward_rows(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[object, ...]]:
    rows = await session.execute(text(
        "SELECT amount, reversed, status FROM rewards WHERE user_id = :u ORDER BY id"),
        {"u": user_id})
    return [tuple(r) for r in rows]


async def test_an_order_earns_pending_coins_confirmed_after_the_return_window(
        session: AsyncSession) -> None:
    clock.freeze(dt.datetime(2026, 12, 9, 9, 0, tzinfo=dt.UTC))
    await make_rule(session, name="5% promo", kind="percent", value=500, asset_code="PROMO",
                    lifetime_days=90)
    user = uuid7()
    order_id = await complete_order(session, user, 50_000, refunded=10_000)
    # 5 % of ₹400.00 eligible (₹500 less ₹100 refunded before completion): 20 coins.
    assert await balances(session, user, "PROMO") == (0, 20)
    holding = next(h for h in await ledger.holdings(session, "user", user)
                   if h.asset_code == "PROMO")
    assert (holding.available, holding.pending) == (0, 20)
    assert await reasons(session, order_id) == {"5% promo": (True, None, 20)}
    clock.advance(6 * DAY)
    assert await service.confirm_due(session) == 0
    clock.advance(DAY)
    assert await service.confirm_due(session) == 1
    assert await balances(session, user, "PROMO") == (20, 0)
    row = (await session.execute(text(
        "SELECT status, confirmed_at, lot_expires_at FROM rewards WHERE user_id = :u"),
        {"u": user})).one()
    assert row.status == "confirmed"
    assert row.lot_expires_at == row.confirmed_at + 90 * DAY
    assert await service.confirm_due(session) == 0  # never twice


async def test_cancelled_orders_and_reward_orders_never_earn(session: AsyncSession) -> None:
    await make_rule(session, name="any order")
    user = uuid7()
    for kind, status in (("purchase", "cancelled"), ("reward", "completed")):
        await publish(session, "order.status_changed", {
            "order_id": str(uuid7()), "user_id": str(user), "merchant_id": str(uuid7()),
            "kind": kind, "total": 1_000, "refunded": 0, "currency": "INR",
            "to_status": status})
    assert await reward_rows(session, user) == []


async def test_triggers_other_than_orders_confirm_at_once(session: AsyncSession) -> None:
    await make_rule(session, name="sign-up bonus", trigger="sign_up", value=100)
    await make_rule(session, name="profile", trigger="profile_completed", value=20)
    await make_rule(session, name="review", trigger="review_written", value=10)
    await make_rule(session, name="badge", trigger="achievement", value=30,
                    conditions={"achievement_codes": ["FIRST_ORDER"]})
    user = uuid7()
    await publish(session, "user.signed_up", {"user_id": str(user), "referred_by_id": None,
                                              "device_id": None, "channel": "app"})
    await publish(session, "user.profile_completed", {"user_id": str(user)})
    await publish(session, "review.written", {"review_id": str(uuid7()), "user_id": str(user),
                                              "merchant_id": str(uuid7()), "order_id": None,
                                              "rating": 5, "verified_purchase": True})
    await publish(session, "achievement.unlocked", {
        "user_id": str(user), "achievement_code": "FIRST_ORDER", "achievement_id": str(uuid7()),
        "user_achievement_id": str(uuid7())})
    await publish(session, "achievement.unlocked", {
        "user_id": str(user), "achievement_code": "STREAK_7", "achievement_id": str(uuid7()),
        "user_achievement_id": str(uuid7())})
    assert await balances(session, user, "REZ") == (160, 0)
    assert sorted(await reward_rows(session, user)) == [
        (10, 0, "confirmed"), (20, 0, "confirmed"), (30, 0, "confirmed"),
        (100, 0, "confirmed")]
    # Signing up again (a replayed event) gives nothing more.
    await publish(session, "user.signed_up", {"user_id": str(user)})
    assert await balances(session, user, "REZ") == (160, 0)


async def test_referral_rewards_through_evaluate(session: AsyncSession) -> None:
    await make_rule(session, name="referrer", trigger="referral", value=100,
                    conditions={"referral_roles": ["referrer"]})
    await make_rule(session, name="referrer 5+", trigger="referral", kind="multiplier",
                    value=10_000, tier_multiplier=True,
                    conditions={"referral_roles": ["referrer"], "min_referrals": 5})
    referrer, ref = uuid7(), str(uuid7())
    given = await service.evaluate(
        session, "referral", referrer,
        {"role": "referrer", "referral_id": ref, "referral_count": 1, "multiplier_bp": 20_000},
        reference_type="referral", reference_id=ref)
    assert [(g.amount, g.status) for g in given] == [(100, "confirmed")]
    assert (await reasons(session, ref))["referrer 5+"] == (False, "referral_count_excluded", 0)


async def test_first_order_and_new_users_from_the_domains_own_counter(
        session: AsyncSession) -> None:
    await make_rule(session, name="first order", trigger="first_order", value=200)
    await make_rule(session, name="returning", value=5, conditions={"customer": "returning"})
    user = uuid7()
    first = await complete_order(session, user)
    second = await complete_order(session, user)
    assert await reasons(session, first) == {"first order": (True, None, 200),
                                             "returning": (False, "not_returning_user", 0)}
    assert await reasons(session, second) == {"first order": (False, "not_first_order", 0),
                                              "returning": (True, None, 5)}


async def test_caps_per_user_hold_across_orders(session: AsyncSession) -> None:
    clock.freeze(dt.datetime(2026, 12, 9, 9, 0, tzinfo=dt.UTC))
    await make_rule(session, name="capped", kind="percent", value=1_000,
                    caps=[{"period": "day", "count": 2}, {"period": "lifetime", "amount": 120}])
    user = uuid7()
    orders = [await complete_order(session, user, 50_000) for _ in range(3)]
    assert [(await reasons(session, o))["capped"] for o in orders] == [
        (True, None, 50), (True, None, 50), (False, "user_cap_reached", 0)]
    clock.advance(DAY)
    again = await complete_order(session, user, 50_000)
    assert (await reasons(session, again))["capped"] == (True, None, 20)  # 120 in a lifetime
    later = await complete_order(session, user, 50_000)
    assert (await reasons(session, later))["capped"] == (False, "user_cap_reached", 0)


async def test_a_paused_rule_is_explained_and_pays_nothing(session: AsyncSession) -> None:
    rule = await make_rule(session, name="paused")
    await service.set_rule_status(session, rule.id, "paused", ADMIN)
    user = uuid7()
    order = await complete_order(session, user)
    assert await reasons(session, order) == {"paused": (False, "rule_paused", 0)}
    await service.set_rule_status(session, rule.id, "active", ADMIN)
    assert (await reasons(session, await complete_order(session, user)))["paused"][0]


async def test_a_new_version_never_alters_rewards_already_given(session: AsyncSession) -> None:
    rule = await make_rule(session, name="flat", value=50)
    user = uuid7()
    await complete_order(session, user)
    body = RuleIn.model_validate({"name": "flat", "trigger": "order_completed",
                                  "kind": "fixed", "value": 80, "asset_code": "REZ"})
    v2 = await service.new_version(session, rule.id, body, ADMIN)
    assert (v2.version, v2.value) == (2, 80) and v2.version_id != rule.version_id
    await complete_order(session, user)
    rows = (await session.execute(text(
        "SELECT r.amount, v.version, v.value FROM rewards r JOIN reward_rule_versions v"
        " ON v.id = r.rule_version_id WHERE r.user_id = :u ORDER BY r.id"), {"u": user})).all()
    assert [tuple(r) for r in rows] == [(50, 1, 50), (80, 2, 80)]


async def test_branded_coins_stop_when_the_merchant_cannot_pay(session: AsyncSession) -> None:
    merchant_id, _ = await live_merchant(session)
    code = await offers.branded_asset(session, merchant_id)
    with pytest.raises(InvalidRule):
        await make_rule(session, asset_code=code, funding="platform")
    campaign = await make_campaign(session, asset_code=code, budget=1_000)
    await make_rule(session, name="branded", asset_code=code, value=50,
                    campaign_id=campaign.id)
    account = await ledger.open_account(session, AccountIn(
        asset_code=code, owner_type=OwnerType.merchant, owner_id=merchant_id))
    issuance = await ledger.platform_account(session, code, "issuance")
    await ledger.transfer(session, TransferIn(
        debit_account_id=issuance.id, credit_account_id=account.id, asset_code=code,
        amount=70, kind="earn", reference_type="test", reference_id="fund"))
    user = uuid7()
    first = await complete_order(session, user, merchant_id=merchant_id)
    second = await complete_order(session, user, merchant_id=merchant_id)
    assert (await reasons(session, first))["branded"] == (True, None, 50)
    assert (await reasons(session, second))["branded"] == (False, "funding_exhausted", 0)
    assert (await ledger.balance(session, account.id)).posted == 20
    assert await balances(session, user, code) == (0, 50)
    # Nothing half-written: one reward, and the campaign spent only what was paid.
    assert len(await reward_rows(session, user)) == 1
    assert (await service.get_campaign(session, campaign.id)).spent == 50


async def test_refunds_take_back_in_proportion_without_drift(session: AsyncSession) -> None:
    await make_rule(session, name="10%", kind="percent", value=1_000)
    user = uuid7()
    order = await complete_order(session, user, 30_000)  # 30 coins
    for _ in range(2):
        await refund(session, order, user, 10_000)
    assert await balances(session, user, "REZ") == (0, 10)  # 10 + 10 taken back
    await refund(session, order, user, 10_000)
    assert await balances(session, user, "REZ") == (0, 0)
    assert await reward_rows(session, user) == [(30, 30, "reversed")]
    clock.advance(8 * DAY)
    assert await service.confirm_due(session) == 0


async def test_odd_shares_round_down_until_the_whole_is_refunded(session: AsyncSession) -> None:
    await make_rule(session, name="fixed", value=10)
    user = uuid7()
    order = await complete_order(session, user, 30_000)
    taken = []
    for _ in range(3):
        await refund(session, order, user, 10_000)
        taken.append((await reward_rows(session, user))[0][1])
    assert taken == [3, 6, 10]


async def test_a_refund_of_spent_coins_leaves_a_debt_settled_from_later_rewards(
        session: AsyncSession) -> None:
    await make_rule(session, name="flat", value=50, hold_days=0)
    user = uuid7()
    order = await complete_order(session, user)
    assert await balances(session, user, "REZ") == (50, 0)
    # The user spends 40 of the 50.
    main = await ledger.user_account(session, user, "REZ")
    shop = await ledger.platform_account(session, "REZ", "breakage")
    await ledger.transfer(session, TransferIn(
        debit_account_id=main.id, credit_account_id=shop.id, asset_code="REZ", amount=40,
        kind="spend", reference_type="test", reference_id="spend"))
    issuance = await ledger.platform_account(session, "REZ", "issuance")
    before = (await ledger.balance(session, issuance.id)).posted
    await refund(session, order, user, 50_000)
    assert await balances(session, user, "REZ") == (0, 0)  # never negative
    debts = await service.list_debts(session, user_id=user)
    assert [(d.amount, d.settled, d.status) for d in debts.items] == [(40, 0, "open")]
    assert (await ledger.balance(session, issuance.id)).posted == before + 10
    # The next reward first pays the debt back to the funder.
    await complete_order(session, user)
    assert await balances(session, user, "REZ") == (10, 0)
    debts = await service.list_debts(session, user_id=user)
    assert [(d.amount, d.settled, d.status) for d in debts.items] == [(40, 40, "settled")]
    # The refund gave back 10, the new reward took 50, and the debt paid back 40.
    assert (await ledger.balance(session, issuance.id)).posted == before + 10 - 50 + 40


async def test_cashback_in_inr_goes_to_the_inr_wallet(session: AsyncSession) -> None:
    await make_rule(session, name="2% cashback", kind="cashback", value=200, asset_code="INR",
                    hold_days=0)
    with pytest.raises(InvalidRule):
        await make_rule(session, kind="cashback", value=200, asset_code="REZ")
    user = uuid7()
    await complete_order(session, user, 50_000)
    assert await balances(session, user, "INR") == (1_000, 0)
