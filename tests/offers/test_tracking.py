"""Tracking: views and clicks (monthly partitions, a default one so nothing is lost, and the
job that creates partitions ahead of time), saves and shares; and the periodic expiry jobs."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak import worker
from gullak.db.engine import Database
from gullak.kit import clock
from gullak.offers import jobs, service, tracking
from gullak.offers.schemas import RedeemIn
from tests.helpers.offers import (
    DAY,
    Actors,
    Shop,
    live_merchant,
    make_coins,
    make_offer,
    offers_state,
)
from tests.helpers.problems import assert_problem
from tests.helpers.users import sign_in

TEMPLATE = "https://track.example/c?click={click_id}&sub={user_id}&offer={offer_id}"


async def rows_in(session: AsyncSession, parent: str) -> dict[str, int]:
    return {name: n for name, n in (await service.partitions(session, parent)).items() if n}


async def test_views_and_clicks_land_in_this_months_partition(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession,
        connection: AsyncConnection) -> None:
    await make_coins(session)
    merchant_id, _ = await live_merchant(session, tracking_url_template=TEMPLATE,
                                         affiliate_network="cuelinks", affiliate_id="AFF-1")
    offer = await make_offer(session, merchant_id)
    alice = await sign_in(client, connection)

    assert (await client.post(f"/v1/offers/{offer.id}/view")).status_code == 204
    r = await client.post(f"/v1/offers/{offer.id}/view", json={"source": "home_feed"},
                          headers=alice.headers)
    assert r.status_code == 204, r.text
    r = await client.post(f"/v1/offers/{offer.id}/click", json={"device_type": "mobile"},
                          headers=alice.headers)
    assert r.status_code == 201, r.text
    click = r.json()
    query = parse_qs(urlsplit(click["tracking_url"]).query)
    assert query == {"click": [click["click_id"]], "sub": [alice.user["id"]],
                     "offer": [str(offer.id)]}
    # The cashback side finds the click again by the id carried in the URL.
    found = await client.get(f"/v1/admin/offer-clicks/{click['click_id']}",
                             headers=actors.admin("offers.read"))
    assert found.json() == click
    assert_problem(await client.get(f"/v1/admin/offer-clicks/{uuid.uuid4()}",
                                    headers=actors.admin("offers.read")), 404, "click_not_found")

    month = tracking.partition_name("offer_views", tracking.month_start(clock.now()))
    assert await rows_in(session, "offer_views") == {month: 2}
    assert await rows_in(session, "offer_clicks") == {
        tracking.partition_name("offer_clicks", tracking.month_start(clock.now())): 1}
    stats = (await client.get(f"/v1/merchant/offers/{offer.id}/stats",
                              headers=actors.merchant(merchant_id))).json()
    assert (stats["views"], stats["unique_viewers"], stats["clicks"]) == (2, 2, 1)


async def test_tracking_refuses_hidden_offers_and_bad_input(
        client: httpx.AsyncClient, shop: Shop, session: AsyncSession,
        connection: AsyncConnection) -> None:
    draft = await make_offer(session, shop.merchant_id, status="draft")
    offer = await make_offer(session, shop.merchant_id)
    before = await offers_state(connection)
    for kind in ("view", "click"):
        assert_problem(await client.post(f"/v1/offers/{draft.id}/{kind}"), 404, "offer_not_found")
        assert_problem(await client.post(f"/v1/offers/{offer.id}/{kind}", json={"source": 5}), 422,
                       "validation_error")
        assert_problem(await client.post(f"/v1/offers/{offer.id}/{kind}",
                                         headers={"authorization": "Bearer forged"}), 401,
                       "invalid_token")
    assert await offers_state(connection) == before
    # A merchant with neither tracking URL nor website: the click counts, with nowhere to go.
    r = await client.post(f"/v1/offers/{offer.id}/click")
    assert r.status_code == 201 and r.json()["tracking_url"] is None


async def test_saves_and_shares(client: httpx.AsyncClient, actors: Actors, shop: Shop,
                                session: AsyncSession, connection: AsyncConnection) -> None:
    offer = await make_offer(session, shop.merchant_id)
    older = await make_offer(session, shop.merchant_id, title="Older")
    draft = await make_offer(session, shop.merchant_id, status="draft")
    me = actors.user(uuid.uuid4())
    first = await client.put(f"/v1/me/saved-offers/{older.id}", headers=me)
    assert first.status_code == 200, first.text
    clock.freeze(clock.now() + dt.timedelta(minutes=1))
    saved = (await client.put(f"/v1/me/saved-offers/{offer.id}", headers=me)).json()
    again = (await client.put(f"/v1/me/saved-offers/{offer.id}", headers=me)).json()
    assert again == saved  # saving twice changes nothing
    listed = (await client.get("/v1/me/saved-offers", headers=me)).json()
    assert [s["offer"]["id"] for s in listed] == [str(offer.id), str(older.id)]
    assert (await client.delete(f"/v1/me/saved-offers/{older.id}", headers=me)).status_code \
        == 204
    assert [s["offer"]["id"] for s in (await client.get("/v1/me/saved-offers",
                                                        headers=me)).json()] == [str(offer.id)]
    assert (await client.post(f"/v1/offers/{offer.id}/share", json={"channel": "whatsapp"},
                              headers=me)).status_code == 204
    before = await offers_state(connection)
    assert_problem(await client.put(f"/v1/me/saved-offers/{draft.id}", headers=me), 404,
                   "offer_not_found")
    assert_problem(await client.post(f"/v1/offers/{offer.id}/share", json={"channel": "pigeon"},
                                     headers=me), 422, "validation_error")
    assert_problem(await client.post(f"/v1/offers/{offer.id}/share", json={"channel": "sms"}), 401,
                   "unauthorized")
    assert await offers_state(connection) == before
    stats = (await client.get(f"/v1/admin/offers/{offer.id}/stats",
                              headers=actors.admin("offers.read"))).json()
    assert (stats["saves"], stats["shares"]) == (1, 1)


async def parts(db: Database, parent: str) -> dict[str, int]:
    async with db.sessionmaker() as session:
        return await service.partitions(session, parent)


async def test_the_job_creates_partitions_ahead_and_the_default_one_loses_nothing(
        fresh_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "_db", fresh_db)
    async with fresh_db.sessionmaker() as session, session.begin():
        await make_coins(session)
        merchant_id, _ = await live_merchant(session)
        offer = await make_offer(session, merchant_id,
                                 valid_until=(clock.now() + 800 * DAY).isoformat())
    # The migration made this month's and next month's partitions.
    this_month = tracking.month_start(clock.now())
    before = await parts(fresh_db, "offer_views")
    assert tracking.partition_name("offer_views", this_month) in before
    assert "offer_views_default" in before

    # A year on, nothing has created that month's partition yet: a view waits in the default.
    later = clock.now() + 365 * DAY
    clock.freeze(later)
    async with fresh_db.sessionmaker() as session, session.begin():
        await service.record_view(session, offer.id, None, source="test")
    month = tracking.month_start(later)
    name = tracking.partition_name("offer_views", month)
    assert name not in await parts(fresh_db, "offer_views")
    assert (await parts(fresh_db, "offer_views"))["offer_views_default"] == 1

    # The job creates this month's partition and the next three, for views and clicks, and
    # moves the waiting view into its partition.
    created = await jobs.ensure_partitions(timestamp=0)
    months = [month]
    for _ in range(tracking.MONTHS_AHEAD):
        months.append((months[-1] + dt.timedelta(days=32)).replace(day=1))
    assert sorted(created) == sorted(tracking.partition_name(p, m) for m in months
                                     for p in ("offer_views", "offer_clicks"))
    views = await parts(fresh_db, "offer_views")
    assert (views[name], views["offer_views_default"]) == (1, 0)
    assert await jobs.ensure_partitions(timestamp=0) == []

    # Views and clicks of the months ahead go straight to their partitions.
    clock.freeze(later + 40 * DAY)
    async with fresh_db.sessionmaker() as session, session.begin():
        await service.record_view(session, offer.id, None)
        await service.record_click(session, offer.id, None)
    ahead = tracking.month_start(later + 40 * DAY)
    assert (await parts(fresh_db, "offer_views"))[tracking.partition_name(
        "offer_views", ahead)] == 1
    clicks = await parts(fresh_db, "offer_clicks")
    assert (clicks[tracking.partition_name("offer_clicks", ahead)],
            clicks["offer_clicks_default"]) == (1, 0)
    async with fresh_db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM offer_views")) == 2


async def test_the_expiry_jobs_run_in_units_of_work(fresh_db: Database,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "_db", fresh_db)
    user = uuid.uuid4()
    async with fresh_db.sessionmaker() as session, session.begin():
        await make_coins(session)
        merchant_id, _ = await live_merchant(session)
        ending = await make_offer(session, merchant_id,
                                  valid_until=(clock.now() + 2 * DAY).isoformat())
        redemption, _ = await service.redeem(session, ending.id, user, RedeemIn(amount=1000))
    clock.freeze(clock.now() + 3 * DAY)
    assert await jobs.expire_redemptions(timestamp=0) == 1
    assert await jobs.expire_offers(timestamp=0) == 1
    async with fresh_db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT status FROM offers WHERE id = :o"),
                                 {"o": ending.id}) == "expired"
        assert await conn.scalar(text("SELECT status FROM offer_redemptions WHERE id = :r"),
                                 {"r": redemption.id}) == "cancelled"
    assert await jobs.expire_redemptions(timestamp=0) == 0
    assert await jobs.expire_offers(timestamp=0) == 0
