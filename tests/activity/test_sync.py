"""Syncing steps over HTTP: a resync replaces, sources merge by trust (never summed), a day
still running waits, a day over is credited at once, and bad input stores nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tests.activity.support import (
    TODAY,
    YESTERDAY,
    coins,
    day_sample,
    interval,
    new_user,
    walk,
)
from tests.helpers.offers import Actors
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.usefixtures("assets")


async def post(client: httpx.AsyncClient, headers: dict[str, str],
               samples: list[dict[str, Any]]) -> httpx.Response:
    return await client.post("/v1/me/steps", json={"samples": samples}, headers=headers)


async def counts(connection: AsyncConnection) -> tuple[int, int, int]:
    row = (await connection.execute(text(
        "SELECT (SELECT count(*) FROM step_records), (SELECT count(*) FROM daily_step_summary),"
        " (SELECT count(*) FROM step_validations)"))).one()
    return row[0], row[1], row[2]


async def test_a_resync_replaces_and_credits_once(client: httpx.AsyncClient, actors: Actors,
                                                   session: AsyncSession) -> None:
    user = new_user()
    me = actors.user(user)
    for _ in range(3):  # the same day synced three times
        r = await post(client, me, walk(8_000))
        assert r.status_code == 200, r.text
    day = r.json()["days"][0]
    assert (day["steps"], day["verified_steps"], day["status"]) == (8_000, 8_000, "verified")
    assert day["coins"] == 80 and await coins(session, user) == 80
    # Synced again with a changed hour: replaced, not added.
    samples = walk(8_000)
    samples[0]["count"] += 500
    r = await post(client, me, samples)
    assert r.json()["days"][0]["steps"] == 8_500
    assert await coins(session, user) == 85
    n = await session.scalar(text("SELECT count(*) FROM step_records WHERE user_id = :u"),
                             {"u": user})
    assert n == 5


async def test_sources_merge_by_trust_per_hour_never_summed(
        client: httpx.AsyncClient, actors: Actors) -> None:
    me = actors.user(new_user())
    samples = [
        # 08:00 IST: the device and Google Fit saw the same walk; the device counts.
        interval(1_000, 8, source="device", distance_m=750),
        interval(1_200, 8, source="google_fit", distance_m=900),
        # 09:00: Apple Health and Google Fit (equal trust): the larger counts.
        interval(700, 9, source="apple_health", distance_m=500),
        interval(900, 9, source="google_fit", distance_m=650),
        # 10:00: only a manual entry.
        interval(300, 10, source="manual"),
    ]
    r = await post(client, me, samples)
    assert r.status_code == 200, r.text
    day = r.json()["days"][0]
    assert day["steps"] == 1_000 + 900 + 300
    assert day["by_source"] == {"device": 1_000, "google_fit": 2_100, "apple_health": 700,
                                "manual": 300}
    # A day total larger than the intervals stands for the same walking: the larger counts.
    r = await post(client, me, [day_sample(5_000, source="apple_health", distance_m=3_800)])
    assert r.json()["days"][0]["steps"] == 5_000


async def test_today_waits_and_reads_back_with_summary(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    user = new_user()
    me = actors.user(user)
    r = await post(client, me, walk(4_000, day=TODAY, first=6))
    assert r.status_code == 200, r.text
    assert r.json()["days"][0]["status"] == "open" and await coins(session, user) == 0
    await post(client, me, walk(10_000))
    r = await client.get("/v1/me/steps", params={"from": YESTERDAY.isoformat(),
                                                 "to": TODAY.isoformat()}, headers=me)
    assert r.status_code == 200, r.text
    assert [(d["day"], d["status"], d["coins"]) for d in r.json()["items"]] == [
        (TODAY.isoformat(), "open", 0), (YESTERDAY.isoformat(), "verified", 100)]
    r = await client.get("/v1/me/activity/summary", headers=me)
    body = r.json()
    assert (body["steps"], body["goal"], body["goal_progress_bp"]) == (4_000, 10_000, 4_000)
    assert (body["streak"], body["coins_from_steps"], body["asset"]) == (1, 100, "FITCOIN")
    r = await client.get("/v1/me/steps", params={"from": TODAY.isoformat(),
                                                 "to": YESTERDAY.isoformat()}, headers=me)
    assert_problem(r, 422, "invalid_range")


@pytest.mark.parametrize(("samples", "code"), [
    ([day_sample(-1)], "validation_error"),
    ([day_sample(10**12)], "validation_error"),
    ([day_sample(500_000)], "validation_error"),
    ([day_sample(100, TODAY + dt.timedelta(days=2))], "steps_in_future"),
    ([day_sample(100, TODAY - dt.timedelta(days=30))], "steps_too_old"),
    ([day_sample(100, source="fitbit_hacked")], "validation_error"),
    ([day_sample(100) | {"start": "2026-01-01T00:00:00+00:00"}], "validation_error"),
    ([interval(100, 8) | {"end": "2020-01-01T00:00:00+00:00"}], "validation_error"),
    ([interval(100, 8) | {"start": "2026-01-01T08:00:00"}], "validation_error"),
    # An interval in the last hour a time holds (its 24-hour bound was past the type: a 500).
    ([interval(100, 8) | {"start": "9999-12-31T23:30:00+00:00",
                          "end": "9999-12-31T23:40:00+00:00"}], "steps_in_future"),
    ([interval(100, 8) | {"start": "9999-12-31T23:30:00-14:00",
                          "end": "9999-12-31T23:40:00-14:00"}], "steps_in_future"),
    ([day_sample(1_000), day_sample(100, TODAY + dt.timedelta(days=3))], "steps_in_future"),
    ([day_sample(100, device="\u0000")], "validation_error"),
    ([day_sample(100)] * 501, "validation_error"),
    ([], "validation_error"),
])
async def test_bad_input_is_refused_and_stores_nothing(
        client: httpx.AsyncClient, actors: Actors, connection: AsyncConnection,
        samples: list[dict[str, Any]], code: str) -> None:
    before = await counts(connection)
    r = await post(client, actors.user(new_user()), samples)
    assert_problem(r, 422, code)
    assert await counts(connection) == before


async def test_steps_need_a_user(client: httpx.AsyncClient, actors: Actors) -> None:
    r = await post(client, {}, [day_sample(100)])
    assert r.status_code == 401
    r = await post(client, actors.admin(), [day_sample(100)])
    assert r.status_code == 403
