"""Boards: one interface, two implementations (PostgreSQL rows, Redis sorted sets).

The rank rule, the same in both: score descending, then user id ascending; rank 1 is the top.
PostgreSQL counts the rows ahead from per-board score buckets (logarithmic, about 1.1% wide,
`leaderboard_score_buckets`, kept by the same statement that writes the entries): the buckets
above the user's, plus the entries of the user's own bucket scoring higher (a short range of
the index (board, score, user_id)), plus the ties with a lower user id. Redis keeps the score
as is and stores each member as the 128-bit complement of the user id in hex: members of equal
score come in reverse lexical order under ZREVRANGE, which is ascending user id. Scores that
reach zero or below leave the board in both. Redis is outside the transaction: a unit of
work's increments are written there once it commits, none if it rolls back.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import structlog
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import UnitSession
from gullak.db.uow import beside
from gullak.kit import clock
from gullak.kit.sql import Array

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger("gullak.engagement")
MASK = (1 << 128) - 1
BIGINT_MAX = (1 << 63) - 1
PER_DOUBLING = 64  # buckets per doubling of the score: each about 1.1% wide


@dataclass(frozen=True)
class Entry:
    rank: int
    user_id: uuid.UUID
    score: int


def in_order(scores: dict[uuid.UUID, int]) -> list[Entry]:
    """Ranks of a small set of scores (a friends board), by the same rule as the boards."""
    ordered = sorted(((s, u) for u, s in scores.items() if s > 0), key=lambda p: (-p[0], p[1]))
    return [Entry(i + 1, u, s) for i, (s, u) in enumerate(ordered)]


class Boards(Protocol):
    async def add(self, items: Sequence[tuple[str, uuid.UUID, int]]) -> None:
        """Add each (board, user, delta); a user reaching zero or below leaves the board."""

    async def top(self, board: str, n: int, offset: int = 0) -> list[Entry]: ...

    async def rank_of(self, board: str, user_id: uuid.UUID) -> Entry | None: ...

    async def around(self, board: str, user_id: uuid.UUID, k: int) -> list[Entry]:
        """The user's entry with up to k entries above and k below; empty when not ranked."""

    async def scores(self, board: str, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]: ...

    async def size(self, board: str) -> int: ...

    async def clear(self, boards: Sequence[str]) -> None: ...


# -- PostgreSQL -------------------------------------------------------------------------------

# The upsert returns each new score; its delta gives the old one (new - delta, never read
# first: under concurrent writers the row lock makes it the score this write replaced, so the
# buckets cannot drift). The old score leaves its bucket, the new one enters its own; moves
# are summed per bucket and applied in (board, bucket) order, so writers never deadlock on
# the bucket rows, to the transaction's own shard of each (`gullak_board_shard`, migration
# 0048), so writers of the same boards at once do not wait for each other's commit. A
# score at zero or below is in no bucket (its entry is dropped after).
_ADD = text("""
WITH t AS (
  SELECT b, u, sum(d)::bigint AS d
  FROM unnest(CAST(:boards AS text[]), CAST(:users AS uuid[]), CAST(:deltas AS bigint[]))
    AS t(b, u, d)
  GROUP BY b, u HAVING sum(d) <> 0
), up AS (
  INSERT INTO leaderboard_entries AS e (board, user_id, score, updated_at)
  SELECT b, u, d, :now FROM t ORDER BY b, u
  ON CONFLICT (board, user_id) DO UPDATE SET score = e.score + excluded.score,
                                             updated_at = excluded.updated_at
  RETURNING e.board, e.user_id, e.score
), moved AS (
  SELECT up.board, up.score - t.d AS old, up.score AS new
  FROM up JOIN t ON t.b = up.board AND t.u = up.user_id
), moves AS (
  SELECT board, gullak_board_bucket(old) AS bucket, -1 AS n FROM moved WHERE old > 0
  UNION ALL
  SELECT board, gullak_board_bucket(new), 1 FROM moved WHERE new > 0
), shard AS (
  SELECT gullak_board_shard() AS s  -- once: a volatile CTE is not inlined
)
INSERT INTO leaderboard_score_buckets AS k (board, bucket, shard, n)
SELECT board, bucket, (SELECT s FROM shard), sum(n) FROM moves
GROUP BY board, bucket HAVING sum(n) <> 0
ORDER BY board, bucket
ON CONFLICT (board, bucket, shard) DO UPDATE SET n = k.n + excluded.n
""")
_DROP = text("""
DELETE FROM leaderboard_entries WHERE (board, user_id) IN
  (SELECT b, u FROM unnest(CAST(:boards AS text[]), CAST(:users AS uuid[])) AS t(b, u))
  AND score <= 0
""")
_TOP = text("""
SELECT user_id, score FROM leaderboard_entries WHERE board = :board
ORDER BY score DESC, user_id LIMIT :n OFFSET :offset
""")
_SCORE = text("SELECT score FROM leaderboard_entries WHERE board = :board AND user_id = :user")
# Ahead of a user: the buckets above theirs, the entries of their own bucket with a higher
# score (below :hi, the first score of the next bucket: a bigint, so the index range is used),
# and the ties with a lower user id.
_AHEAD = text("""
SELECT (SELECT coalesce(sum(n), 0) FROM leaderboard_score_buckets
        WHERE board = :board AND bucket > :bucket)
     + (SELECT count(*) FROM leaderboard_entries
        WHERE board = :board AND score > :score AND score < CAST(:hi AS bigint))
     + (SELECT count(*) FROM leaderboard_entries
        WHERE board = :board AND score = :score AND user_id < :user)
""")
_RECOUNT = text("""
INSERT INTO leaderboard_score_buckets (board, bucket, n)
SELECT board, gullak_board_bucket(score), count(*) FROM leaderboard_entries
WHERE board = ANY(:boards) AND score > 0
GROUP BY board, gullak_board_bucket(score) ORDER BY 1, 2
""")


def bucket(score: int) -> int:
    """A positive score's bucket: `gullak_board_bucket` (migration 0028) in Python, the same
    float8 operations in the same order, so both put a score in the same bucket."""
    return math.floor(math.log(float(score)) / math.log(2.0) * PER_DOUBLING)


def upper(b: int) -> int:
    """The smallest integer score of a bucket above `b` (exact, found from an estimate), capped
    above the largest bigint's bucket."""
    if b >= bucket(BIGINT_MAX):
        return BIGINT_MAX  # only BIGINT_MAX itself could be missed: no steps count reaches it
    score = max(1, math.ceil(2 ** ((b + 1) / PER_DOUBLING)))
    while score > 1 and bucket(score - 1) > b:
        score -= 1
    while bucket(score) <= b:
        score += 1
    return score


# The k entries just above (nearest first) and just below: each a short range of the index.
_ABOVE = text("""
(SELECT user_id, score FROM leaderboard_entries
 WHERE board = :board AND score = :score AND user_id < :user ORDER BY user_id DESC LIMIT :k)
UNION ALL
(SELECT user_id, score FROM leaderboard_entries WHERE board = :board AND score > :score
 ORDER BY score, user_id DESC LIMIT :k)
""")
_BELOW = text("""
(SELECT user_id, score FROM leaderboard_entries
 WHERE board = :board AND score = :score AND user_id > :user ORDER BY user_id LIMIT :k)
UNION ALL
(SELECT user_id, score FROM leaderboard_entries WHERE board = :board AND score < :score
 ORDER BY score DESC, user_id LIMIT :k)
""")


class PgBoards:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, items: Sequence[tuple[str, uuid.UUID, int]]) -> None:
        # The statement sums a user's deltas on a board and writes the entries in (board,
        # user) order, a fixed order that keeps concurrent writers from deadlocking on each
        # other: done in Python, the merge and the sort cost the daily conversion's client
        # about 8% of its CPU.
        if not items:
            return
        params = {"boards": Array([b for b, _, _ in items]),
                  "users": Array([u for _, u, _ in items])}
        await self.session.execute(_ADD, {**params, "deltas": Array([d for _, _, d in items]),
                                          "now": clock.now()})
        if any(d < 0 for _, _, d in items):
            await self.session.execute(_DROP, params)

    async def top(self, board: str, n: int, offset: int = 0) -> list[Entry]:
        rows = await self.session.execute(_TOP, {"board": board, "n": n, "offset": offset})
        return [Entry(offset + i + 1, u, s) for i, (u, s) in enumerate(rows)]

    async def rank_of(self, board: str, user_id: uuid.UUID) -> Entry | None:
        score = await self.session.scalar(_SCORE, {"board": board, "user": user_id})
        if score is None:
            return None
        mine = bucket(score)
        ahead = await self.session.scalar(_AHEAD, {
            "board": board, "score": score, "user": user_id, "bucket": mine, "hi": upper(mine)})
        return Entry(int(ahead) + 1, user_id, score)

    async def around(self, board: str, user_id: uuid.UUID, k: int) -> list[Entry]:
        me = await self.rank_of(board, user_id)
        if me is None:
            return []
        params = {"board": board, "score": me.score, "user": user_id, "k": k}
        # Nearest first: above, the lowest score then the highest id; below, the reverse.
        above = sorted(await self.session.execute(_ABOVE, params),
                       key=lambda r: (r[1], -r[0].int))[:k]
        below = sorted(await self.session.execute(_BELOW, params),
                       key=lambda r: (-r[1], r[0].int))[:k]
        return ([Entry(me.rank - i - 1, u, s) for i, (u, s) in enumerate(above)][::-1] + [me]
                + [Entry(me.rank + i + 1, u, s) for i, (u, s) in enumerate(below)])

    async def scores(self, board: str, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        rows = await self.session.execute(text(
            "SELECT user_id, score FROM leaderboard_entries WHERE board = :board"
            " AND user_id = ANY(:users)"), {"board": board, "users": list(user_ids)})
        return {u: s for u, s in rows}

    async def size(self, board: str) -> int:
        return int(await self.session.scalar(text(
            "SELECT count(*) FROM leaderboard_entries WHERE board = :board"), {"board": board})
            or 0)

    async def clear(self, boards: Sequence[str]) -> None:
        for table in ("leaderboard_entries", "leaderboard_score_buckets"):
            await self.session.execute(text(f"DELETE FROM {table} WHERE board = ANY(:boards)"),
                                       {"boards": list(boards)})

    async def recount(self, boards: Sequence[str]) -> None:
        """Counts the boards' buckets afresh from their entries (after a rebuild: whatever
        happened to them, they agree with the entries again)."""
        await self.session.execute(text(
            "DELETE FROM leaderboard_score_buckets WHERE board = ANY(:boards)"),
            {"boards": list(boards)})
        await self.session.execute(_RECOUNT, {"boards": list(boards)})


# -- Redis ------------------------------------------------------------------------------------

def member(user_id: uuid.UUID) -> str:
    return format(~user_id.int & MASK, "032x")


def user_of(value: bytes | str) -> uuid.UUID:
    raw = value.decode() if isinstance(value, bytes) else value
    return uuid.UUID(int=~int(raw, 16) & MASK)


# One round trip for a whole event: each increment, and a member that reaches zero leaves.
_ADD_SCRIPT = """
for i, key in ipairs(KEYS) do
  local m, d = ARGV[2 * i - 1], ARGV[2 * i]
  if tonumber(redis.call('ZINCRBY', key, d, m)) <= 0 then redis.call('ZREM', key, m) end
end
return #KEYS
"""


class _AfterCommit:
    """The increments of one unit of work, written to Redis once the unit has committed (a
    rolled-back unit writes none). A failure then is logged, not raised: the unit's work is
    committed, and a rebuild (`engagement.periods.rebuild`) puts the boards right."""

    def __init__(self, client: Redis) -> None:
        self.client, self.keys, self.args = client, list[str](), list[str]()

    async def __aenter__(self) -> _AfterCommit:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None or not self.keys:
            return
        try:
            await self.client.eval(_ADD_SCRIPT, len(self.keys), *self.keys, *self.args)  # type: ignore[misc]
        except (RedisError, OSError) as exc:
            log.warning("leaderboard_redis_write_failed", increments=len(self.keys),
                        error=type(exc).__name__)


_pending: weakref.WeakKeyDictionary[AsyncSession, _AfterCommit] = weakref.WeakKeyDictionary()


class RedisBoards:
    """Sorted sets. Given the unit of work's session, its increments wait for the unit's
    commit (Redis is not in the transaction); without one they are written at once."""

    def __init__(self, client: Redis, prefix: str = "", *,
                 session: AsyncSession | None = None) -> None:
        self.client, self.prefix, self.session = client, prefix, session

    def key(self, board: str) -> str:
        return f"{self.prefix}leaderboard:{board}"

    async def add(self, items: Sequence[tuple[str, uuid.UUID, int]]) -> None:
        keys, args = [], []
        for board, user, delta in items:
            if delta:
                keys.append(self.key(board))
                args += [member(user), str(delta)]
        if not keys:
            return
        if isinstance(self.session, UnitSession):
            pending = _pending.get(self.session)
            if pending is None:
                pending = _pending[self.session] = await beside(
                    self.session, _AfterCommit(self.client))
            pending.keys += keys
            pending.args += args
            return
        await self.client.eval(_ADD_SCRIPT, len(keys), *keys, *args)  # type: ignore[misc]

    async def top(self, board: str, n: int, offset: int = 0) -> list[Entry]:
        rows: list[tuple[bytes, float]] = await self.client.zrevrange(  # type: ignore[assignment]
            self.key(board), offset, offset + n - 1, withscores=True)
        return [Entry(offset + i + 1, user_of(m), int(s)) for i, (m, s) in enumerate(rows)]

    async def rank_of(self, board: str, user_id: uuid.UUID) -> Entry | None:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zrevrank(self.key(board), member(user_id))
            pipe.zscore(self.key(board), member(user_id))
            found: list[int | float | None] = await pipe.execute()
        rank, score = found
        if rank is None or score is None:
            return None
        return Entry(int(rank) + 1, user_id, int(score))

    async def around(self, board: str, user_id: uuid.UUID, k: int) -> list[Entry]:
        rank: int | None = await self.client.zrevrank(  # type: ignore[assignment]
            self.key(board), member(user_id))
        if rank is None:
            return []
        start = max(0, int(rank) - k)
        return await self.top(board, int(rank) + k + 1 - start, start)

    async def scores(self, board: str, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        ids = list(user_ids)
        if not ids:
            return {}
        found = await self.client.zmscore(self.key(board), [member(u) for u in ids])
        return {u: int(s) for u, s in zip(ids, found, strict=True) if s is not None}

    async def size(self, board: str) -> int:
        return int(await self.client.zcard(self.key(board)))

    async def clear(self, boards: Sequence[str]) -> None:
        if boards:
            await self.client.delete(*(self.key(b) for b in boards))


# -- keys -------------------------------------------------------------------------------------

def period_start(period: str, day: dt.date) -> dt.date | None:
    if period == "weekly":  # ISO weeks start on Monday
        return day - dt.timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return None


def board_key(metric: str, period: str, start: dt.date | None, scope: str) -> str:
    return f"{metric}:{period}:{start.isoformat() if start else 'all'}:{scope}"
