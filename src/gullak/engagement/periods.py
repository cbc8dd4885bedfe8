"""Period rollover (closed boards become snapshots) and the rebuild of the steps boards from
the verified step days."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import service as activity
from gullak.engagement.boards import Boards, PgBoards, period_start
from gullak.engagement.models import Leaderboard
from gullak.engagement.schemas import RebuildOut
from gullak.engagement.scores import refresh_member, store, today
from gullak.kit import clock

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
    Each page of days becomes its (board, user, score) sums in one statement (`_KEYED`, the
    boards `scores.boards_of` gives). On PostgreSQL the sums are kept aside and written into
    the entries at the end in one statement, board by board (`_WRITE`): a page's sums spread
    over every board, and written page by page each would land in a random place of a large
    index; board by board, one board's part of it is in memory at a time. Other stores take
    each page's sums through `Boards.add`."""
    boards = boards or store(session)
    live = list(await session.scalars(select(Leaderboard.board).where(
        Leaderboard.metric == "steps", Leaderboard.closed_at.is_(None))))
    await boards.clear(live)
    if isinstance(boards, PgBoards):
        await session.execute(_STAGE)
    after: uuid.UUID | None = None
    touched: set[str] = set()
    users = days = 0
    while page := await _whole_users(session, after):
        await _refresh_members(session, page)
        touched |= await _add_page(session, boards, page)
        users += len({u for u, _, _ in page})
        days += len(page)
        after = page[-1][0]  # until an empty page: a page of whole users may run short
    if isinstance(boards, PgBoards):
        await session.execute(_WRITE, {"now": clock.now()})
        await session.execute(_UNSTAGE)
        # The buckets counted from the rebuilt entries, as written.
        await boards.recount(sorted(touched | set(live)))
    return RebuildOut(boards=len(touched), users=users, days=days)


async def _whole_users(session: AsyncSession,
                       after: uuid.UUID | None) -> list[tuple[uuid.UUID, dt.date, int]]:
    """A page of `activity.verified_days` without its last user when the page is full: that
    user's days may go on in the next page, and paging resumes after the last user seen, so
    a user's days are always added together (once each)."""
    page = await activity.verified_days(  # type: ignore[attr-defined]
        session, after_user=after, limit=PAGE)
    if len(page) < PAGE or page[0][0] == page[-1][0]:
        return page  # the last page, or one user's days filling a page (never split)
    last = page[-1][0]
    return [row for row in page if row[0] != last]


async def _refresh_members(session: AsyncSession,
                           page: list[tuple[uuid.UUID, dt.date, int]]) -> None:
    """What the boards know of a user (city, college) is read from the members; a user never
    scored yet is looked up first, as a score does."""
    missing = await session.scalars(_MISSING, {"users": list({u for u, _, _ in page})})
    for user_id in sorted(missing):
        await refresh_member(session, user_id)


async def _add_page(session: AsyncSession, boards: Boards,
                    page: list[tuple[uuid.UUID, dt.date, int]]) -> set[str]:
    """The page's sums on their open boards (registered as a score registers them), kept
    aside on PostgreSQL, added to the store otherwise; the boards it touched."""
    params = {"users": [u for u, _, _ in page], "days": [d for _, d, _ in page],
              "steps": [s for _, _, s in page], "now": clock.now()}
    if isinstance(boards, PgBoards):
        return set(await session.scalars(_KEEP, params))
    rows = (await session.execute(_SUMS, params)).all()
    await boards.add([(b, u, s) for b, u, s in rows])
    return {b for b, _, _ in rows}


_MISSING = text("""
SELECT u FROM unnest(CAST(:users AS uuid[])) AS u
WHERE NOT EXISTS (SELECT 1 FROM engagement_members m WHERE m.user_id = u)
""")
# A page of (user, day, steps) summed per user on every board `scores.boards_of` gives each
# day: per period first (a board's key is made once per user, not once per day), then on each
# scope of `scores.scopes` (global, the member's city, their verified college, each member
# read by its key). The boards are registered as `scores.open_boards` registers them; those
# already closed take nothing. Verified days only count up: no sum leaves a board.
_KEYED = """
WITH d AS (
  SELECT u, d, s FROM unnest(CAST(:users AS uuid[]), CAST(:days AS date[]),
                             CAST(:steps AS bigint[])) AS t(u, d, s)
), per AS (
  SELECT d.u, p.period, p.starts, sum(d.s)::bigint AS score
  FROM d CROSS JOIN LATERAL (VALUES ('weekly', date_trunc('week', d.d)::date),
                                    ('monthly', date_trunc('month', d.d)::date),
                                    ('alltime', NULL::date)) AS p(period, starts)
  GROUP BY d.u, p.period, p.starts HAVING sum(d.s) > 0
), scoped AS (
  SELECT x.u, sc.scope
  FROM (SELECT DISTINCT u FROM d) AS x
  LEFT JOIN LATERAL (SELECT city, college_id FROM engagement_members
                     WHERE user_id = x.u) AS m ON true
  CROSS JOIN LATERAL (VALUES ('global'), ('city:' || nullif(m.city, '')),
                             ('college:' || m.college_id::text)) AS sc(scope)
  WHERE sc.scope IS NOT NULL
), k AS MATERIALIZED (
  SELECT 'steps:' || per.period || ':' || coalesce(to_char(per.starts, 'YYYY-MM-DD'), 'all')
           || ':' || scoped.scope AS board, per.period, per.starts, scoped.scope, per.u,
         per.score
  FROM per JOIN scoped ON scoped.u = per.u
), registered AS (
  INSERT INTO leaderboards (board, metric, period, starts, scope, created_at)
  SELECT DISTINCT board, 'steps', period, starts, scope, CAST(:now AS timestamptz) FROM k
  ORDER BY board ON CONFLICT (board) DO NOTHING
), sums AS (
  SELECT k.board, k.u, k.score FROM k
  WHERE NOT EXISTS (SELECT 1 FROM leaderboards l
                    WHERE l.board = k.board AND l.closed_at IS NOT NULL)
)
"""
# On PostgreSQL the sums wait in a table of the transaction's own, without an index.
_STAGE = text("CREATE TEMP TABLE rebuild_sums (board text, user_id uuid, score bigint)"
              " ON COMMIT DROP")
_UNSTAGE = text("DROP TABLE rebuild_sums")
_KEEP = text(_KEYED + """
, kept AS (INSERT INTO rebuild_sums (board, user_id, score) SELECT board, u, score FROM sums)
SELECT DISTINCT board FROM sums
""")
# Then into the entries in (board, user) order, added as `PgBoards.add` adds (a score the
# board holds already, written since the boards were cleared, is summed). A user's days are
# summed whatever page they came in.
_WRITE = text("""
INSERT INTO leaderboard_entries AS e (board, user_id, score, updated_at)
SELECT board, user_id, sum(score), CAST(:now AS timestamptz) FROM rebuild_sums
GROUP BY board, user_id ORDER BY board, user_id
ON CONFLICT (board, user_id) DO UPDATE SET score = e.score + excluded.score,
                                           updated_at = excluded.updated_at
""")
_SUMS = text(_KEYED + "SELECT board, u, score FROM sums ORDER BY board, u")
