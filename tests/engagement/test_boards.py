"""The two board stores agree (same data, same top, ranks and neighbours, ties included);
step and coin events score on the right boards; the rebuild from the verified step days gives
the events' ranks; rollover keeps closed periods as snapshots."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import service as activity
from gullak.engagement import scores, service
from gullak.engagement.boards import Boards, PgBoards, RedisBoards, board_key
from gullak.engagement.schemas import Metric, Period, Scope
from gullak.kit import clock
from gullak.system import service as system
from tests.engagement.support import coins, enrol, make_college, make_user, steps

pytestmark = pytest.mark.usefixtures("assets")
MONDAY = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)  # 11:30 in Kolkata, a Monday
DAY = MONDAY.date()


@pytest.fixture(autouse=True)
def database_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The services' default store: the database, whatever GULLAK_REDIS_URL says here.
    monkeypatch.setattr(system, "redis_client", lambda: None)
    clock.freeze(MONDAY)
    yield


def weekly(scope: str = "global", day: dt.date = DAY, metric: str = "steps") -> str:
    return board_key(metric, "weekly", day - dt.timedelta(days=day.weekday()), scope)


async def fill(boards: Boards, board: str, data: list[tuple[uuid.UUID, int]]) -> None:
    await boards.add([(board, u, d) for u, d in data])


async def view(boards: Boards, board: str, users: list[uuid.UUID]) -> tuple[object, ...]:
    ranks = {u: await boards.rank_of(board, u) for u in users}
    near = {u: await boards.around(board, u, 3) for u in users[:20]}
    return (await boards.top(board, 1000), await boards.top(board, 5, 7), ranks, near,
            await boards.size(board), await boards.scores(board, users[:10]))


async def test_postgres_and_redis_rank_the_same_data_alike(
        session: AsyncSession, redis_boards: RedisBoards) -> None:
    rng = random.Random(13)
    users = [uuid.uuid4() for _ in range(300)]
    # Few distinct scores: most users tie with many others. Some go to zero and leave.
    data = [(u, rng.choice([5, 10, 10, 20, 40])) for u in users]
    data += [(u, -rng.choice([0, 5, 10])) for u in users[::3]]
    board = "steps:weekly:2026-11-30:global"
    pg = PgBoards(session)
    await fill(pg, board, data)
    await fill(redis_boards, board, data)
    got_pg, got_redis = await view(pg, board, users), await view(redis_boards, board, users)
    assert got_pg == got_redis
    top = await pg.top(board, 1000)
    # The documented rule: score descending, then user id ascending; no zero on the board.
    expected: dict[uuid.UUID, int] = {}
    for u, d in data:
        expected[u] = expected.get(u, 0) + d
    order = sorted(((s, u) for u, s in expected.items() if s > 0), key=lambda p: (-p[0], p[1]))
    assert [(e.score, e.user_id) for e in top] == order
    assert [e.rank for e in top] == list(range(1, len(order) + 1))
    tied = next(u for s, u in order[1:] if s == order[0][0])
    assert (await pg.rank_of(board, tied)).rank == 2  # type: ignore[union-attr]
    gone = next(u for u, s in expected.items() if s <= 0)
    assert await pg.rank_of(board, gone) is None and await pg.around(board, gone, 2) == []


async def test_a_step_day_scores_on_its_week_month_all_time_city_and_college(
        session: AsyncSession) -> None:
    college = await make_college(session)
    walker = await make_user(session, "Asha", city=" Pune ")
    await enrol(session, walker, college)
    other = await make_user(session, "Ravi")
    await steps(session, walker, DAY, 8_000)
    await steps(session, other, DAY, 9_000, city="Mumbai")  # no address: the event's city
    pg = PgBoards(session)
    for period, start in (("weekly", "2026-11-30"), ("monthly", "2026-11-01"), ("alltime", "all")):
        for scope in ("global", "city:pune", f"college:{college}"):
            assert await pg.scores(f"steps:{period}:{start}:{scope}", [walker]) == {walker: 8_000}
    assert (await pg.rank_of(weekly(), walker)).rank == 2  # type: ignore[union-attr]
    assert await pg.scores(weekly("city:mumbai"), [other]) == {other: 9_000}
    # A day re-verified lower takes its steps away; to zero, the user leaves the board.
    await steps(session, other, DAY, -4_000, total=5_000)
    assert (await pg.rank_of(weekly(), walker)).rank == 1  # type: ignore[union-attr]
    await steps(session, other, DAY, -5_000, total=0)
    assert await pg.rank_of(weekly(), other) is None
    # A pending college claim is no college.
    late = await make_user(session)
    await enrol(session, late, await make_college(session), status="pending")
    await steps(session, late, DAY, 100)
    assert await session.scalar(text(
        "SELECT count(*) FROM leaderboard_entries WHERE user_id = :u"), {"u": late}) == 3


async def test_only_coin_rewards_count_on_the_coins_boards(session: AsyncSession) -> None:
    user = await make_user(session)
    await coins(session, user, 50)
    await coins(session, user, 25, asset="REZ")
    await coins(session, user, 10_000, asset="INR")  # cash, not coins
    await coins(session, user, 5, asset="NOSUCH")
    pg = PgBoards(session)
    assert await pg.scores(weekly(metric="coins"), [user]) == {user: 75}
    assert await pg.scores("coins:alltime:all:global", [user]) == {user: 75}


async def verified(session: AsyncSession) -> list[tuple[uuid.UUID, dt.date, int]]:
    """A few weeks of step days for twelve users, ties included, told as events."""
    rng = random.Random(7)
    rows = []
    for _ in range(12):
        user = await make_user(session, city=rng.choice(["Pune", "Delhi"]))
        for back in range(0, 20, 3):
            rows.append((user, DAY - dt.timedelta(days=back), rng.choice([1_000, 2_000, 3_000])))
    for user, day, count in rows:
        await steps(session, user, day, count)
    return sorted(rows)


def serve(monkeypatch: pytest.MonkeyPatch, rows: list[tuple[uuid.UUID, dt.date, int]]) -> None:
    async def verified_days(session: AsyncSession, *, since: dt.date | None = None,
                            after_user: uuid.UUID | None = None,
                            limit: int = 10_000) -> list[tuple[uuid.UUID, dt.date, int]]:
        users = sorted({u for u, _, _ in rows if after_user is None or u > after_user})[:2]
        return [r for r in rows if r[0] in users]  # two users a page: the paging is exercised

    monkeypatch.setattr(activity, "verified_days", verified_days, raising=False)


async def standings(boards: Boards, keys: list[str]) -> dict[str, object]:
    return {k: await boards.top(k, 100) for k in keys}


async def test_a_rebuild_from_the_step_days_gives_the_same_ranks(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = await verified(session)
    keys = list(await session.scalars(text(
        "SELECT board FROM leaderboards WHERE metric = 'steps' ORDER BY board")))
    assert len(keys) >= 9
    pg = PgBoards(session)
    before = await standings(pg, keys)
    assert before[weekly()]
    # Something drifted: the rebuild puts it right.
    await session.execute(text("UPDATE leaderboard_entries SET score = score + 7"))
    await session.execute(text("DELETE FROM leaderboard_entries WHERE board LIKE 'steps:month%'"))
    serve(monkeypatch, rows)
    done = await service.rebuild(session)
    assert (done.users, done.days) == (12, len(rows))
    assert await standings(pg, keys) == before


async def test_a_rebuild_into_redis_ranks_as_the_database_does(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch,
        redis_boards: RedisBoards) -> None:
    rows = await verified(session)
    keys = list(await session.scalars(text(
        "SELECT board FROM leaderboards WHERE metric = 'steps' ORDER BY board")))
    serve(monkeypatch, rows)
    await service.rebuild(session, boards=redis_boards)
    assert await standings(redis_boards, keys) == await standings(PgBoards(session), keys)


async def test_the_default_store_is_redis_when_configured(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch,
        redis_boards: RedisBoards) -> None:
    client: Redis = redis_boards.client
    monkeypatch.setattr(system, "redis_client", lambda: client)
    monkeypatch.setattr(scores, "REDIS_PREFIX", redis_boards.prefix)
    user = await make_user(session)
    await steps(session, user, DAY, 500)
    assert await redis_boards.scores(weekly(), [user]) == {user: 500}
    assert await session.scalar(text("SELECT count(*) FROM leaderboard_entries")) == 0
    mine = await service.standing(session, user, Metric.steps, Period.weekly, Scope.global_)
    assert mine.me is not None and (mine.me.rank, mine.me.score) == (1, 500)


async def test_rollover_keeps_a_closed_week_as_a_snapshot_and_starts_empty(
        session: AsyncSession) -> None:
    users = [await make_user(session, f"U{i}") for i in range(4)]
    for i, user in enumerate(users):
        await steps(session, user, DAY, 1_000 * (i % 2 + 1))  # two ties
    assert await service.roll_over(session) == 0  # the week is not over
    clock.freeze(MONDAY + dt.timedelta(days=7))
    # Last week's board and November's (the 30th is in November); all time stays open.
    assert await service.roll_over(session) == 2
    assert await service.roll_over(session) == 0
    rows = (await session.execute(text(
        "SELECT rank, user_id, score FROM leaderboard_snapshots WHERE board = :b ORDER BY rank"),
        {"b": weekly()})).all()
    order = sorted(users, key=lambda u: (-(1_000 * (users.index(u) % 2 + 1)), u))
    assert [r.user_id for r in rows] == order and [r.rank for r in rows] == [1, 2, 3, 4]
    pg = PgBoards(session)
    assert await pg.size(weekly()) == 0
    assert await pg.size(board_key("steps", "alltime", None, "global")) == 4  # all time stays
    # A late correction of the closed week changes neither the snapshot nor the new week.
    await steps(session, users[0], DAY, 5_000)
    assert await pg.size(weekly()) == 0
    assert await pg.size(weekly(day=DAY + dt.timedelta(days=7))) == 0
    old = await service.history(session, users[0], Metric.steps, Period.weekly,
                                DAY + dt.timedelta(days=3), Scope.global_)
    assert [e.user_id for e in old.entries] == order and old.entries[0].name == "U1"
    november = await service.history(session, users[0], Metric.steps, Period.monthly,
                                     dt.date(2026, 11, 5), Scope.global_)
    assert [e.user_id for e in november.entries] == order
