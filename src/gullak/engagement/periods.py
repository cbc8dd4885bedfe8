"""Period rollover (closed boards become snapshots) and the rebuild of the steps boards from
the verified step days."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import service as activity
from gullak.engagement.boards import Boards, PgBoards, period_start
from gullak.engagement.models import Leaderboard
from gullak.engagement.schemas import RebuildOut
from gullak.engagement.scores import refresh_member, store, today
from gullak.kit import clock
from gullak.kit.sql import Array, custom_plans

Day = tuple[uuid.UUID, dt.date, int]  # a user's verified day and its steps
CHUNK = 10_000  # a closed board copied to its snapshot from Redis, a page at a time
PAGE = 50_000  # verified days a rebuild statement takes (whole users)
_SNAPSHOT = text("""
INSERT INTO leaderboard_snapshots (board, rank, user_id, score)
SELECT board, row_number() OVER (ORDER BY score DESC, user_id), user_id, score
FROM leaderboard_entries WHERE board = :board AND score > 0
""")


async def _snapshot(session: AsyncSession, boards: Boards, board: str) -> int:
    if isinstance(boards, PgBoards):  # one statement, whatever the size
        return (await session.execute(_SNAPSHOT, {"board": board})).rowcount  # type: ignore[attr-defined,no-any-return]
    taken = 0
    while page := await boards.top(board, CHUNK, taken):
        await session.execute(text(
            "INSERT INTO leaderboard_snapshots (board, rank, user_id, score)"
            " SELECT :board, r, u, s FROM unnest(CAST(:ranks AS int[]), CAST(:users AS uuid[]),"
            " CAST(:scores AS bigint[])) AS t(r, u, s)"),
            {"board": board, "ranks": [e.rank for e in page],
             "users": [e.user_id for e in page], "scores": [e.score for e in page]})
        taken += len(page)
    return taken


async def roll_over(session: AsyncSession, *, limit: int = 100,
                    boards: Boards | None = None) -> int:
    """Closes up to `limit` weekly and monthly boards whose period is over: each becomes a
    snapshot (rank, user, score) and leaves the live store, so the current period starts
    empty. Returns how many it closed."""
    boards = boards or store(session)
    day = today()
    due: list[Leaderboard] = []
    for period in ("weekly", "monthly"):
        due += list(await session.scalars(
            select(Leaderboard).where(Leaderboard.period == period,
                                      Leaderboard.closed_at.is_(None),
                                      Leaderboard.starts < period_start(period, day))
            .order_by(Leaderboard.starts, Leaderboard.board).limit(limit - len(due))
            .with_for_update(skip_locked=True)))
        if len(due) >= limit:
            break
    for board in due:
        board.entries = await _snapshot(session, boards, board.board)
        board.closed_at = clock.now()
    await session.flush()
    await boards.clear([b.board for b in due])
    return len(due)


async def rebuild(session: AsyncSession, *, boards: Boards | None = None) -> RebuildOut:
    """Recomputes every open steps board from `activity.verified_days`: the same scores, hence
    the same ranks, as the events gave. Scopes come from what the boards know of each user.
    Each page of days (whole users) becomes its (board, user, score) sums in one statement
    (`_KEYED`: the boards `scores.boards_of` gives), written into the entries on PostgreSQL,
    handed to `Boards.add` otherwise."""
    boards = boards or store(session)
    await custom_plans(session)  # the page statements, run once a page, are planned for it
    live = list(await session.scalars(select(Leaderboard.board).where(
        Leaderboard.metric == "steps", Leaderboard.closed_at.is_(None))))
    await boards.clear(live)
    after: uuid.UUID | None = None
    touched: set[str] = set()
    users = days = 0
    while page := await _whole_users(session, after):
        ids = {u for u, _, _ in page}
        await _refresh_members(session, ids)
        touched |= await _add_page(session, boards, page)
        users += len(ids)
        days += len(page)
        after = page[-1][0]  # until an empty page: a page of whole users may run short
    if isinstance(boards, PgBoards):  # buckets counted from the rebuilt entries, as written
        await boards.recount(sorted(touched | set(live)))
    return RebuildOut(boards=len(touched), users=users, days=days)


async def _whole_users(session: AsyncSession, after: uuid.UUID | None) -> list[Day]:
    """A page of `activity.verified_days` without its last user when the page is full: that
    user's days may go on in the next page, and paging resumes after the last user seen, so
    a user's days are always added together, once each (a user with more verified days than
    a page holds, 137 years of them, would lose the rest)."""
    page: list[Day] = await activity.verified_days(  # type: ignore[attr-defined]
        session, after_user=after, limit=PAGE)
    if len(page) < PAGE or page[0][0] == page[-1][0]:
        return page
    last, cut = page[-1][0], len(page) - 1
    while page[cut - 1][0] == last:  # pages are by user then day: the last user's are at the end
        cut -= 1
    return page[:cut]


async def _refresh_members(session: AsyncSession, users: set[uuid.UUID]) -> None:
    """What the boards know of a user (city, college) is read from the members; a user never
    scored yet is looked up first, as a score does."""
    missing = await session.scalars(_MISSING, {"users": Array(list(users))})
    for user_id in sorted(missing):
        await refresh_member(session, user_id)


async def _add_page(session: AsyncSession, boards: Boards, page: list[Day]) -> set[str]:
    """The page's sums on their open boards (registered as a score registers them); the
    boards it touched."""
    params = {"users": Array([u for u, _, _ in page]), "days": Array([d for _, d, _ in page]),
              "steps": Array([s for _, _, s in page]), "now": clock.now()}
    if not isinstance(boards, PgBoards):
        rows = (await session.execute(_SUMS, params)).all()
        await boards.add([(b, u, s) for b, u, s in rows])
        return {b for b, _, _ in rows}
    # New rows, as a rule (the boards were cleared, a page holds whole users): inserted, which
    # costs a good third less than an upsert. A score written meanwhile by an event makes the
    # insert fail: the page is then added as `PgBoards.add` adds, to what is there.
    try:
        async with session.begin_nested():
            return set(await session.scalars(_INSERT, params))
    except IntegrityError:
        return set(await session.scalars(_UPSERT, params))


# The page's users without a member row, each looked up by key (the LIMIT keeps it so: a
# whole-table scan is what the planner picks otherwise, at a page's size).
_MISSING = text("""
SELECT u FROM unnest(CAST(:users AS uuid[])) AS u
LEFT JOIN LATERAL (SELECT true AS found FROM engagement_members
                   WHERE user_id = u LIMIT 1) AS m ON true
WHERE m.found IS NULL
""")
# A page of (user, day, steps) summed per user on every board `scores.boards_of` gives each
# day: per period first (a board's key is made once per user and period, not once per day),
# then on each scope of `scores.scopes` (global, the member's city, their verified college).
# The boards are registered as `scores.open_boards` registers them; those already closed take
# nothing. Verified days only count up: no sum leaves a board.
_KEYED = """
WITH d AS (
  SELECT u, d, s FROM unnest(CAST(:users AS uuid[]), CAST(:days AS date[]),
                             CAST(:steps AS bigint[])) AS t(u, d, s)
), per AS (  -- each board's key less its scope
  SELECT u, 'weekly' AS period, date_trunc('week', d::timestamp)::date AS starts,
         sum(s)::bigint AS score
  FROM d GROUP BY u, 3
  UNION ALL
  SELECT u, 'monthly', date_trunc('month', d::timestamp)::date, sum(s)::bigint
  FROM d GROUP BY u, 3
  UNION ALL
  SELECT u, 'alltime', NULL, sum(s)::bigint FROM d GROUP BY u
), keyed AS (
  SELECT u, period, starts, score,
         'steps:' || period || ':' || coalesce(to_char(starts, 'YYYY-MM-DD'), 'all') || ':'
           AS prefix
  FROM per WHERE score > 0
), scoped AS (
  SELECT x.u, sc.scope
  FROM (SELECT DISTINCT u FROM d) AS x
  LEFT JOIN LATERAL (SELECT city, college_id FROM engagement_members
                     WHERE user_id = x.u) AS m ON true
  CROSS JOIN LATERAL (VALUES ('global'), ('city:' || nullif(m.city, '')),
                             ('college:' || m.college_id::text)) AS sc(scope)
  WHERE sc.scope IS NOT NULL
), k AS MATERIALIZED (
  SELECT keyed.prefix || scoped.scope AS board, keyed.period, keyed.starts, scoped.scope,
         keyed.u, keyed.score
  FROM keyed JOIN scoped ON scoped.u = keyed.u
), registered AS (
  INSERT INTO leaderboards (board, metric, period, starts, scope, created_at)
  SELECT board, 'steps', period, starts, scope, CAST(:now AS timestamptz)
  FROM (SELECT DISTINCT board, period, starts, scope FROM k) AS b
  ORDER BY board COLLATE "C" ON CONFLICT (board) DO NOTHING
), sums AS (
  SELECT k.board, k.u, k.score FROM k
  WHERE NOT EXISTS (SELECT 1 FROM leaderboards l
                    WHERE l.board = k.board AND l.closed_at IS NOT NULL)
)
"""
# Rows in (board, user) order, the order `PgBoards.add` writes in: the rebuild and the
# events' scores never wait on each other in a circle.
_WRITE = """
, written AS (
  INSERT INTO leaderboard_entries AS e (board, user_id, score, updated_at)
  SELECT board, u, score, CAST(:now AS timestamptz) FROM sums ORDER BY board COLLATE "C", u
  {conflict}
)
SELECT DISTINCT board FROM sums
"""
_INSERT = text(_KEYED + _WRITE.format(conflict=""))
_UPSERT = text(_KEYED + _WRITE.format(conflict="""
  ON CONFLICT (board, user_id) DO UPDATE SET score = e.score + excluded.score,
                                             updated_at = excluded.updated_at"""))
_SUMS = text(_KEYED + 'SELECT board, u, score FROM sums ORDER BY board COLLATE "C", u')
