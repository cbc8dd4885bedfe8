"""Leaderboards and follows over HTTP: top N and my standing (names, never phones), the city,
college and friends scopes, follows with counts, the admin rebuild behind its permission."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.activity import service as activity
from gullak.kit import clock
from gullak.system import service as system
from tests.engagement.support import enrol, make_college, make_user, steps
from tests.helpers.offers import Actors
from tests.helpers.problems import assert_problem

NOW = dt.datetime(2026, 12, 2, 6, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def database_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(system, "redis_client", lambda: None)
    clock.freeze(NOW)


async def walkers(session: AsyncSession, counts: list[int], city: str | None = None) -> list[uuid.UUID]:
    users = []
    for i, count in enumerate(counts):
        user = await make_user(session, f"Walker {i}", city=city)
        await steps(session, user, NOW.date(), count)
        users.append(user)
    return users


async def test_the_top_and_my_standing_show_names_never_phones(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    users = await walkers(session, [500, 900, 700, 700, 100, 300])
    phones = set(await session.scalars(text("SELECT phone FROM users WHERE id = ANY(:u)"),
                                       {"u": users}))
    r = await client.get("/v1/leaderboards/steps/weekly", params={"limit": 3},
                         headers=actors.user(users[0]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["starts"], body["scope"]) == ("2026-11-30", "global")
    tied = sorted([users[2], users[3]])
    assert [e["user_id"] for e in body["entries"]] == [str(users[1]), *map(str, tied)]
    assert [e["rank"] for e in body["entries"]] == [1, 2, 3]
    assert body["entries"][0]["name"] == "Walker 1"
    assert not any(p in r.text for p in phones)
    r = await client.get("/v1/me/leaderboards/steps/weekly", params={"around": 1},
                         headers=actors.user(users[0]))
    assert r.status_code == 200, r.text
    mine = r.json()
    assert (mine["me"]["rank"], mine["me"]["score"]) == (4, 500)
    assert [e["rank"] for e in mine["around"]] == [3, 4, 5]
    assert mine["around"][2]["user_id"] == str(users[5])
    stranger = await make_user(session)
    r = await client.get("/v1/me/leaderboards/coins/alltime", headers=actors.user(stranger))
    assert r.status_code == 200 and r.json()["me"] is None and r.json()["around"] == []


async def test_city_and_college_boards_are_the_callers_own(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    pune = await walkers(session, [100, 200], city="Pune")
    delhi = await walkers(session, [900], city="Delhi")
    college = await make_college(session)
    await enrol(session, pune[0], college)
    await steps(session, pune[0], NOW.date(), 1)  # scores again, now as a student
    r = await client.get("/v1/leaderboards/steps/monthly", params={"scope": "city"},
                         headers=actors.user(pune[0]))
    assert r.json()["scope"] == "city:pune"
    assert [e["user_id"] for e in r.json()["entries"]] == [str(pune[1]), str(pune[0])]
    r = await client.get("/v1/leaderboards/steps/monthly", params={"scope": "college"},
                         headers=actors.user(pune[0]))
    assert [e["score"] for e in r.json()["entries"]] == [1]  # only what counted as a student
    r = await client.get("/v1/leaderboards/steps/monthly", params={"scope": "college"},
                         headers=actors.user(delhi[0]))
    assert_problem(r, 422, "leaderboard_scope_unavailable")
    for bad in ({"scope": "planet"}, {"limit": 0}, {"limit": 10**30}):
        r = await client.get("/v1/leaderboards/steps/weekly", params=bad,
                             headers=actors.user(delhi[0]))
        assert r.status_code == 422
    r = await client.get("/v1/leaderboards/miles/weekly", headers=actors.user(delhi[0]))
    assert r.status_code == 422
    r = await client.get("/v1/leaderboards/steps/weekly")
    assert r.status_code == 401


async def test_follows_make_friends_and_the_friends_board(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    me, mutual, one_way, outsider = await walkers(session, [300, 500, 800, 900])
    for who, whom in ((me, mutual), (mutual, me), (me, one_way), (me, one_way)):
        r = await client.put(f"/v1/me/follows/{whom}", headers=actors.user(who))
        assert r.status_code == 204, r.text
    r = await client.get("/v1/me/follows", headers=actors.user(me))
    body = r.json()
    assert (body["following_count"], body["followers_count"], body["friends_count"]) == (2, 1, 1)
    assert {(p["user_id"], p["friend"]) for p in body["following"]} == {
        (str(mutual), True), (str(one_way), False)}
    assert body["followers"][0]["name"] == "Walker 1" and "phone" not in r.text
    # Friends: mutual follows only, ranked from the global board.
    r = await client.get("/v1/leaderboards/steps/weekly", params={"scope": "friends"},
                         headers=actors.user(me))
    assert [(e["user_id"], e["rank"]) for e in r.json()["entries"]] == [
        (str(mutual), 1), (str(me), 2)]
    r = await client.get("/v1/me/leaderboards/steps/weekly", params={"scope": "friends"},
                         headers=actors.user(me))
    assert r.json()["me"]["rank"] == 2
    r = await client.delete(f"/v1/me/follows/{mutual}", headers=actors.user(me))
    assert r.status_code == 204
    r = await client.get("/v1/leaderboards/steps/weekly", params={"scope": "friends"},
                         headers=actors.user(me))
    assert [e["user_id"] for e in r.json()["entries"]] == [str(me)]
    assert outsider  # on the global board, never among my friends
    assert_problem(await client.put(f"/v1/me/follows/{me}", headers=actors.user(me)),
                   422, "follow_self")
    assert_problem(await client.put(f"/v1/me/follows/{uuid.uuid4()}", headers=actors.user(me)),
                   404, "user_not_found")


async def test_the_rebuild_needs_its_permission_and_is_audited(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession,
        connection: AsyncConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    (user,) = await walkers(session, [400])

    async def verified_days(session: AsyncSession, *, since: dt.date | None = None,
                            after_user: uuid.UUID | None = None,
                            limit: int = 10_000) -> list[tuple[uuid.UUID, dt.date, int]]:
        return [] if after_user else [(user, NOW.date(), 450)]

    monkeypatch.setattr(activity, "verified_days", verified_days, raising=False)
    r = await client.post("/v1/admin/leaderboards/rebuild", headers=actors.admin("engagement.read"))
    assert_problem(r, 403, "forbidden")
    r = await client.post("/v1/admin/leaderboards/rebuild",
                          headers=actors.admin("engagement.manage"))
    assert r.status_code == 200, r.text
    assert r.json() == {"boards": 3, "users": 1, "days": 1}
    r = await client.get("/v1/me/leaderboards/steps/weekly", headers=actors.user(user))
    assert r.json()["me"]["score"] == 450
    assert await connection.scalar(text(
        "SELECT count(*) FROM audit_log WHERE action = 'leaderboards.rebuild'")) == 1


async def test_history_of_an_open_or_unknown_period_is_not_found(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    (user,) = await walkers(session, [400])
    r = await client.get("/v1/leaderboards/steps/weekly/history", params={"start": "2026-12-01"},
                         headers=actors.user(user))
    assert_problem(r, 404, "leaderboard_snapshot_not_found")
    r = await client.get("/v1/leaderboards/steps/alltime/history", params={"start": "2026-12-01"},
                         headers=actors.user(user))
    assert_problem(r, 404, "leaderboard_snapshot_not_found")
    r = await client.get("/v1/leaderboards/steps/weekly/history", params={"start": "2026-13-01"},
                         headers=actors.user(user))
    assert r.status_code == 422
