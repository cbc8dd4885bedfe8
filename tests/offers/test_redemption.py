"""Redemptions over HTTP: pending -> completed, cancelled, refunded, with every coin moved by
the ledger (a hold on redeem, its capture on completion, earned coins on completion, reversals
on refund), the redemption as reference, and the ledger's own verification passing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import clock
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.ledger.verify import verify
from gullak.offers import service
from tests.helpers.offers import (
    COIN,
    HOUR,
    Actors,
    Shop,
    coins,
    fund,
    live_merchant,
    make_offer,
    offers_state,
)
from tests.helpers.problems import assert_problem

CART = {"amount": 100_000, "item_count": 1}


async def assert_ledger_verified(session: AsyncSession) -> None:
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]


async def counters(session: AsyncSession, offer_id: Any, user: uuid.UUID) -> tuple[int, int]:
    total = await session.scalar(text("SELECT redemptions_count FROM offers WHERE id = :o"),
                                 {"o": offer_id})
    mine = await session.scalar(text(
        "SELECT count FROM offer_user_redemptions WHERE offer_id = :o AND user_id = :u"),
        {"o": offer_id, "u": user})
    return int(total or 0), int(mine or 0)


async def platform(session: AsyncSession, purpose: str, asset: str = COIN) -> int:
    account = await ledger.platform_account(session, asset, purpose)
    return (await ledger.balance(session, account.id)).posted


async def test_redeem_complete_and_refund_move_coins_through_the_ledger(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    offer = await make_offer(session, shop.merchant_id, discount_value=1000,
                             cashback_kind="percent", cashback_value=500, coins_required=40,
                             coins_earned=25, branded_coins_earned=5, per_user_limit=1,
                             total_limit=10)
    brand = offer.branded_asset_code
    assert brand is not None and brand.startswith("BR_")
    user = uuid.uuid4()
    await fund(session, user, 100)
    me = actors.user(user)

    r = await client.post(f"/v1/offers/{offer.id}/redeem", json=CART, headers=me)
    assert r.status_code == 201, r.text
    red = r.json()
    assert (red["status"], red["discount_amount"], red["final_amount"]) == (
        "pending", 10_000, 90_000)
    # 5 % cashback on the 900.00 paid: 45.00, as 45 coins.
    assert (red["coins_used"], red["coins_earned"], red["cashback_coins"],
            red["branded_coins_earned"]) == (40, 25, 45, 5)
    assert await coins(session, user) == (100, 40)  # held, not yet spent
    assert await counters(session, offer.id, user) == (1, 1)
    hold = await ledger.get_hold(session, uuid.UUID(red["hold_id"]))
    assert (hold.reference_type, hold.reference_id) == ("offer_redemption", red["id"])
    mine = (await client.get("/v1/me/redemptions", headers=me)).json()["items"]
    assert [m["id"] for m in mine] == [red["id"]]
    assert (await client.get(f"/v1/redemptions/{red['id']}", headers=me)).json()["code"] \
        == red["code"]

    # The merchant looks the redemption up by the code the user shows, and completes it.
    merchant = actors.merchant(shop.merchant_id)
    found = (await client.get("/v1/merchant/redemptions", params={"code": red["code"].lower()},
                              headers=merchant)).json()["items"]
    assert [f["id"] for f in found] == [red["id"]]
    r = await client.post(f"/v1/redemptions/{red['id']}/complete", headers=merchant)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "completed" and done["completed_at"]
    assert len(done["earn_transfer_ids"]) == 3 and done["spend_transfer_id"]
    assert await coins(session, user) == (100 - 40 + 25 + 45, 0)
    assert await coins(session, user, brand) == (5, 0)
    assert await platform(session, "redemption") == 40
    references = (await session.execute(text(
        "SELECT DISTINCT reference_type, reference_id FROM ledger_transfers"
        " WHERE reference_id = :r"), {"r": red["id"]})).all()
    assert [tuple(x) for x in references] == [("offer_redemption", red["id"])]
    await assert_ledger_verified(session)

    r = await client.post(f"/v1/redemptions/{red['id']}/refund",
                          json={"reason": "Order returned"},
                          headers=actors.admin("redemptions.manage"))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reason"]) == ("refunded", "Order returned")
    assert await coins(session, user) == (100, 0)
    assert await coins(session, user, brand) == (0, 0)
    assert await platform(session, "redemption") == 0
    # The slot is given back: the user may redeem again.
    assert await counters(session, offer.id, user) == (0, 0)
    await assert_ledger_verified(session)
    r = await client.post(f"/v1/offers/{offer.id}/redeem", json=CART, headers=me)
    assert r.status_code == 201, r.text


async def test_cancelling_releases_the_hold_and_the_slot(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    offer = await make_offer(session, shop.merchant_id, coins_required=30, per_user_limit=1)
    user = uuid.uuid4()
    await fund(session, user, 30)
    me = actors.user(user)
    red = (await client.post(f"/v1/offers/{offer.id}/redeem", json=CART, headers=me)).json()
    assert await coins(session, user) == (30, 30)
    # A second one is refused while the first holds the user's only slot.
    before = await offers_state(connection)
    body = assert_problem(await client.post(f"/v1/offers/{offer.id}/redeem", json=CART, headers=me),
                          422, "offer_not_redeemable")
    assert body["reasons"] == ["user_limit_reached", "insufficient_coins"]
    assert await offers_state(connection) == before

    r = await client.post(f"/v1/redemptions/{red['id']}/cancel",
                          json={"reason": "Changed my mind"}, headers=me)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reason"]) == ("cancelled", "Changed my mind")
    assert await coins(session, user) == (30, 0)
    assert (await ledger.get_hold(session, uuid.UUID(red["hold_id"]))).status == "released"
    assert await counters(session, offer.id, user) == (0, 0)
    await assert_ledger_verified(session)
    r = await client.post(f"/v1/offers/{offer.id}/redeem", json=CART, headers=me)
    assert r.status_code == 201, r.text


async def test_an_idempotency_key_replays_the_same_redemption(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    offer = await make_offer(session, shop.merchant_id, per_user_limit=3)
    me = actors.user(uuid.uuid4())
    key = {"Idempotency-Key": "redeem-7f3a"}
    first = await client.post(f"/v1/offers/{offer.id}/redeem", json=CART, headers={**me, **key})
    assert first.status_code == 201
    again = await client.post(f"/v1/offers/{offer.id}/redeem", json=CART, headers={**me, **key})
    assert again.status_code == 200 and again.json() == first.json()
    before = await offers_state(connection)
    assert_problem(await client.post(f"/v1/offers/{offer.id}/redeem", json={**CART, "amount": 5},
                                     headers={**me, **key}), 409, "idempotency_key_reused")
    assert await offers_state(connection) == before
    # Another user's key is their own.
    other = await client.post(f"/v1/offers/{offer.id}/redeem", json=CART,
                              headers={**actors.user(uuid.uuid4()), **key})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


async def test_who_may_move_a_redemption(client: httpx.AsyncClient, actors: Actors,
                                         shop: Shop, session: AsyncSession,
                                         connection: AsyncConnection) -> None:
    offer = await make_offer(session, shop.merchant_id, per_user_limit=5)
    user = uuid.uuid4()
    me = actors.user(user)
    red = (await client.post(f"/v1/offers/{offer.id}/redeem", json=CART, headers=me)).json()
    other_merchant, _ = await live_merchant(session)
    path = f"/v1/redemptions/{red['id']}"
    before = await offers_state(connection)
    assert_problem(await client.post(f"{path}/complete", headers=actors.merchant(other_merchant)),
                   404, "redemption_not_found")
    assert_problem(await client.get(path, headers=actors.merchant(other_merchant)), 404,
                   "redemption_not_found")
    assert_problem(await client.get(path, headers=actors.user(uuid.uuid4())), 404,
                   "redemption_not_found")
    assert_problem(await client.post(f"{path}/cancel", headers=actors.user(uuid.uuid4())), 404,
                   "redemption_not_found")
    assert_problem(await client.post(f"{path}/complete", headers=me), 403, "forbidden")
    assert_problem(await client.post(f"{path}/complete", headers=actors.admin("offers.read")), 403,
                   "forbidden")
    assert_problem(await client.post(f"{path}/complete", headers=actors.merchant(
        shop.merchant_id, "merchant.read")), 403, "forbidden")
    assert_problem(await client.post(f"{path}/refund", json={"reason": "x"},
                                     headers=actors.admin()), 409, "invalid_redemption_transition")
    assert_problem(await client.post(f"{path}/refund", json={}, headers=actors.admin()), 422,
                   "validation_error")
    assert_problem(await client.post(f"/v1/redemptions/{uuid.uuid4()}/complete",
                                     headers=actors.admin()), 404, "redemption_not_found")
    assert await offers_state(connection) == before
    assert (await client.post(f"{path}/complete", headers=actors.admin())).status_code == 200
    before = await offers_state(connection)
    assert_problem(await client.post(f"{path}/complete", headers=actors.admin()), 409,
                   "invalid_redemption_transition")
    assert_problem(await client.post(f"{path}/cancel", headers=me), 409,
                   "invalid_redemption_transition")
    assert await offers_state(connection) == before


async def test_redeeming_what_is_not_valid_is_refused_with_every_reason(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    offer = await make_offer(session, shop.merchant_id, coins_required=10,
                             min_order_value=500_000, cities=["Pune"])
    draft = await make_offer(session, shop.merchant_id, status="draft")
    me = actors.user(uuid.uuid4())
    before = await offers_state(connection)
    body = assert_problem(await client.post(f"/v1/offers/{offer.id}/redeem", json=CART, headers=me),
                          422, "offer_not_redeemable")
    assert body["reasons"] == ["wrong_city", "below_min_order", "insufficient_coins"]
    assert_problem(await client.post(f"/v1/offers/{draft.id}/redeem", json=CART, headers=me), 404,
                   "offer_not_found")
    assert_problem(await client.post(f"/v1/offers/{offer.id}/redeem", json={"amount": "1"},
                                     headers=me), 422, "validation_error")
    assert await offers_state(connection) == before


async def test_a_refund_is_refused_once_the_earned_coins_are_spent(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    offer = await make_offer(session, shop.merchant_id, coins_earned=50)
    user = uuid.uuid4()
    me = actors.user(user)
    red = (await client.post(f"/v1/offers/{offer.id}/redeem", json=CART, headers=me)).json()
    await client.post(f"/v1/redemptions/{red['id']}/complete", headers=actors.admin())
    wallet = await ledger.user_account(session, user, COIN)
    sink = await ledger.platform_account(session, COIN, "redemption")
    await ledger.transfer(session, TransferIn(
        debit_account_id=wallet.id, credit_account_id=sink.id, asset_code=COIN, amount=30,
        kind="spend"))
    before = await offers_state(connection)
    assert_problem(await client.post(f"/v1/redemptions/{red['id']}/refund", json={"reason": "late"},
                                     headers=actors.admin()), 422, "insufficient_funds")
    assert await offers_state(connection) == before


async def test_pending_redemptions_past_their_deadline_are_cancelled(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    offer = await make_offer(session, shop.merchant_id, coins_required=20, per_user_limit=1)
    user = uuid.uuid4()
    await fund(session, user, 20)
    red = (await client.post(f"/v1/offers/{offer.id}/redeem", json=CART,
                             headers=actors.user(user))).json()
    assert await service.expire_redemptions(session) == 0
    clock.freeze(clock.now() + service.PENDING_TTL + HOUR / 2)
    # Too late to complete; the job has not run yet.
    before = await offers_state(connection)
    assert_problem(await client.post(f"/v1/redemptions/{red['id']}/complete",
                                     headers=actors.merchant(shop.merchant_id)), 409,
                   "redemption_expired")
    assert await offers_state(connection) == before
    assert await service.expire_redemptions(session) == 1
    row = await service.get_redemption(session, uuid.UUID(red["id"]), actors.subjects[
        actors.admin()["authorization"].removeprefix("Test ")])
    assert (row.status, row.reason) == ("cancelled", "expired")
    assert await coins(session, user) == (20, 0)
    assert await counters(session, offer.id, user) == (0, 0)
    await assert_ledger_verified(session)
    assert await service.expire_redemptions(session) == 0


async def test_without_a_per_user_limit_a_user_redeems_again_and_again(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession) -> None:
    offer = await make_offer(session, shop.merchant_id, per_user_limit=None, total_limit=3)
    user = uuid.uuid4()
    me = actors.user(user)
    for _ in range(3):
        r = await client.post(f"/v1/offers/{offer.id}/redeem", json=CART, headers=me)
        assert r.status_code == 201, r.text
    assert await counters(session, offer.id, user) == (3, 3)
    body = assert_problem(await client.post(f"/v1/offers/{offer.id}/redeem", json=CART, headers=me),
                          422, "offer_not_redeemable")
    assert body["reasons"] == ["total_limit_reached"]
