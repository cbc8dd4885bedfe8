"""Step challenges over HTTP: entry fees held at joining, the pool (fees and a sponsor's
amount) paid by rank with ties split deterministically, team challenges, cancellation
releasing every hold, and who may create what."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import service
from gullak.kit import clock
from tests.activity.support import NOW, YESTERDAY, day_sample, new_user, sync
from tests.helpers.offers import Actors
from tests.helpers.problems import assert_problem
from tests.orders.support import fund, platform_balance, wallet

pytestmark = pytest.mark.usefixtures("assets")
BEFORE_START = NOW - dt.timedelta(hours=33)  # yesterday 06:00 UTC: joins are open
MANAGE = ("activity.manage", "activity.read")


def body(**extra: Any) -> dict[str, Any]:
    return {"title": "Walk Week", "starts_on": YESTERDAY.isoformat(),
            "ends_on": YESTERDAY.isoformat(), **extra}


async def create(client: httpx.AsyncClient, actors: Actors, **extra: Any) -> dict[str, Any]:
    r = await client.post("/v1/admin/challenges", json=body(**extra),
                          headers=actors.admin(*MANAGE))
    assert r.status_code == 201, r.text
    return r.json()


async def join(client: httpx.AsyncClient, actors: Actors, challenge: dict[str, Any],
               user: uuid.UUID, **extra: Any) -> httpx.Response:
    return await client.post(f"/v1/challenges/{challenge['id']}/join", json=extra,
                             headers=actors.user(user))


async def walked(session: AsyncSession, user: uuid.UUID, steps: int) -> None:
    await sync(session, user, [day_sample(steps, distance_m=steps * 3 // 4,
                                          device=f"d-{user}")])


async def test_the_pool_is_paid_by_rank_with_ties_split(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    clock.freeze(BEFORE_START)
    challenge = await create(client, actors, entry_fee=50, sponsor_amount=103,
                             prize_split_bp=[5_000, 3_000, 2_000])
    users = [new_user() for _ in range(4)]
    for user in users:  # joined in this order: the first is the earliest joiner
        await fund(session, user, "FITCOIN", 100)
        r = await join(client, actors, challenge, user)
        assert r.status_code == 200, r.text
        clock.advance(dt.timedelta(minutes=1))
        assert await wallet(session, user, "FITCOIN") == (100, 50)
    poor = new_user()
    r = await join(client, actors, challenge, poor)
    assert_problem(r, 422, "insufficient_funds")
    again = await join(client, actors, challenge, users[0])
    assert_problem(again, 409, "challenge_joined")

    clock.freeze(NOW)
    late = await join(client, actors, challenge, new_user())
    assert_problem(late, 409, "challenge_closed")
    for user, steps in zip(users, (9_000, 9_000, 5_000, 3_000)):
        await walked(session, user, steps)
    r = await client.get(f"/v1/challenges/{challenge['id']}", headers=actors.user(users[0]))
    assert [(s["rank"], s["steps"]) for s in r.json()["standings"]] == [
        (1, 9_000), (1, 9_000), (3, 5_000), (4, 3_000)]

    assert await service.finish_due(session) == 1
    # Pool 4 x 50 + 103 = 303: places 151, 90, 60 (301), 2 left to the first place. A and B
    # tie for places one and two: 241 in halves, the odd coin to A, the earlier joiner.
    prizes = [123, 120, 60, 0]
    step_coins = [90, 90, 50, 30]
    for user, prize, earned in zip(users, prizes, step_coins):
        assert await wallet(session, user, "FITCOIN") == (100 - 50 + earned + prize, 0)
    assert await platform_balance(session, "FITCOIN", "challenge_pool") == 0
    assert await platform_balance(session, "FITCOIN", "challenge_sponsorship") == -103
    r = await client.get("/v1/me/challenges", headers=actors.user(users[1]))
    mine = r.json()["items"][0]
    assert mine["status"] == "finished" and [s["prize"] for s in mine["standings"]] == prizes
    assert await service.finish_due(session) == 0  # once


async def test_teams_rank_together_and_share_their_prize(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    clock.freeze(BEFORE_START)
    challenge = await create(client, actors, kind="college", sponsor_amount=101)
    members = {"IIT Bombay": [new_user(), new_user()], "NIT Trichy": [new_user()]}
    r = await join(client, actors, challenge, new_user())
    assert_problem(r, 422, "invalid_challenge", "team")
    for team, users in members.items():
        for user in users:
            assert (await join(client, actors, challenge, user, team=team)).status_code == 200
            clock.advance(dt.timedelta(minutes=1))
    clock.freeze(NOW)
    for user, steps in zip([*members["IIT Bombay"], *members["NIT Trichy"]],
                           (4_000, 4_000, 7_000)):
        await walked(session, user, steps)
    out = await service.finish(session, uuid.UUID(challenge["id"]))
    assert [(s.name, s.rank, s.steps, s.members, s.prize) for s in out.standings] == [
        ("IIT Bombay", 1, 8_000, 2, 101), ("NIT Trichy", 2, 7_000, 1, 0)]
    first, second = members["IIT Bombay"]
    assert await wallet(session, first, "FITCOIN") == (40 + 51, 0)
    assert await wallet(session, second, "FITCOIN") == (40 + 50, 0)


async def test_cancelling_releases_every_hold(client: httpx.AsyncClient, actors: Actors,
                                              session: AsyncSession) -> None:
    clock.freeze(BEFORE_START)
    challenge = await create(client, actors, entry_fee=30)
    users = [new_user(), new_user()]
    for user in users:
        await fund(session, user, "FITCOIN", 100)
        assert (await join(client, actors, challenge, user)).status_code == 200
    url = f"/v1/admin/challenges/{challenge['id']}/cancel"
    assert_problem(await client.post(url, headers=actors.admin("activity.read")), 403,
                   "forbidden")
    r = await client.post(url, headers=actors.admin(*MANAGE))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    for user in users:
        assert await wallet(session, user, "FITCOIN") == (100, 0)
    assert_problem(await client.post(url, headers=actors.admin(*MANAGE)), 409,
                   "challenge_closed")
    assert_problem(await join(client, actors, challenge, new_user()), 409, "challenge_closed")


async def test_who_creates_what(client: httpx.AsyncClient, actors: Actors) -> None:
    clock.freeze(BEFORE_START)
    me = actors.user(new_user())
    r = await client.post("/v1/challenges", json=body(kind="friends", entry_fee=10),
                          headers=me)
    assert r.status_code == 201, r.text
    friends = r.json()
    assert friends["code"].startswith("CHL-") and friends["status"] == "open"
    assert_problem(await client.post("/v1/challenges", json=body(), headers=me), 403,
                   "challenge_not_allowed")
    assert_problem(await client.post("/v1/challenges", json=body(
        kind="friends", sponsor_amount=5), headers=me), 403, "challenge_not_allowed")
    listed = (await client.get("/v1/challenges", headers=me)).json()["items"]
    assert friends["id"] not in {c["id"] for c in listed}
    r = await client.get("/v1/admin/challenges", headers=actors.admin("activity.read"))
    assert friends["id"] in {c["id"] for c in r.json()["items"]}
    for bad in (body(ends_on="2020-01-01"), body(prize_split_bp=[6_000, 5_000]),
                body(entry_fee=-1), body(kind="galaxy")):
        r = await client.post("/v1/admin/challenges", json=bad, headers=actors.admin(*MANAGE))
        assert_problem(r, 422, "validation_error")
    old = body(starts_on="2020-01-01", ends_on="2020-01-02")
    r = await client.post("/v1/admin/challenges", json=old, headers=actors.admin(*MANAGE))
    assert_problem(r, 422, "invalid_challenge", "ends_on")
    r = await client.get(f"/v1/challenges/{uuid.uuid4()}", headers=me)
    assert_problem(r, 404, "challenge_not_found")
