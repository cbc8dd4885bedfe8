"""The back office's analytics: the catalogue, summaries by day, week and month (sums that
equal the days'), an offer's funnel, a user's statistics with balances, active users; all
behind analytics.read."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.analytics import service
from gullak.analytics.models import MerchantDailySummary
from gullak.analytics.schemas import EventIn
from gullak.kit import clock
from gullak.kit.events import publish
from gullak.kit.ids import uuid7
from gullak.ledger import service as ledger
from gullak.settings import Settings
from tests.analytics.support import READER, admin, user
from tests.helpers.http import acting_as
from tests.helpers.ledger import make_book

# Ids no row has; fixed, so every test process collects the same test names.
UNKNOWN = "01900000-0000-7000-8000-00000000000"
PATHS = ["/v1/admin/analytics/catalogue", "/v1/admin/analytics/platform",
         f"/v1/admin/analytics/merchants/{UNKNOWN}1", f"/v1/admin/analytics/offers/{UNKNOWN}2",
         f"/v1/admin/analytics/users/{UNKNOWN}3", f"/v1/admin/analytics/users/{UNKNOWN}4/daily",
         "/v1/admin/analytics/active-users", "/v1/admin/analytics/top-merchants"]


@pytest.mark.parametrize("path", PATHS)
async def test_every_read_needs_the_permission(app: FastAPI, path: str) -> None:
    async with acting_as(app, admin("offers.read")) as c:
        refused = await c.get(path)
    assert refused.status_code == 403 and refused.json()["permission"] == "analytics.read"
    async with acting_as(app, user()) as c:
        assert (await c.get(path)).status_code == 403
    async with acting_as(app, admin(*READER)) as c:
        assert (await c.get(path)).status_code == 200


async def test_the_catalogue_lists_client_and_server_events(app: FastAPI) -> None:
    async with acting_as(app, admin(*READER)) as c:
        found = (await c.get("/v1/admin/analytics/catalogue")).json()
    by_name = {e["name"]: e for e in found}
    assert by_name["search.performed"]["source"] == "client"
    assert by_name["search.performed"]["required"] == ["query"]
    assert by_name["search.performed"]["properties"]["results"] == "integer"
    assert by_name["order.status_changed"]["source"] == "server"


async def _days_of_one_user(session: AsyncSession, settings: Settings,
                            days: list[dt.date]) -> tuple[object, object, object]:
    me, offer, merchant = uuid7(), uuid7(), uuid7()
    for n, day in enumerate(days, start=1):
        at = dt.datetime.combine(day, dt.time(0, 5), dt.UTC)
        events = [EventIn(client_event_id=f"{day}-{i}", name="offer.viewed",
                          occurred_at=at + dt.timedelta(minutes=i),
                          properties={"offer_id": str(offer), "merchant_id": str(merchant)})
                  for i in range(n)]
        events.append(EventIn(client_event_id=f"{day}-c", name="offer.clicked", occurred_at=at,
                              properties={"offer_id": str(offer)}))
        await service.ingest(session, settings, me, events)
        clock.freeze(at)
        await service.record(session, "offer.redeemed", {
            "user_id": str(me), "offer_id": str(offer), "merchant_id": str(merchant),
            "redemption_id": str(uuid7())})
        clock.reset()
        await service.summarise_day(session, day)
    return me, offer, merchant


async def test_periods_sum_their_days(app: FastAPI, session: AsyncSession,
                                      settings: Settings) -> None:
    today = clock.now().date()
    days = [today - dt.timedelta(days=d) for d in range(5, -1, -1)]
    me, offer, merchant = await _days_of_one_user(session, settings, days)
    since, until = days[0].isoformat(), today.isoformat()
    async with acting_as(app, admin(*READER)) as c:
        daily = (await c.get(f"/v1/admin/analytics/offers/{offer}",
                             params={"since": since, "until": until})).json()
        weekly = (await c.get(f"/v1/admin/analytics/offers/{offer}",
                              params={"since": since, "until": until, "group": "week"})).json()
        monthly = (await c.get(f"/v1/admin/analytics/merchants/{merchant}",
                               params={"since": since, "until": until, "group": "month"})
                   ).json()
        mine = (await c.get(f"/v1/admin/analytics/users/{me}/daily",
                            params={"since": since, "until": until})).json()
        platform = (await c.get("/v1/admin/analytics/platform",
                                params={"since": since, "until": until})).json()
    assert [d["period"] for d in daily] == [d.isoformat() for d in reversed(days)]
    assert [d["views"] for d in daily] == list(range(6, 0, -1))
    assert all(d["clicks"] == 1 and d["redemptions"] == 1 and d["viewers"] == 1
               and d["conversion"] == 1.0 for d in daily)
    assert sum(w["views"] for w in weekly) == 21 and sum(w["days"] for w in weekly) == 6
    assert all(dt.date.fromisoformat(w["period"]).weekday() == 0 for w in weekly)
    assert sum(m["views"] for m in monthly) == 21
    assert sum(m["redemptions"] for m in monthly) == 6
    assert all(dt.date.fromisoformat(m["period"]).day == 1 for m in monthly)
    assert [d["views"] for d in mine] == list(range(6, 0, -1))
    assert all(p["active_users"] >= 1 for p in platform) and len(platform) == 6


async def test_bad_ranges_are_refused(app: FastAPI) -> None:
    async with acting_as(app, admin(*READER)) as c:
        backwards = await c.get("/v1/admin/analytics/platform",
                                params={"since": "2026-12-05", "until": "2026-12-01"})
        too_long = await c.get("/v1/admin/analytics/platform",
                               params={"since": "2024-01-01", "until": "2026-12-01"})
        bad_group = await c.get("/v1/admin/analytics/platform", params={"group": "year"})
        not_a_day = await c.get("/v1/admin/analytics/platform", params={"since": "x"})
    assert backwards.json()["code"] == too_long.json()["code"] == "invalid_date_range"
    assert bad_group.status_code == not_a_day.status_code == 422


# The first and last days a date can hold, with and without the default start 29 days back.
EDGES = [{"until": "0001-01-01"}, {"until": "0001-01-15"},
         {"since": "0001-01-01", "until": "0001-01-01"},
         {"since": "9999-12-01", "until": "9999-12-31"}]
RANGED = [p for p in PATHS if not p.endswith(("catalogue", "active-users"))]


@pytest.mark.parametrize("params", EDGES)
@pytest.mark.parametrize("path", RANGED)
@pytest.mark.parametrize("group", ["day", "week", "month"])
async def test_the_first_and_last_days_a_date_holds_are_answered(
        app: FastAPI, params: dict[str, str], path: str, group: str) -> None:
    by_period = not path.endswith("top-merchants") and (
        "/users/" not in path or path.endswith("/daily"))
    async with acting_as(app, admin(*READER)) as c:
        r = await c.get(path, params={**params, **({"group": group} if by_period else {})})
    assert r.status_code == 200, r.text
    if by_period or path.endswith("top-merchants"):
        assert r.json() == []  # nothing happened in the year 1 or 9999


async def test_user_stats_total_the_days_and_show_balances(
        app: FastAPI, session: AsyncSession, settings: Settings) -> None:
    today = clock.now().date()
    days = [today - dt.timedelta(days=d) for d in (2, 1)]
    me, _, _ = await _days_of_one_user(session, settings, days)
    book = await make_book(session)
    account = await ledger.user_account(session, me, "COIN")  # type: ignore[arg-type]
    await book.fund(account, 420)
    async with acting_as(app, admin(*READER)) as c:
        stats = (await c.get(f"/v1/admin/analytics/users/{me}",
                             params={"since": days[0].isoformat()})).json()
    assert stats["active_days"] == 2
    assert stats["totals"]["views"] == 3 and stats["totals"]["redemptions"] == 2
    assert {"asset_code": "COIN", "posted": 420, "available": 420} in stats["balances"]


async def test_active_users_count_distinct_users_by_window(app: FastAPI,
                                                          session: AsyncSession) -> None:
    async with acting_as(app, admin(*READER)) as c:
        before = (await c.get("/v1/admin/analytics/active-users")).json()
    now = clock.now()
    for back in (dt.timedelta(hours=1), dt.timedelta(days=3), dt.timedelta(days=20),
                 dt.timedelta(days=40)):
        someone = str(uuid7())
        for extra in (dt.timedelta(0), dt.timedelta(minutes=5)):  # two events count once
            clock.freeze(now - back - extra)
            await publish(session, "user.signed_in", {
                "user_id": someone, "device_id": None, "new_device": True, "ip": "10.1.1.1",
                "city": "Pune"})
    clock.reset()
    async with acting_as(app, admin(*READER)) as c:
        after = (await c.get("/v1/admin/analytics/active-users")).json()
    assert after["dau"] - before["dau"] == 1
    assert after["wau"] - before["wau"] == 2
    assert after["mau"] - before["mau"] == 3
    assert after["session_dau"] >= 0 and after["session_mau"] >= after["session_dau"]


async def test_top_merchants_sum_the_days_asked(app: FastAPI, session: AsyncSession) -> None:
    today = clock.now().date()
    yesterday, long_ago = today - dt.timedelta(days=1), today - dt.timedelta(days=40)
    a, b, c_ = uuid7(), uuid7(), uuid7()
    # (merchant, day, orders, gmv): b leads on GMV, a on orders; c's big day is out of range.
    for merchant, day, orders, gmv in [(a, today, 5, 1_000), (a, yesterday, 4, 1_500),
                                       (b, today, 1, 9_000), (c_, long_ago, 99, 99_000),
                                       (c_, today, 1, 10)]:
        session.add(MerchantDailySummary(merchant_id=merchant, day=day, orders=orders, gmv=gmv,
                                         events=0, views=0, clicks=0, redemptions=0,
                                         visitors=orders, reviews=0))
    await session.flush()
    params = {"since": yesterday.isoformat(), "until": today.isoformat()}
    async with acting_as(app, admin(*READER)) as c:
        by_gmv = (await c.get("/v1/admin/analytics/top-merchants", params=params)).json()
        by_orders = (await c.get("/v1/admin/analytics/top-merchants",
                                 params={**params, "by": "orders", "limit": 2})).json()
        bad = await c.get("/v1/admin/analytics/top-merchants", params={"by": "nothing"})
    assert [(m["merchant_id"], m["gmv"]) for m in by_gmv] == \
        [(str(b), 9_000), (str(a), 2_500), (str(c_), 10)]
    assert [(m["merchant_id"], m["orders"]) for m in by_orders] == [(str(a), 9), (str(b), 1)]
    assert bad.status_code == 422
