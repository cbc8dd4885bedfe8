"""POST /v1/events: a batch is stored once whatever the retries, checked event by event
against the catalogue (refusals answered with stable codes, the rest stored), and malformed
input of any shape is a 4xx that stores nothing."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from tests.analytics.support import event, stale_days, stored, user
from tests.helpers.http import acting_as

OFFER = "01900000-0000-7000-8000-0000000000a1"
MERCHANT = "01900000-0000-7000-8000-0000000000b1"
JSON = {"content-type": "application/json"}


async def test_a_retried_batch_stores_nothing_twice(app: FastAPI,
                                                    session: AsyncSession) -> None:
    me = user()
    batch = [event("app.opened", platform="android"),
             event("offer.viewed", offer_id=OFFER, merchant_id=MERCHANT, position=3),
             event("search.performed", query="coffee", results=12)]
    async with acting_as(app, me) as c:
        first = await c.post("/v1/events", json={"events": batch})
        again = await c.post("/v1/events", json={"events": batch})
        more = await c.post("/v1/events", json={"events": batch + [event("wallet.viewed")]})
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 3, "duplicates": 0, "refused": []}
    assert again.json() == {"accepted": 0, "duplicates": 3, "refused": []}
    assert more.json() == {"accepted": 1, "duplicates": 3, "refused": []}
    rows = await stored(session, me.id)
    assert len(rows) == 4
    assert {e["client_event_id"] for e in batch} < {r["client_event_id"] for r in rows}
    viewed = next(r for r in rows if r["name"] == "offer.viewed")
    assert str(viewed["offer_id"]) == OFFER and str(viewed["merchant_id"]) == MERCHANT
    assert viewed["source"] == "client" and viewed["properties"]["position"] == 3


async def test_the_same_id_twice_in_a_batch_is_stored_once(app: FastAPI,
                                                           session: AsyncSession) -> None:
    me = user()
    one = event("app.opened")
    async with acting_as(app, me) as c:
        r = await c.post("/v1/events", json={"events": [one, dict(one)]})
    assert r.json() == {"accepted": 1, "duplicates": 1, "refused": []}
    assert len(await stored(session, me.id)) == 1


async def test_each_refused_event_has_its_code_and_the_rest_are_stored(
        app: FastAPI, session: AsyncSession) -> None:
    me = user()
    now = dt.datetime.now(dt.UTC)
    batch = [
        event("app.opened"),
        event("no.such.event"),
        event("user.signed_up"),  # the server's own: no client may send it
        event("search.performed", query="tea", colour="red"),
        event("search.performed", query=42),
        event("offer.viewed", offer_id="not-a-uuid"),
        event("offer.viewed", merchant_id=MERCHANT),
        event("app.opened", at=now - dt.timedelta(days=30)),
        event("app.opened", at=now + dt.timedelta(hours=2)),
        event("search.performed", query="x" * 501),
        event("product.viewed", product_id=OFFER, price=True),
        event("screen.viewed", screen="home"),
        event("screen.viewed", screen={"a": {"b": ["c"]}}),
        event("screen.viewed", screen="bell\u0007"),
    ]
    async with acting_as(app, me) as c:
        r = await c.post("/v1/events", json={"events": batch})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    codes = {x["index"]: (x["code"], x["field"]) for x in body["refused"]}
    assert codes == {
        1: ("unknown_event", "name"),
        2: ("unknown_event", "name"),
        3: ("unknown_property", "properties.colour"),
        4: ("invalid_property", "properties.query"),
        5: ("invalid_property", "properties.offer_id"),
        6: ("missing_property", "properties.offer_id"),
        7: ("event_time_out_of_window", "occurred_at"),
        8: ("event_time_out_of_window", "occurred_at"),
        9: ("invalid_property", "properties.query"),
        10: ("invalid_property", "properties.price"),
        12: ("invalid_property", "properties.screen"),
        13: ("invalid_property", "properties.screen"),
    }
    assert {x["client_event_id"] for x in body["refused"]} == {
        batch[i]["client_event_id"] for i in codes}
    assert [r["name"] for r in await stored(session, me.id)] == ["app.opened", "screen.viewed"]
    async with acting_as(app, me) as c:  # a lone surrogate: as JSON allows it, escaped
        r = await c.post("/v1/events", headers=JSON, content=json.dumps(
            {"events": [event("screen.viewed", screen="\ud800"), event("app.opened")]}))
    assert r.json()["accepted"] == 1 and r.json()["refused"][0]["code"] == "invalid_property"


async def test_a_malformed_batch_is_refused_whole(app: FastAPI, session: AsyncSession) -> None:
    me = user()
    good = event("app.opened")
    bad_bodies: list[Any] = [
        {"events": []},
        {"events": [good] * 101},
        {"events": [good, {**event("app.opened"), "client_event_id": "a\u0000b"}]},
        {"events": [good, {**event("app.opened"), "occurred_at": "2026-12-06T10:00:00"}]},
        {"events": [good, {**event("app.opened"), "occurred_at": "yesterday"}]},
        {"events": [good, {**event("app.opened"), "extra": 1}]},
        {"events": [good, {**event("app.opened"), "client_event_id": "k" * 65}]},
        {"events": [good, {**event("app.opened"), "properties": [1, 2]}]},
        {"events": "all of them"},
        [good],
    ]
    async with acting_as(app, me) as c:
        for body in bad_bodies:
            r = await c.post("/v1/events", content=json.dumps(body), headers=JSON)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["code"]
        raw = await c.post("/v1/events", content=b"{not json", headers=JSON)
        assert raw.status_code in (400, 422)
        for depth in (30, 5_000, 100_000):  # JSON nested past any parser's limit
            nested = b'{"events": [{"client_event_id": "n", "name": "app.opened",' \
                b' "occurred_at": "2026-12-06T10:00:00Z", "properties": {"screen": ' \
                + b"[" * depth + b"]" * depth + b"}}]}"
            r = await c.post("/v1/events", content=nested, headers=JSON)
            assert r.status_code in (200, 400, 413, 422), (depth, r.status_code)
    assert await stored(session, me.id) == []


async def test_only_a_user_may_send_events(app: FastAPI) -> None:
    from tests.analytics.support import admin

    async with acting_as(app, admin("*")) as c:
        r = await c.post("/v1/events", json={"events": [event()]})
    assert r.status_code == 403


async def test_a_late_event_marks_its_day(app: FastAPI, session: AsyncSession) -> None:
    me = user()
    now = clock.now()
    past = now - dt.timedelta(days=2)
    async with acting_as(app, me) as c:
        r = await c.post("/v1/events", json={"events": [event("app.opened", at=past),
                                                        event("app.opened", at=now)]})
    assert r.json()["accepted"] == 2
    marked = await stale_days(session)
    assert past.date() in marked and now.date() not in marked


async def test_an_event_of_a_month_without_partition_is_kept(app: FastAPI,
                                                             session: AsyncSession) -> None:
    """The default partition takes it, and the month made later takes it over."""
    me = user()
    far = clock.now() + dt.timedelta(days=400)
    clock.freeze(far)
    async with acting_as(app, me) as c:
        r = await c.post("/v1/events", json={"events": [event("app.opened", at=far)]})
    assert r.json()["accepted"] == 1
    where = await session.scalar(text(
        "SELECT tableoid::regclass::text FROM activity_events WHERE user_id = :u"), {"u": me.id})
    assert where == "analytics_partitions.activity_events_default"
    from gullak.analytics import partitions

    made = await partitions.ensure(session, months_ahead=0)
    assert made == [f"activity_events_p{far:%Y_%m}"]
    where = await session.scalar(text(
        "SELECT tableoid::regclass::text FROM activity_events WHERE user_id = :u"), {"u": me.id})
    assert where == f"analytics_partitions.activity_events_p{far:%Y_%m}"
    assert len(await stored(session, me.id)) == 1


# -- fuzz -------------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=12)
_names = st.sampled_from(["app.opened", "search.performed", "offer.viewed", "product.viewed",
                          "user.signed_in", "nope", ""]) | st.text(max_size=120)
_times = st.sampled_from(["2026-12-06T10:00:00Z", "0001-01-01T00:00:00+14:00",
                          "9999-12-31T23:59:59-14:00", "now", ""]) | st.text(max_size=30)
_event = st.fixed_dictionaries(
    {"client_event_id": st.text(max_size=70) | st.integers(),
     "name": _names, "occurred_at": _times},
    optional={"properties": st.dictionaries(
        st.sampled_from(["query", "offer_id", "results", "screen", "price"]) | st.text(max_size=5),
        _json, max_size=4) | _json})
_bodies = st.one_of(st.fixed_dictionaries({"events": st.lists(_event, max_size=4)}), _json)


async def test_fuzzed_batches_never_fail_the_server(app: FastAPI,
                                                    session: AsyncSession) -> None:
    bodies: list[Any] = []

    @settings(max_examples=150, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(_bodies)
    def collect(body: Any) -> None:
        bodies.append(body)

    collect()
    me = user()
    accepted = 0
    async with acting_as(app, me) as c:  # the client fails the test on any 5xx
        for body in bodies:
            r = await c.post("/v1/events", content=json.dumps(body), headers=JSON)
            assert r.status_code in (200, 400, 422), (body, r.status_code, r.text)
            if r.status_code == 200:
                accepted += r.json()["accepted"]
            else:
                assert r.headers["content-type"].startswith("application/problem+json")
    assert len(await stored(session, me.id)) == accepted


async def test_ids_in_any_form_are_stored_in_one(app: FastAPI, session: AsyncSession) -> None:
    me = user()
    forms = [OFFER.replace("-", ""), OFFER.replace("-", "")[:7] + "-"
             + OFFER.replace("-", "")[7:], OFFER.upper()]
    async with acting_as(app, me) as c:
        r = await c.post("/v1/events", json={"events": [
            event("offer.viewed", offer_id=form, merchant_id=MERCHANT.upper())
            for form in forms]})
    assert r.json() == {"accepted": 3, "duplicates": 0, "refused": []}
    rows = await stored(session, me.id)
    assert len(rows) == 3 and {str(r["offer_id"]) for r in rows} == {OFFER}
    assert {r["properties"]["offer_id"] for r in rows} == {OFFER}
    assert {r["properties"]["merchant_id"] for r in rows} == {MERCHANT}
