"""The rebuild from the verified step days as the activity domain keeps them: every board
`scores.boards_of` names for each day (weeks, months, all time; global, city and college
scopes), a user never scored looked up first, closed boards left alone, a user's days summed
once whatever the paging, a score written meanwhile added to, Redis ranking as PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.engagement import periods, service
from gullak.engagement.boards import PgBoards, RedisBoards, board_key
from gullak.engagement.models import Member
from gullak.engagement.scores import boards_of, scopes
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.system import service as system
from tests.engagement.support import enrol, make_college, make_user
from tests.engagement.test_buckets import assert_exact

MONDAY = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)
DAY = MONDAY.date()
Days = dict[tuple[uuid.UUID, dt.date], int]


@pytest.fixture(autouse=True)
def database_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(system, "redis_client", lambda: None)
    clock.freeze(MONDAY)
    yield


async def verify(session: AsyncSession, days: Days) -> None:
    """The days as the activity domain leaves them once verified (an open one counts nothing)."""
    for (user, day), steps in days.items():
        await session.execute(text(
            "INSERT INTO daily_step_summary (id, user_id, day, steps, status, verified_steps)"
            " VALUES (:id, :user, :day, :steps, :status, :verified)"),
            {"id": uuid7(), "user": user, "day": day, "steps": steps,
             "status": "verified" if steps else "open", "verified": steps})


async def walkers(session: AsyncSession) -> tuple[list[uuid.UUID], Days]:
    """Users in two cities, one with a verified college, one never scored (no member row),
    one who no longer exists; three months of days with ties."""
    rng = random.Random(5)
    college = await make_college(session)
    users = [await make_user(session, f"W{i}", city=rng.choice(["Pune", "Delhi", None]))
             for i in range(9)]
    await enrol(session, users[0], college)
    users.append(uuid7())  # no such user: global boards only
    for user in users[1:]:  # users[0] has never scored: the rebuild looks them up
        await service.refresh_member(session, user)  # type: ignore[attr-defined]
    days: Days = {}
    for user in users:
        for back in rng.sample(range(80), 12):
            days[user, DAY - dt.timedelta(days=back)] = rng.choice([0, 1_000, 2_000, 3_000])
    await verify(session, days)
    return users, days


async def expected(session: AsyncSession, days: Days,
                   closed: frozenset[str] = frozenset()) -> dict[str, dict[uuid.UUID, int]]:
    """Each board's scores, day by day as the events score them."""
    found: dict[str, dict[uuid.UUID, int]] = {}
    for (user, day), steps in sorted(days.items()):
        member = await session.get(Member, user)
        for key, *_ in boards_of("steps", day, scopes(member)):
            if steps and key not in closed:
                found.setdefault(key, {})
                found[key][user] = found[key].get(user, 0) + steps
    return found


async def entries(session: AsyncSession) -> dict[str, dict[uuid.UUID, int]]:
    found: dict[str, dict[uuid.UUID, int]] = {}
    for board, user, score in await session.execute(text(
            "SELECT board, user_id, score FROM leaderboard_entries")):
        found.setdefault(board, {})[user] = score
    return found


async def test_a_rebuild_puts_every_verified_day_on_each_of_its_boards(
        session: AsyncSession) -> None:
    users, days = await walkers(session)
    done = await service.rebuild(session)
    want = await expected(session, days)
    assert await entries(session) == want
    assert any(k.startswith("steps:monthly:") and ":college:" in k for k in want)
    assert any(":city:pune" in k for k in want)
    assert (done.users, done.days, done.boards) == (
        len({u for (u, _), s in days.items() if s}), sum(1 for s in days.values() if s),
        len(want))
    member = await session.get(Member, users[0])
    assert member is not None and member.college_id is not None  # looked up, then scored
    registered = set(await session.scalars(text(
        "SELECT board FROM leaderboards WHERE closed_at IS NULL")))
    assert registered == set(want)
    for board in want:
        await assert_exact(session, board)


async def test_a_closed_board_keeps_its_snapshot_and_takes_nothing(
        session: AsyncSession) -> None:
    _, days = await walkers(session)
    await service.rebuild(session)
    clock.freeze(MONDAY + dt.timedelta(days=7))
    assert await service.roll_over(session, limit=1000) > 0
    closed = frozenset(await session.scalars(text(
        "SELECT board FROM leaderboards WHERE closed_at IS NOT NULL")))
    snapshots = await session.scalar(text("SELECT count(*) FROM leaderboard_snapshots"))
    await service.rebuild(session)
    assert await entries(session) == await expected(session, days, closed)
    assert await session.scalar(text("SELECT count(*) FROM leaderboard_snapshots")) == snapshots


async def test_days_paged_anyhow_are_each_summed_once(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    _, days = await walkers(session)
    await service.rebuild(session)  # users[0] looked up: scored on their college's boards too
    want = await expected(session, days)
    # A user has at most 12 verified days: pages that end inside a user's days, often.
    for page in (13, 17, 25, 40):
        monkeypatch.setattr(periods, "PAGE", page)
        done = await service.rebuild(session)
        assert await entries(session) == want, page
        assert done.days == sum(1 for s in days.values() if s)


async def test_a_score_written_meanwhile_is_added_to(session: AsyncSession) -> None:
    _, days = await walkers(session)
    await service.rebuild(session)
    want = await expected(session, days)
    board = board_key("steps", "alltime", None, "global")
    user = next(iter(want[board]))
    # A board not yet registered when the rebuild clears the boards, with an entry: the entry
    # stays, and the page's insert meets it.
    await PgBoards(session).clear([board])
    await session.execute(text("DELETE FROM leaderboards WHERE board = :b"), {"b": board})
    await PgBoards(session).add([(board, user, 7)])
    await service.rebuild(session)
    want[board][user] += 7
    assert await entries(session) == want
    await assert_exact(session, board)


async def test_a_rebuild_into_redis_ranks_as_the_one_in_the_database(
        session: AsyncSession, redis_boards: RedisBoards) -> None:
    await walkers(session)
    await service.rebuild(session)
    keys = list(await session.scalars(text("SELECT board FROM leaderboards ORDER BY board")))
    await service.rebuild(session, boards=redis_boards)
    pg = PgBoards(session)
    for key in keys:
        assert await redis_boards.top(key, 100) == await pg.top(key, 100)
