"""The PostgreSQL store's own rank from score buckets: the Python bucket bound agrees with the
SQL bucket function; ranks equal a brute-force rank (ties, entries leaving at zero, a rebuild,
a rollover) and each board's buckets count exactly its entries, concurrent writers included."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.engagement import service
from gullak.engagement.boards import BIGINT_MAX, PgBoards, RedisBoards, board_key, bucket, upper
from gullak.kit import clock
from gullak.system import service as system
from tests.engagement.support import make_user, steps
from tests.engagement.test_boards import DAY, MONDAY, serve, verified, weekly

BOARD = "steps:weekly:2026-11-30:global"
EDGES = sorted({1, 2, 3, 10**12 - 1, 10**12, 10**12 + 1, BIGINT_MAX}
               | {2**k + o for k in range(1, 63) for o in (-1, 0, 1)} - {BIGINT_MAX + 1})


@pytest.fixture(autouse=True)
def database_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(system, "redis_client", lambda: None)
    clock.freeze(MONDAY)
    yield


async def sql_buckets(session: AsyncSession, scores: list[int]) -> list[int]:
    rows = await session.execute(text(
        "SELECT gullak_board_bucket(s) FROM unnest(CAST(:s AS bigint[])) WITH ORDINALITY"
        " AS t(s, i) ORDER BY i"), {"s": scores})
    return [b for b, in rows]


async def test_the_bound_agrees_with_the_sql_buckets(session: AsyncSession) -> None:
    assert await sql_buckets(session, EDGES) == [bucket(s) for s in EDGES]
    below = [s for s in EDGES if s < BIGINT_MAX]
    # hi(b) is the first integer score above bucket b, as the database buckets it (the next
    # bucket itself for large scores; small ones skip buckets: 1 is in 0, 2 in 64).
    highs = [upper(bucket(s)) for s in below]
    assert all(hi > s for hi, s in zip(highs, below, strict=True))
    above = await sql_buckets(session, highs)
    assert all(a > bucket(s) for a, s in zip(above, below, strict=True))
    assert await sql_buckets(session, [h - 1 for h in highs]) == [bucket(s) for s in below]
    assert (upper(bucket(1)), upper(bucket(2))) == (2, 3)
    assert 10**12 < upper(bucket(10**12)) < 10**12 * 1.011  # a bucket: about 1.1% wide
    assert await sql_buckets(session, [0, -5]) == [None, None]


def brute(scores: dict[uuid.UUID, int]) -> dict[uuid.UUID, int]:
    order = sorted(((s, u) for u, s in scores.items() if s > 0), key=lambda p: (-p[0], p[1]))
    return {u: i + 1 for i, (_, u) in enumerate(order)}


async def assert_exact(session: AsyncSession, board: str) -> None:
    """Every bucket of the board holds exactly its entries, and every rank is the brute one."""
    counted = dict((await session.execute(text(
        "SELECT bucket, sum(n) FROM leaderboard_score_buckets WHERE board = :b"
        " GROUP BY bucket HAVING sum(n) <> 0"),
        {"b": board})).all())
    scores = dict((await session.execute(text(
        "SELECT user_id, score FROM leaderboard_entries WHERE board = :b"), {"b": board})).all())
    assert all(s > 0 for s in scores.values())  # zero and below left the board
    expected: dict[int, int] = {}
    for s in scores.values():
        expected[bucket(s)] = expected.get(bucket(s), 0) + 1
    assert counted == expected
    pg = PgBoards(session)
    ranks = {u: (await pg.rank_of(board, u)).rank for u in scores}  # type: ignore[union-attr]
    assert ranks == brute(scores)


async def test_bucketed_ranks_equal_brute_force_ranks(session: AsyncSession) -> None:
    rng = random.Random(29)
    users = [uuid.uuid4() for _ in range(400)]
    # Scores across several buckets and within one, with many ties; some go down to zero.
    values = [1, 2, 3, 100, 101, 102, 5_000, 5_001, 5_050, 60_000, 10**9]
    pg = PgBoards(session)
    expected: dict[uuid.UUID, int] = {}
    for _ in range(3):
        batch = [(BOARD, u, rng.choice(values)) for u in rng.sample(users, 150)]
        await pg.add(batch)
        for _, u, d in batch:
            expected[u] = expected.get(u, 0) + d
        await assert_exact(session, BOARD)
    leaving = [u for u in expected if rng.random() < 0.3]
    await pg.add([(BOARD, u, -expected[u] - rng.choice([0, 0, 7])) for u in leaving])
    down = [u for u in expected if u not in leaving][:40]
    await pg.add([(BOARD, u, -1) for u in down])  # crossing bucket edges downwards
    await assert_exact(session, BOARD)
    assert [await pg.rank_of(BOARD, u) for u in leaving] == [None] * len(leaving)
    await pg.add([(BOARD, u, 5) for u in leaving[:10]])  # back on the board
    await assert_exact(session, BOARD)


async def test_a_rebuild_and_a_rollover_keep_the_buckets_exact(
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = await verified(session)
    keys = list(await session.scalars(text(
        "SELECT board FROM leaderboards WHERE metric = 'steps' ORDER BY board")))
    for key in keys:
        await assert_exact(session, key)
    # Drift in the buckets: the rebuild counts them again from the rebuilt entries.
    await session.execute(text("UPDATE leaderboard_score_buckets SET n = n + 3"))
    serve(monkeypatch, rows)
    await service.rebuild(session)
    for key in keys:
        await assert_exact(session, key)
    clock.freeze(MONDAY + dt.timedelta(days=7))
    assert await service.roll_over(session) >= 2
    assert await session.scalar(text(
        "SELECT count(*) FROM leaderboard_score_buckets WHERE board = :b"), {"b": weekly()}) == 0
    for key in keys:
        await assert_exact(session, key)
    user = await make_user(session)
    await steps(session, user, DAY + dt.timedelta(days=7), 2_000)
    await assert_exact(session, board_key("steps", "alltime", None, "global"))


async def test_concurrent_adds_keep_the_bucket_counts_exact(fresh_db: Database) -> None:
    rng = random.Random(41)
    users = [uuid.uuid4() for _ in range(30)]
    boards = [BOARD, "steps:alltime:all:global"]
    # Each writer: its own transaction, a few users' deltas on both boards, some negative.
    work = [[(b, u, rng.choice([-300, -50, 40, 100, 100, 250]))
             for u in rng.sample(users, 6) for b in boards] for _ in range(60)]

    async def write(items: list[tuple[str, uuid.UUID, int]]) -> None:
        async with unit_of_work(fresh_db) as session:
            await PgBoards(session).add(items)

    await asyncio.gather(*(write(items) for items in work))
    async with unit_of_work(fresh_db) as session:
        for b in boards:
            await assert_exact(session, b)


async def test_writers_at_once_do_not_wait_for_each_other(fresh_db: Database) -> None:
    """Two transactions scoring into the same bucket count into shards of their own (0048):
    the second does not wait for the first's commit, and the counts add up after both."""
    first_user, second_user = uuid.uuid4(), uuid.uuid4()
    async with unit_of_work(fresh_db) as first:
        await PgBoards(first).add([(BOARD, first_user, 100)])
        async with unit_of_work(fresh_db) as second:
            await second.execute(text("SET LOCAL lock_timeout = '2s'"))
            await PgBoards(second).add([(BOARD, second_user, 101)])  # the same bucket
    async with unit_of_work(fresh_db) as session:
        assert await session.scalar(text(
            "SELECT count(DISTINCT shard) FROM leaderboard_score_buckets WHERE board = :b"),
            {"b": BOARD}) == 2
        await assert_exact(session, BOARD)


async def test_redis_increments_wait_for_the_units_commit(
        fresh_db: Database, redis_boards: RedisBoards) -> None:
    """Redis is not in the transaction: a unit's increments go there once it has committed,
    and a unit rolled back sends none."""
    user = uuid.uuid4()

    def in_unit(session: AsyncSession) -> RedisBoards:
        return RedisBoards(redis_boards.client, redis_boards.prefix, session=session)

    async def score() -> int:
        return (await redis_boards.scores("b", [user])).get(user, 0)

    with pytest.raises(RuntimeError):
        async with unit_of_work(fresh_db) as session:
            await in_unit(session).add([("b", user, 5)])
            raise RuntimeError("the unit fails after scoring")
    assert await score() == 0
    async with unit_of_work(fresh_db) as session:
        await in_unit(session).add([("b", user, 5)])
        await in_unit(session).add([("b", user, 2)])
        assert await score() == 0  # not before the commit
    assert await score() == 7
    await redis_boards.add([("b", user, 1)])  # no unit: at once
    assert await score() == 8
