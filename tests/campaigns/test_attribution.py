"""Attribution: an order paid or completed, or an offer redeemed, within the campaign's
window after a message reached the user is a conversion of the user's variant, once per
user per campaign; before the send, after the window, or for a suppressed send it is not.
Results add them up per variant with revenue per currency."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.campaigns import service
from gullak.campaigns.models import Conversion, Recipient
from gullak.campaigns.schemas import VariantIn
from gullak.kit import clock, events
from gullak.kit.events import Event
from gullak.kit.ids import uuid7
from tests.campaigns.support import make_segment, make_template, make_user, sending_campaign

START = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def order_event(user_id: uuid.UUID, to_status: str = "paid", total: int = 25_000,
                refunded: int = 0, **extra: Any) -> dict[str, Any]:
    return {"order_id": str(uuid7()), "user_id": str(user_id), "merchant_id": str(uuid7()),
            "number": "ORD-TEST", "kind": "purchase", "outlet_id": None, "total": total,
            "refunded": refunded, "currency": "INR", "from_status": "awaiting_payment",
            "to_status": to_status, "actor_type": "system", "actor_id": None, "reason": None,
            **extra}


def redeemed(user_id: uuid.UUID) -> dict[str, Any]:
    return {"user_id": str(user_id), "offer_id": str(uuid7()), "merchant_id": str(uuid7()),
            "redemption_id": str(uuid7())}


async def _sent(session: AsyncSession, n: int, *, days: int = 7,
                variants: list[VariantIn] | None = None,
                channels: tuple[str, ...] = ("inbox",)) -> tuple[uuid.UUID, list[uuid.UUID]]:
    clock.freeze(START)
    city = f"Attr{uuid.uuid4().hex[:6]}"
    users = [await make_user(session, city=city) for _ in range(n)]
    campaign = await sending_campaign(session, await make_segment(
        session, [{"type": "city", "city": city}]), await make_template(session,
                                                                        channels=channels),
        channel=channels[0],
        attribution_days=days, variants=variants)
    assert (await service.send_batch(session, campaign, chunk=1000)).finished
    return campaign, users


async def conversions(session: AsyncSession, campaign: uuid.UUID) -> dict[uuid.UUID, Conversion]:
    return {c.user_id: c for c in await session.scalars(
        select(Conversion).where(Conversion.campaign_id == campaign))}


async def test_within_the_window_once_per_user(session: AsyncSession) -> None:
    campaign, (a, b, c) = await _sent(session, 3, days=7)
    clock.advance(2 * DAY)
    first = order_event(a, total=25_000, refunded=5_000)
    await events.publish(session, "order.status_changed", first)
    # The same user again, another order, and its completion: the first conversion stays.
    await events.publish(session, "order.status_changed", order_event(a, total=99_000))
    await events.publish(session, "order.status_changed", {**first, "to_status": "completed",
                                                           "from_status": "paid"})
    await events.publish(session, "offer.redeemed", redeemed(b))
    # Not a conversion: a status that is not a payment.
    await events.publish(session, "order.status_changed", order_event(c, to_status="cancelled"))
    found = await conversions(session, campaign)
    assert set(found) == {a, b}
    assert (found[a].source, str(found[a].reference_id), found[a].revenue,
            found[a].currency) == ("order", first["order_id"], 20_000, "INR")
    assert (found[b].source, found[b].revenue) == ("offer", None)
    assert found[a].converted_at == START + 2 * DAY


async def test_outside_the_window_nothing(session: AsyncSession) -> None:
    campaign, (a, b) = await _sent(session, 2, days=3)
    clock.advance(3 * DAY)  # the last instant of the window
    await events.publish(session, "order.status_changed", order_event(a))
    clock.advance(dt.timedelta(seconds=1))
    await events.publish(session, "order.status_changed", order_event(b))
    await events.publish(session, "offer.redeemed", redeemed(b))
    assert set(await conversions(session, campaign)) == {a}


async def test_before_the_send_and_for_others_nothing(session: AsyncSession) -> None:
    clock.freeze(START)
    stranger = await make_user(session)
    await events.publish(session, "order.status_changed", order_event(stranger))
    campaign, (a,) = await _sent(session, 1)
    await events.publish(session, "order.status_changed", order_event(stranger))
    # Malformed data is ignored, never an error in the publisher's unit of work.
    await service.order_status_changed(session, Event("order.status_changed", {
        "to_status": "paid", "user_id": "not-a-uuid", "order_id": str(uuid7())}))
    await service.order_status_changed(session, Event("order.status_changed", {
        "to_status": "paid", "user_id": str(a), "order_id": str(uuid7()), "total": "12"}))
    await service.offer_redeemed(session, Event("offer.redeemed", {
        "user_id": str(a), "redemption_id": None}))
    found = await conversions(session, campaign)
    assert list(found) == [a] and found[a].revenue is None  # a total that is not an integer
    await session.execute(delete(Conversion).where(Conversion.campaign_id == campaign))
    assert await conversions(session, campaign) == {}


async def test_a_suppressed_send_converts_nobody(session: AsyncSession) -> None:
    clock.freeze(START)
    city = f"Supp{uuid.uuid4().hex[:6]}"
    silent = await make_user(session, city=city, phone=False)
    campaign = await sending_campaign(session, await make_segment(
        session, [{"type": "city", "city": city}]), await make_template(session,
                                                                        channels=("sms",)),
        channel="sms")
    assert (await service.send_batch(session, campaign, chunk=10)).suppressed == 1
    clock.advance(DAY)
    await events.publish(session, "order.status_changed", order_event(silent))
    assert await conversions(session, campaign) == {}


async def test_results_per_variant(session: AsyncSession) -> None:
    campaign, users = await _sent(session, 40, variants=[VariantIn(code="A", percent=50),
                                                         VariantIn(code="B", percent=50)])
    variant = {r.user_id: r.variant for r in await session.scalars(
        select(Recipient).where(Recipient.campaign_id == campaign))}
    clock.advance(DAY)
    expected: dict[str, dict[str, int]] = {"A": {"n": 0, "orders": 0, "revenue": 0},
                                           "B": {"n": 0, "orders": 0, "revenue": 0}}
    for i, user in enumerate(users[:15]):
        total = 1_000 * (i + 1)
        if i % 3 == 0:
            await events.publish(session, "offer.redeemed", redeemed(user))
        else:
            await events.publish(session, "order.status_changed", order_event(user, total=total))
            expected[variant[user]]["orders"] += 1
            expected[variant[user]]["revenue"] += total
        expected[variant[user]]["n"] += 1
    out = await service.results(session, campaign)
    assert [v.variant for v in out.variants] == ["A", "B"]
    for v in out.variants:
        assert v.recipients == v.delivered == sum(1 for x in variant.values() if x == v.variant)
        assert v.suppressed == 0
        assert v.conversions == expected[v.variant]["n"]
        assert v.conversion_rate == round(v.conversions / v.delivered, 4)
        # Offers carry no revenue; orders' totals add up per currency.
        want = expected[v.variant]
        assert v.revenue == ({"INR": want["revenue"]} if want["orders"] else {})
    assert sum(v.recipients for v in out.variants) == 40
