"""The validation endpoint: for a user, a cart and a moment, is the offer valid, what does it
give, and if not, every reason why not. Validating never changes anything."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import clock
from gullak.merchants import service as merchants
from gullak.merchants.schemas import Status
from gullak.offers import service, validation
from gullak.offers.schemas import RedeemIn
from tests.helpers.offers import (
    DAY,
    HOUR,
    Actors,
    Shop,
    fund,
    live_merchant,
    make_offer,
    offers_state,
)
from tests.helpers.problems import assert_problem
from tests.helpers.users import sign_in

# A Wednesday, 15:30 in Mumbai (Asia/Kolkata, UTC+5:30).
NOW = dt.datetime(2030, 3, 6, 10, 0, tzinfo=dt.UTC)
CART = {"amount": 100_000, "item_count": 1}


@pytest.fixture(autouse=True)
def _frozen() -> None:
    clock.freeze(NOW)


@dataclass
class Case:
    """One refusal: the offer's terms, the cart, and what happens before validating."""

    offer: dict[str, Any]
    cart: dict[str, Any]
    status: str = "active"
    prepare: Callable[[AsyncSession, Shop, uuid.UUID, Any], Awaitable[None]] | None = None


async def _redeemed_by_someone_else(session: AsyncSession, shop: Shop, user: uuid.UUID,
                                    offer: Any) -> None:
    await service.redeem(session, offer.id, uuid.uuid4(), RedeemIn(amount=100_000))


async def _redeemed_by_this_user(session: AsyncSession, shop: Shop, user: uuid.UUID,
                                 offer: Any) -> None:
    await service.redeem(session, offer.id, user, RedeemIn(amount=100_000))


async def _poor_user(session: AsyncSession, shop: Shop, user: uuid.UUID, offer: Any) -> None:
    await fund(session, user, 49)


async def _suspended(session: AsyncSession, shop: Shop, user: uuid.UUID, offer: Any) -> None:
    await merchants.set_status(session, shop.merchant_id, Status.suspended, "fraud check", None)


CASES: dict[str, Case] = {
    "not_active": Case({}, CART, status="paused"),
    "not_started": Case({"valid_from": (NOW + HOUR).isoformat()}, CART),
    "expired": Case({}, {**CART, "at": (NOW + 31 * DAY).isoformat()}),
    "wrong_weekday": Case({"weekdays": ["mon", "tue", "thu", "fri", "sat", "sun"]}, CART),
    "outside_hours": Case({"hours": [{"start": "09:00", "end": "15:00"},
                                     {"start": "16:00", "end": "02:00"}]}, CART),
    "below_min_order": Case({"min_order_value": 100_001}, CART),
    "too_few_items": Case({"type": "bogo", "discount_kind": None, "discount_value": None,
                           "bogo_buy": 2, "bogo_get": 1}, {**CART, "item_count": 2}),
    "total_limit_reached": Case({"total_limit": 1}, CART, prepare=_redeemed_by_someone_else),
    "user_limit_reached": Case({"per_user_limit": 1}, CART, prepare=_redeemed_by_this_user),
    "not_in_segment": Case({"segments": ["students", "vip"]}, CART),
    "not_in_audience": Case({"audience_tags": ["foodie"]}, CART),
    "wrong_city": Case({"cities": ["Pune"]}, {**CART, "city": "Mumbai"}),
    "level_too_low": Case({"min_level": 3}, CART),
    "wrong_outlet": Case({"outlet_ids": "outlet:1"}, {**CART, "outlet_id": "outlet:0"}),
    "insufficient_coins": Case({"coins_required": 50}, CART, prepare=_poor_user),
    "merchant_not_live": Case({}, CART, prepare=_suspended),
}


def _resolve(value: Any, shop: Shop) -> Any:
    if isinstance(value, str) and value.startswith("outlet:"):
        return str(shop.outlet_ids[int(value.split(":")[1])])
    return value


async def check(client: httpx.AsyncClient, actors: Actors, connection: AsyncConnection,
                offer_id: Any, user: uuid.UUID, cart: dict[str, Any]) -> dict[str, Any]:
    """Validate, and make sure validating changed nothing."""
    before = await offers_state(connection)
    r = await client.post(f"/v1/offers/{offer_id}/validate", json=cart,
                          headers=actors.user(user))
    assert r.status_code == 200, r.text
    assert await offers_state(connection) == before
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.parametrize("reason", list(CASES))
async def test_each_reason_alone(client: httpx.AsyncClient, actors: Actors, shop: Shop,
                                 session: AsyncSession, connection: AsyncConnection,
                                 reason: str) -> None:
    case = CASES[reason]
    overrides = {k: ([_resolve(v, shop)] if k == "outlet_ids" else v)
                 for k, v in case.offer.items()}
    offer = await make_offer(session, shop.merchant_id, status=case.status, **overrides)
    user = uuid.uuid4()
    if case.prepare is not None:
        await case.prepare(session, shop, user, offer)
    cart = {k: _resolve(v, shop) for k, v in case.cart.items()}
    body = await check(client, actors, connection, offer.id, user, cart)
    assert (body["valid"], body["reasons"]) == (False, [reason]), body


async def test_a_valid_offer_says_what_it_gives(client: httpx.AsyncClient, actors: Actors,
                                                shop: Shop, session: AsyncSession,
                                                connection: AsyncConnection) -> None:
    offer = await make_offer(
        session, shop.merchant_id, discount_value=1500, max_discount=12_000,
        cashback_kind="percent", cashback_value=500, coins_required=40, coins_earned=25,
        branded_coins_earned=5, min_order_value=50_000, weekdays=["wed"],
        hours=[{"start": "15:00", "end": "16:00"}], cities=["Mumbai"],
        outlet_ids=[str(shop.outlet_ids[0])], total_limit=10, per_user_limit=2)
    user = uuid.uuid4()
    await fund(session, user, 40)
    body = await check(client, actors, connection, offer.id, user, {
        "amount": 100_000, "item_count": 3, "outlet_id": str(shop.outlet_ids[0])})
    assert body["valid"] is True and body["reasons"] == []
    # 15 % of 1,000.00 is 150.00, capped at 120.00; 5 % cashback on the 880.00 paid is 44.00,
    # credited as 44 coins.
    assert (body["discount"], body["final_amount"], body["cashback_coins"]) == (12_000, 88_000, 44)
    assert (body["coins_required"], body["coins_earned"], body["branded_coins_earned"]) == (
        40, 25, 5)
    assert body["branded_asset_code"].startswith("BR_")
    assert body["checked_at"].startswith("2030-03-06T10:00:00")
    # The cart names no city: the outlet's counts.
    assert body["original_amount"] == 100_000


async def test_hours_and_days_are_the_outlets_local_ones(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession,
        connection: AsyncConnection) -> None:
    merchant_id, (london,) = await live_merchant(session, timezone="Europe/London",
                                                 city="London")
    offer = await make_offer(session, merchant_id, hours=[{"start": "09:00", "end": "11:00"}],
                             weekdays=["wed"])
    user = uuid.uuid4()
    # 10:00 UTC is 10:00 in London (inside the hours) and 15:30 in Mumbai (outside).
    body = await check(client, actors, connection, offer.id, user,
                       {**CART, "outlet_id": str(london)})
    assert body["valid"] is True, body
    body = await check(client, actors, connection, offer.id, user, CART)
    assert body["reasons"] == ["outside_hours"]
    # An overnight window: 22:00 to 02:00 on Tuesday night, checked at 01:30 Wednesday.
    late = await make_offer(session, merchant_id, hours=[{"start": "22:00", "end": "02:00"}],
                            valid_from=(NOW - DAY).isoformat())
    at = dt.datetime(2030, 3, 6, 1, 30, tzinfo=dt.UTC).isoformat()
    body = await check(client, actors, connection, late.id, user,
                       {**CART, "outlet_id": str(london), "at": at})
    assert body["valid"] is True, body


async def test_every_reason_at_once(client: httpx.AsyncClient, actors: Actors, shop: Shop,
                                    session: AsyncSession, connection: AsyncConnection) -> None:
    offer = await make_offer(
        session, shop.merchant_id, status="paused", valid_from=(NOW + HOUR).isoformat(),
        weekdays=["sun"], hours=[{"start": "01:00", "end": "02:00"}], min_order_value=500_000,
        segments=["prive"], audience_tags=["foodie"], cities=["Delhi"], min_level=9,
        coins_required=10, outlet_ids=[str(shop.outlet_ids[1])], per_user_limit=1,
        total_limit=1)
    await merchants.set_status(session, shop.merchant_id, Status.suspended, "audit", None)
    body = await check(client, actors, connection, offer.id, uuid.uuid4(), {
        "amount": 100, "item_count": 1, "outlet_id": str(shop.outlet_ids[0]), "city": "Goa"})
    assert body["valid"] is False
    assert sorted(body["reasons"]) == sorted([
        "not_active", "not_started", "wrong_outlet", "wrong_weekday", "outside_hours",
        "wrong_city", "below_min_order", "not_in_segment", "not_in_audience", "level_too_low",
        "insufficient_coins", "merchant_not_live"])


async def test_several_reasons_for_a_past_offer(client: httpx.AsyncClient, actors: Actors,
                                                shop: Shop, session: AsyncSession,
                                                connection: AsyncConnection) -> None:
    offer = await make_offer(session, shop.merchant_id, min_order_value=200_000,
                             cities=["Mumbai"])
    body = await check(client, actors, connection, offer.id, uuid.uuid4(), {
        **CART, "at": (NOW + 40 * DAY).isoformat()})
    assert body["reasons"] == ["expired", "wrong_city", "below_min_order"]


async def test_registered_providers_decide_segments_levels_and_tags(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    student, other = uuid.uuid4(), uuid.uuid4()

    async def is_student(s: AsyncSession, user_id: uuid.UUID) -> bool:
        return user_id == student

    async def level(s: AsyncSession, user_id: uuid.UUID) -> int:
        return 5 if user_id == student else 1

    async def tags(s: AsyncSession, user_id: uuid.UUID) -> set[str]:
        return {"foodie", "night_owl"} if user_id == student else set()

    monkeypatch.setitem(service.SEGMENT_PROVIDERS, "students", is_student)
    monkeypatch.setattr(validation, "LEVEL_PROVIDER", level)
    monkeypatch.setattr(validation, "TAGS_PROVIDER", tags)
    offer = await make_offer(session, shop.merchant_id, segments=["students"], min_level=5,
                             audience_tags=["foodie"])
    assert (await check(client, actors, connection, offer.id, student, CART))["valid"] is True
    body = await check(client, actors, connection, offer.id, other, CART)
    assert body["reasons"] == ["not_in_segment", "not_in_audience", "level_too_low"]


async def test_new_users_are_those_who_joined_in_the_last_30_days(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    clock.reset()  # a real sign-in: its tokens are checked against the real clock
    alice = await sign_in(client, connection)
    offer = await make_offer(session, shop.merchant_id, segments=["new_users"],
                             valid_until=(clock.now() + 90 * DAY).isoformat())
    r = await client.post(f"/v1/offers/{offer.id}/validate", json=CART, headers=alice.headers)
    assert (r.json()["valid"], r.json()["reasons"]) == (True, [])
    clock.freeze(clock.now() + 31 * DAY)
    body = await check(client, actors, connection, offer.id, uuid.UUID(alice.user["id"]), CART)
    assert body["reasons"] == ["not_in_segment"]


async def test_a_coupon_code_is_validated_whatever_its_case(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    offer = await make_offer(session, shop.merchant_id, type="coupon_code",
                             coupon_code="SAVE10", min_order_value=50_000)
    user = actors.user(uuid.uuid4())
    before = await offers_state(connection)
    r = await client.post("/v1/offers/validate-code", json={"code": "save10", **CART},
                          headers=user)
    assert (r.json()["offer_id"], r.json()["valid"], r.json()["discount"]) == (
        str(offer.id), True, 10_000)
    r = await client.post("/v1/offers/validate-code", json={
        "code": "Save10", "amount": 100, "item_count": 1}, headers=user)
    assert r.json()["reasons"] == ["below_min_order"]
    assert_problem(await client.post("/v1/offers/validate-code", json={"code": "NOPE99", **CART},
                                     headers=user), 404, "coupon_not_found")
    assert await offers_state(connection) == before


async def test_validation_refuses_bad_input_and_hidden_offers(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    offer = await make_offer(session, shop.merchant_id)
    draft = await make_offer(session, shop.merchant_id, status="draft")
    user = actors.user(uuid.uuid4())
    before = await offers_state(connection)
    for cart in ({"amount": -1}, {"amount": "100"}, {"amount": 1.5}, {"item_count": 0},
                 {"amount": 100, "at": "2030-01-01T00:00:00"}, {"amount": 100, "extra": 1}):
        assert_problem(await client.post(f"/v1/offers/{offer.id}/validate", json=cart,
                                         headers=user), 422, "validation_error")
    assert_problem(await client.post(f"/v1/offers/{draft.id}/validate", json=CART, headers=user),
                   404, "offer_not_found")
    assert_problem(await client.post(f"/v1/offers/{uuid.uuid4()}/validate", json=CART,
                                     headers=user), 404, "offer_not_found")
    # Validation is for users.
    assert_problem(await client.post(f"/v1/offers/{offer.id}/validate", json=CART,
                                     headers=actors.admin()), 403, "forbidden")
    assert_problem(await client.post(f"/v1/offers/{offer.id}/validate", json=CART), 401,
                   "unauthorized")
    assert await offers_state(connection) == before


async def test_bogo_gives_the_free_items_at_the_item_price(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    no_discount: dict[str, Any] = {"discount_kind": None, "discount_value": None}
    offer = await make_offer(session, shop.merchant_id, type="bogo", bogo_buy=2, bogo_get=1,
                             cashback_kind="percent", cashback_value=1000, **no_discount)
    user = uuid.uuid4()
    # Buy 2 get 1: 8 items at 100.00 hold two sets of three, so two items are free; the 10 %
    # cashback is on the 600.00 paid.
    body = await check(client, actors, connection, offer.id, user,
                       {"amount": 80_000, "item_count": 8, "item_price": 10_000})
    assert (body["valid"], body["discount"], body["final_amount"], body["cashback_coins"]) == (
        True, 20_000, 60_000, 60)
    assert (body["bogo_buy"], body["bogo_get"]) == (2, 1)
    # Without the item's price the value of a free item is unknown: nothing off, still valid.
    body = await check(client, actors, connection, offer.id, user,
                       {"amount": 80_000, "item_count": 8})
    assert (body["valid"], body["discount"], body["final_amount"]) == (True, 0, 80_000)
    # A cap holds, and a discount never exceeds the cart.
    capped = await make_offer(session, shop.merchant_id, type="bogo", bogo_buy=1, bogo_get=1,
                              max_discount=15_000, **no_discount)
    body = await check(client, actors, connection, capped.id, user,
                       {"amount": 60_000, "item_count": 6, "item_price": 10_000})
    assert body["discount"] == 15_000
    body = await check(client, actors, connection, offer.id, user,
                       {"amount": 5_000, "item_count": 3, "item_price": 10_000})
    assert (body["discount"], body["final_amount"]) == (5_000, 0)
    # Redeeming gives what validating said.
    r = await client.post(f"/v1/offers/{offer.id}/redeem", headers=actors.user(user),
                          json={"amount": 80_000, "item_count": 8, "item_price": 10_000})
    assert r.status_code == 201, r.text
    assert (r.json()["discount_amount"], r.json()["final_amount"]) == (20_000, 60_000)
    for price in (0, -1, "100", 1.5, True):
        r = await client.post(f"/v1/offers/{offer.id}/validate", headers=actors.user(user),
                              json={**CART, "item_price": price})
        assert_problem(r, 422, "validation_error")


async def test_a_freebie_names_its_item_and_takes_nothing_off(
        client: httpx.AsyncClient, actors: Actors, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    offer = await make_offer(session, shop.merchant_id, type="freebie", discount_kind=None,
                             discount_value=None, freebie_item="filter coffee")
    body = await check(client, actors, connection, offer.id, uuid.uuid4(),
                       {"amount": 30_000, "item_count": 3, "item_price": 10_000})
    assert (body["valid"], body["discount"], body["final_amount"]) == (True, 0, 30_000)
    assert body["freebie_item"] == "filter coffee"
