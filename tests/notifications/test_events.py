"""The platform's events notify users: a sign-in from a new device (through the real OTP
sign-in), coins earned, cashback, orders, refunds, withdrawals, tiers, achievements (in a
batch) and coins about to expire; each once, to the right user only."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import clock, events
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.notifications import handlers
from gullak.notifications.models import Notification
from tests.helpers.ledger import make_book
from tests.helpers.users import new_phone, sign_in
from tests.notifications.support import count, make_user


async def _inbox(session: AsyncSession, user_id: uuid.UUID) -> list[Notification]:
    return list(await session.scalars(select(Notification).where(
        Notification.user_id == user_id).order_by(Notification.id)))


async def test_a_sign_in_from_a_new_device_is_announced(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession) -> None:
    phone = new_phone()
    first = await sign_in(client, connection, phone, device={"device_id": "phone-1"})
    user_id = uuid.UUID(first.user["id"])
    assert await _inbox(session, user_id) == []  # signing up is not a new-device alarm
    clock.advance(dt.timedelta(minutes=2))  # past the code's cooldown
    await sign_in(client, connection, phone, device={"device_id": "phone-1"})
    assert await _inbox(session, user_id) == []  # the same device again
    clock.advance(dt.timedelta(minutes=2))
    await sign_in(client, connection, phone, device={"device_id": "tablet-2"})
    [alert] = await _inbox(session, user_id)
    assert (alert.template, alert.category) == ("security.new_sign_in", "transactional")
    assert "IP 127.0.0.1" in alert.body
    r = await client.get("/v1/me/notifications", headers=first.headers)
    assert [i["id"] for i in r.json()["items"]] == [str(alert.id)]


async def test_signed_in_event_data(session: AsyncSession) -> None:
    user = await make_user(session)
    await events.publish(session, "user.signed_in", {
        "user_id": str(user), "device_id": "d", "new_device": False, "ip": None, "city": None})
    assert await _inbox(session, user) == []
    await events.publish(session, "user.signed_in", {
        "user_id": str(user), "device_id": None, "new_device": True, "ip": "10.0.0.9",
        "city": "Pune"})
    [alert] = await _inbox(session, user)
    assert "from Pune" in alert.body


async def test_money_events(session: AsyncSession) -> None:
    user, other = await make_user(session), await make_user(session)
    reward = {"reward_id": str(uuid.uuid4()), "user_id": str(user), "asset_code": "REZ",
              "amount": 150, "rule_id": str(uuid.uuid4()), "reference_type": None,
              "reference_id": None}
    await events.publish(session, "reward.confirmed", reward)
    await events.publish(session, "reward.confirmed", reward)  # delivered twice: one message
    await events.publish(session, "cashback.confirmed", {
        "cashback_id": str(uuid.uuid4()), "user_id": str(user), "amount": 12_550,
        "currency": "INR"})
    await events.publish(session, "order.refunded", {
        "order_id": str(uuid.uuid4()), "user_id": str(user), "amount": 9_900,
        "currency": "INR", "tenders": []})
    withdrawal = {"withdrawal_id": str(uuid.uuid4()), "code": "WD-1", "owner_type": "user",
                  "owner_id": str(user), "asset_code": "INR", "amount": 50_000, "net": 50_000,
                  "status": "paid"}
    await events.publish(session, "withdrawal.paid", withdrawal)
    await events.publish(session, "withdrawal.failed", {**withdrawal, "reason": "x"})
    await events.publish(session, "withdrawal.reversed", {**withdrawal, "reason": "x"})
    # A merchant's settlement payout names a merchant, not a user: nobody is notified.
    await events.publish(session, "withdrawal.paid", {**withdrawal, "owner_type": "merchant",
                                                      "owner_id": str(other)})
    got = [(n.template, n.title, n.body) for n in await _inbox(session, user)]
    assert got == [
        ("rewards.coins_earned", "You earned 150 REZ", "150 REZ was added to your wallet."),
        ("cashback.confirmed", "Cashback confirmed",
         "Your cashback of ₹125.50 is confirmed and in your wallet."),
        ("orders.refunded", "Refund issued", "A refund of ₹99.00 for your order is on its way."),
        ("payouts.withdrawal_paid", "Withdrawal paid",
         "Your withdrawal WD-1 of ₹500.00 has been paid."),
        ("payouts.withdrawal_failed", "Withdrawal failed",
         "Your withdrawal WD-1 of ₹500.00 could not be paid; the money is back in your wallet."),
        ("payouts.withdrawal_reversed", "Withdrawal returned",
         "Your withdrawal WD-1 of ₹500.00 was returned by the bank and is back in your wallet."),
    ]
    assert await _inbox(session, other) == []


async def test_a_bulk_confirmation_is_notified_by_a_job(session: AsyncSession) -> None:
    user, other = await make_user(session), await make_user(session)
    chunk = [{"cashback_id": str(uuid.uuid4()), "user_id": str(u), "amount": amount,
              "currency": "INR"} for u, amount in ((user, 12_550), (other, 300), (user, 0))]
    await events.publish_many(session, "cashback.confirmed", chunk)
    # Nothing sent while settling: one job, enqueued in the same transaction, for the chunk.
    assert await _inbox(session, user) == await _inbox(session, other) == []
    [args] = (await session.scalars(text(
        "SELECT args FROM procrastinate_jobs WHERE task_name = 'notifications.cashbacks'"
        " AND args::text LIKE :user"), {"user": f"%{user}%"})).all()
    confirmed = handlers.unpack_cashbacks(args["packed"])
    assert [c["amount"] for c in confirmed] == [12_550, 300]  # nothing moved: no news
    assert await handlers.notify_cashbacks(session, confirmed) == 2
    assert await handlers.notify_cashbacks(session, confirmed) == 2  # a retry
    [mine], [theirs] = await _inbox(session, user), await _inbox(session, other)
    assert (mine.template, mine.body) == (
        "cashback.confirmed", "Your cashback of ₹125.50 is confirmed and in your wallet.")
    assert theirs.body == "Your cashback of ₹3.00 is confirmed and in your wallet."
    # The analytics record the chunk too, one event each.
    assert await session.scalar(text(
        "SELECT count(*) FROM activity_events WHERE name = 'cashback.confirmed'"
        " AND user_id = ANY(:u)"), {"u": [user, other]}) == 3


async def test_order_and_loyalty_events(session: AsyncSession) -> None:
    user = await make_user(session, language="hi")
    order = {"order_id": str(uuid.uuid4()), "user_id": str(user), "number": "ORD-7",
             "merchant_id": str(uuid.uuid4()), "kind": "delivery", "outlet_id": None,
             "total": 100, "refunded": 0, "currency": "INR", "from_status": "paid",
             "to_status": "shipped", "actor_type": "merchant_user", "actor_id": None,
             "reason": None}
    await events.publish(session, "order.status_changed", order)
    await events.publish(session, "order.status_changed", {**order, "to_status": "paid"})
    await events.publish(session, "order.status_changed", {
        **order, "to_status": "cancelled", "actor_type": "user"})  # their own doing
    await events.publish(session, "loyalty.tier_changed", {
        "user_id": str(user), "from_tier": "silver", "to_tier": "gold", "reason": "spend"})
    await events.publish_many(session, "achievement.unlocked", [
        {"user_id": str(user), "achievement_code": "first_order",
         "achievement_id": str(uuid.uuid4()), "user_achievement_id": str(uuid.uuid4())},
        {"user_id": str(user), "achievement_code": "streak_7",
         "achievement_id": str(uuid.uuid4()), "user_achievement_id": str(uuid.uuid4())}])
    # The unlocks wait for their job, enqueued in the same transaction: the conversion that
    # unlocked them does not notify one by one.
    assert len(await _inbox(session, user)) == 2
    [args] = (await session.scalars(text(
        "SELECT args FROM procrastinate_jobs WHERE task_name = 'notifications.achievements'"
        " AND args::text LIKE :user"), {"user": f"%{user}%"})).all()
    unlocks = handlers.unpack_unlocks(args["packed"])
    assert sorted(u["code"] for u in unlocks) == ["first_order", "streak_7"]
    assert await handlers.notify_achievements(session, unlocks) == 2
    assert await handlers.notify_achievements(session, unlocks) == 2  # a retry
    got = [(n.template, n.locale, n.title) for n in await _inbox(session, user)]
    assert got == [("orders.status_changed", "hi", "ऑर्डर ORD-7: shipped"),
                   ("loyalty.tier_changed", "hi", "अब आप Gold हैं"),
                   ("loyalty.achievement_unlocked", "hi", "उपलब्धि हासिल हुई"),
                   ("loyalty.achievement_unlocked", "hi", "उपलब्धि हासिल हुई")]


async def test_coins_expiring_within_a_week(session: AsyncSession) -> None:
    book = await make_book(session)
    user, later = await make_user(session), await make_user(session)
    now = clock.now()
    for owner, days, amount in ((user, 3, 100), (user, 5, 20), (user, 30, 50), (later, 20, 70)):
        account = await ledger.user_account(session, owner, "PROMO")
        await ledger.transfer(session, TransferIn(
            debit_account_id=book.promo_issuance.id, credit_account_id=account.id,
            asset_code="PROMO", amount=amount, kind="earn",
            lot_expires_at=now + dt.timedelta(days=days)))
    today = now.date()
    assert await handlers.coins_expiring(session, today) == 1
    [warning] = await _inbox(session, user)
    expected = (now + dt.timedelta(days=3)).date().isoformat()
    assert warning.body == f"120 PROMO in your wallet expire on {expected}. Use them before then."
    assert await _inbox(session, later) == []
    await handlers.coins_expiring(session, today)  # the job run twice the same day
    assert await count(session, Notification, user_id=user) == 1


async def test_approving_an_offer_is_announced(session: AsyncSession) -> None:
    from gullak import domains
    from tests.helpers.offers import live_merchant, make_offer

    heard: list[events.Event] = []

    async def listen(session: AsyncSession, event: events.Event) -> None:
        heard.append(event)

    events.install({"offer.approved": [listen]})
    try:
        merchant_id, _ = await live_merchant(session)
        pending = await make_offer(session, merchant_id, status="pending")
        assert heard == []
        live = await make_offer(session, merchant_id, status="active")
    finally:
        domains.install()
    assert [e.data for e in heard] == [
        {"offer_id": str(live.id), "merchant_id": str(merchant_id)}]
    assert pending.id != live.id
