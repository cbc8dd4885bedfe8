"""Period rollover (closed boards become snapshots) and the rebuild of the steps boards from
the verified step days."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import service as activity
from gullak.engagement.boards import Boards, PgBoards, period_start
from gullak.engagement.models import Leaderboard, Member
from gullak.engagement.schemas import RebuildOut
from gullak.engagement.scores import boards_of, open_boards, refresh_member, scopes, store, today
from gullak.kit import clock

CHUNK = 10_000
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
    the same ranks, as the events gave. Scopes come from what the boards know of each user."""
    boards = boards or store(session)
    live = list(await session.scalars(select(Leaderboard.board).where(
        Leaderboard.metric == "steps", Leaderboard.closed_at.is_(None))))
    await boards.clear(live)
    after: uuid.UUID | None = None
    users: set[uuid.UUID] = set()
    touched: set[str] = set()
    days = 0
    # verified_days pages by user: a page never splits one user's days.
    while page := await activity.verified_days(  # type: ignore[attr-defined]
            session, after_user=after, limit=CHUNK):
        await _add_page(session, boards, page, touched)
        users.update(u for u, _, _ in page)
        days += len(page)
        after = page[-1][0]  # until an empty page: a page of whole users may run short
    if isinstance(boards, PgBoards):  # buckets counted from the rebuilt entries, as written
        await boards.recount(sorted(touched | set(live)))
    return RebuildOut(boards=len(touched), users=len(users), days=days)


async def _add_page(session: AsyncSession, boards: Boards,
                    page: list[tuple[uuid.UUID, dt.date, int]], touched: set[str]) -> None:
    ids = list({u for u, _, _ in page})
    members = {m.user_id: m for m in await session.scalars(
        select(Member).where(Member.user_id.in_(ids)))}
    for user_id in ids:
        if user_id not in members:
            found = await refresh_member(session, user_id)
            if found is not None:
                members[user_id] = found
    wanted: dict[str, tuple[str, str, dt.date | None, str]] = {}
    items = []
    for user_id, day, steps in page:
        for key in boards_of("steps", day, scopes(members.get(user_id))):
            wanted[key[0]] = key
            items.append((key[0], user_id, steps))
    live = await open_boards(session, "steps", list(wanted.values())) if wanted else set()
    touched.update(live)
    await boards.add([i for i in items if i[0] in live])

