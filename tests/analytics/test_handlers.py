"""The domains' events are recorded in the publisher's unit of work, one row each, with the
amount worth summing and only the catalogue's properties (no address, no free text)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.analytics.ingest import server_row
from gullak.kit import clock
from gullak.kit.events import publish, publish_many
from gullak.kit.ids import uuid7
from tests.analytics.support import stored


async def test_a_domain_event_is_one_row(session: AsyncSession) -> None:
    me, order, merchant = uuid7(), uuid7(), uuid7()
    await publish(session, "order.status_changed", {
        "order_id": str(order), "user_id": str(me), "merchant_id": str(merchant),
        "number": "ORD-1", "kind": "purchase", "outlet_id": None, "total": 45_000,
        "refunded": 0, "currency": "INR", "from_status": "awaiting_payment",
        "to_status": "paid", "actor_type": "system", "actor_id": None, "reason": "secret"})
    await publish(session, "user.signed_in", {"user_id": str(me), "device_id": "d-1",
                                              "new_device": True, "ip": "10.9.9.9",
                                              "city": "Pune"})
    rows = await stored(session, me)
    assert [r["name"] for r in rows] == ["order.status_changed", "user.signed_in"]
    order_row, signed_in = rows
    assert (order_row["amount"], order_row["unit"]) == (45_000, "INR")
    assert order_row["merchant_id"] == merchant and order_row["source"] == "server"
    assert order_row["properties"]["to_status"] == "paid"
    assert "reason" not in order_row["properties"] and "number" not in order_row["properties"]
    assert "ip" not in signed_in["properties"] and signed_in["properties"]["city"] == "Pune"


async def test_a_merchants_withdrawal_is_the_merchants(session: AsyncSession) -> None:
    merchant, me = uuid7(), uuid7()
    for owner_type, owner in (("merchant", merchant), ("user", me)):
        await publish(session, "withdrawal.paid", {
            "withdrawal_id": str(uuid7()), "code": "W-1", "owner_type": owner_type,
            "owner_id": str(owner), "asset_code": "INR", "amount": 10_000, "net": 9_900,
            "status": "paid"})
    rows = (await session.execute(text(
        "SELECT user_id, merchant_id, amount FROM activity_events"
        " WHERE name = 'withdrawal.paid' AND (user_id = :u OR merchant_id = :m)"),
        {"u": me, "m": merchant})).all()
    assert sorted(rows, key=str) == sorted([(None, merchant, 10_000), (me, None, 10_000)],
                                           key=str)


async def test_a_batch_of_events_is_recorded_together(session: AsyncSession) -> None:
    users = [uuid7() for _ in range(5)]
    await publish_many(session, "activity.steps_verified", [
        {"user_id": str(u), "day": "2026-12-05", "steps": 1000 * i, "delta": 10, "coins": 1,
         "city": None} for i, u in enumerate(users)])
    found = (await session.execute(text(
        "SELECT user_id, amount, unit FROM activity_events WHERE user_id = ANY(:u)"),
        {"u": users})).all()
    assert sorted((r[0], r[1], r[2]) for r in found) == sorted(
        (u, 1000 * i, "steps") for i, u in enumerate(users))
    # Each row as one recorded alone would be: the catalogue's properties, the server's source.
    one = server_row("activity.steps_verified", {
        "user_id": str(users[1]), "day": "2026-12-05", "steps": 1000, "delta": 10, "coins": 1,
        "city": None}, clock.now())
    row = (await session.execute(text(
        "SELECT source, properties, merchant_id, offer_id, occurred_at = received_at"
        " FROM activity_events WHERE user_id = :u"), {"u": users[1]})).one()
    assert tuple(row) == ("server", one["properties"], None, None, True)
