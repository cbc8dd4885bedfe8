"""Tiers through the service with a moved clock: up at once when spending crosses a
threshold, down only at the period's end and after the grace, an order told twice counted
once, earned coins from confirmed rewards, and the progress figures."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.events import Event
from gullak.loyalty import service
from gullak.loyalty.schemas import TierPatch
from tests.loyalty.support import GOLD, SILVER, complete_order, count

pytestmark = pytest.mark.usefixtures("ladder")
T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


async def changes(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[str, str]]:
    out = await service.user_loyalty(session, user_id)
    return [(c.to_tier, c.reason) for c in reversed(out.history)]


async def test_upgrade_at_once_when_spending_crosses_a_threshold(session: AsyncSession) -> None:
    clock.freeze(T0)
    user = uuid.uuid4()
    assert (await service.tier_of(session, user)).code == "basic"
    await complete_order(session, user, 59_999)
    assert (await service.tier_of(session, user)).code == "basic"
    assert await count(session, "user_loyalty", "user_id = :u", u=user) == 0  # no row needed
    # Refunded parts do not count: 50,000 - 10,000 leaves the user short.
    await complete_order(session, user, 50_000, refunded=10_000)
    assert (await service.tier_of(session, user)).code == "basic"
    await complete_order(session, user, 1)
    tier = await service.tier_of(session, user)
    assert (tier.code, tier.rank, tier.multiplier_bp) == ("silver", 1, 12_500)
    mine = await service.my_tier(session, user)
    assert mine.period_end == T0 + 30 * DAY and mine.since == T0
    # Straight past silver into gold in one order.
    await complete_order(session, user, GOLD)
    assert (await service.tier_of(session, user)).code == "gold"
    assert await changes(session, user) == [("silver", "upgrade"), ("gold", "upgrade")]
    # Orders that are not completed purchases count for nothing.
    other = uuid.uuid4()
    await complete_order(session, other, GOLD, to_status="ready")
    assert await service.figure(session, other, "spent", 30) == 0


async def test_an_order_told_twice_counts_once(session: AsyncSession) -> None:
    clock.freeze(T0)
    user = uuid.uuid4()
    order = await complete_order(session, user, 70_000)
    await complete_order(session, user, 70_000, order_id=order)
    assert await service.figure(session, user, "spent", 30) == 70_000
    assert (await service.tier_of(session, user)).code == "basic"
    unlocked = await service.report(session, user, "spent", 70_000, reference=f"order:{order}")
    assert unlocked == [] and await service.figure(session, user, "spent", 30) == 70_000


async def test_downgrade_only_at_period_end_after_grace(session: AsyncSession) -> None:
    clock.freeze(T0)
    user = uuid.uuid4()
    await complete_order(session, user, SILVER)
    assert (await service.tier_of(session, user)).code == "silver"

    # A day before the period ends: the spending has not left the window, nothing to do.
    clock.freeze(T0 + 29 * DAY)
    assert await service.review(session) == 0
    # The period ends; the spending is out of the window: grace, still silver.
    clock.freeze(T0 + 30 * DAY + dt.timedelta(minutes=1))
    assert await service.figure(session, user, "spent", 30) == 0
    assert await service.review(session) == 1
    mine = await service.my_tier(session, user)
    assert (mine.code, mine.grace_until) == ("silver", clock.now() + 5 * DAY)
    # During the grace the review leaves the user alone.
    clock.advance(4 * DAY)
    assert await service.review(session) == 0
    assert (await service.tier_of(session, user)).code == "silver"
    # Past the grace, still short: down to basic, once.
    clock.advance(DAY + dt.timedelta(minutes=1))
    assert await service.review(session) == 1
    assert (await service.tier_of(session, user)).code == "basic"
    assert await service.review(session) == 0
    assert await changes(session, user) == [("silver", "upgrade"), ("basic", "period_end")]
    mine = await service.my_tier(session, user)
    assert (mine.period_end, mine.grace_until, mine.next and mine.next.code) == (
        None, None, "silver")


async def test_qualifying_again_keeps_the_tier(session: AsyncSession) -> None:
    clock.freeze(T0)
    kept, renewed = uuid.uuid4(), uuid.uuid4()
    await complete_order(session, kept, SILVER)
    await complete_order(session, renewed, SILVER)
    # `renewed` spends again late in the period: at its end they still qualify.
    clock.freeze(T0 + 20 * DAY)
    await complete_order(session, renewed, SILVER)
    clock.freeze(T0 + 31 * DAY)
    assert await service.review(session) == 2
    assert (await service.my_tier(session, renewed)).period_end == T0 + 61 * DAY
    assert (await service.my_tier(session, kept)).grace_until is not None
    # `kept` spends during the grace: the tier holds for a fresh period, no change recorded.
    clock.advance(2 * DAY)
    await complete_order(session, kept, SILVER)
    mine = await service.my_tier(session, kept)
    assert (mine.code, mine.grace_until, mine.period_end) == (
        "silver", None, clock.now() + 30 * DAY)
    assert await changes(session, kept) == [("silver", "upgrade")]


async def test_progress_figures(session: AsyncSession) -> None:
    clock.freeze(T0)
    user = uuid.uuid4()
    await complete_order(session, user, 30_000)
    mine = await service.my_tier(session, user)
    assert (mine.code, mine.value, mine.multiplier_bp) == ("basic", 30_000, 10_000)
    assert mine.next is not None
    assert (mine.next.code, mine.next.value, mine.next.left) == ("silver", 30_000, 70_000)
    await complete_order(session, user, 80_000)
    mine = await service.my_tier(session, user)
    assert (mine.code, mine.value, mine.benefits) == ("silver", 110_000, ["1.25x coins"])
    assert mine.next is not None and (mine.next.code, mine.next.left) == ("gold", 390_000)
    await complete_order(session, user, 400_000)
    assert (await service.my_tier(session, user)).next is None


async def test_earned_tiers_count_confirmed_rewards(session: AsyncSession) -> None:
    await service.update_tier(session, "silver", TierPatch(threshold=500), None)
    # A tier's metric is fixed once created: this ladder's silver is edited in place.
    await session.execute(text("UPDATE loyalty_tiers SET metric = 'earned' WHERE code = 'silver'"))
    clock.freeze(T0)
    user = uuid.uuid4()
    confirmed = {"reward_id": str(uuid.uuid4()), "user_id": str(user), "asset_code": "REZ",
                 "amount": 300, "rule_id": str(uuid.uuid4()), "reference_type": "order",
                 "reference_id": str(uuid.uuid4())}
    await service.reward_confirmed(session, Event("reward.confirmed", confirmed))
    await service.reward_confirmed(session, Event("reward.confirmed", confirmed))  # told twice
    assert await service.figure(session, user, "earned", 30) == 300
    await service.reward_confirmed(session, Event("reward.confirmed", {
        **confirmed, "reward_id": str(uuid.uuid4())}))
    assert (await service.tier_of(session, user)).code == "silver"


async def test_tier_of_without_tiers_is_the_lowest(session: AsyncSession) -> None:
    await session.execute(text("DELETE FROM loyalty_tiers"))
    tier = await service.tier_of(session, uuid.uuid4())
    assert (tier.code, tier.rank, tier.multiplier_bp) == ("basic", 0, 10_000)
    mine = await service.my_tier(session, uuid.uuid4())
    assert (mine.code, mine.value, mine.next) == ("basic", 0, None)
