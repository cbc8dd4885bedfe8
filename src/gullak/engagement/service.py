"""Engagement commands and queries: scores from events, the boards' reads, follows, rollover
and rebuild. Boards live in PostgreSQL, or in Redis when GULLAK_REDIS_URL is set
(`boards.py`); both rank by score descending, then user id ascending."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.engagement import errors
from gullak.engagement.boards import Boards, Entry, board_key, in_order, period_start
from gullak.engagement.follows import follow, friends, my_follows, unfollow
from gullak.engagement.models import Leaderboard, LeaderboardSnapshot, Member
from gullak.engagement.periods import rebuild, roll_over
from gullak.engagement.schemas import BoardOut, EntryOut, Metric, Period, Scope, StandingOut
from gullak.engagement.scores import (
    names,
    refresh_member,
    refresh_members,
    score,
    score_many,
    store,
    today,
)
from gullak.kit import events
from gullak.kit.events import Event
from gullak.ledger import errors as ledger_errors
from gullak.ledger import service as ledger

__all__ = ["board", "follow", "friends", "history", "my_follows", "rebuild", "reward_confirmed",
           "roll_over", "standing", "steps_verified", "steps_verified_many", "unfollow"]


# -- events -----------------------------------------------------------------------------------

async def steps_verified_many(session: AsyncSession, found: list[Event]) -> None:
    """Days verified or re-verified: each change of steps (`delta`, negative after a
    correction down) and of the day's coins (`coins`) counts on the day's week, month and all
    time, globally, in the city and the college. One batch of a daily job's thousands: the
    members refreshed together, the boards written once."""
    changes = [(uuid.UUID(str(e.data["user_id"])), dt.date.fromisoformat(str(e.data["day"])),
                int(e.data.get("delta", 0)), int(e.data.get("coins", 0)), e.data.get("city"))
               for e in found]
    changes = [c for c in changes if c[2] or c[3]]
    if not changes:
        return
    members = await refresh_members(session, {c[0]: c[4] for c in changes})
    boards = store(session)
    placed = [c for c in changes if c[0] in members]
    await score_many(session, boards, "steps", [(u, day, steps, members[u])
                                                for u, day, steps, _, _ in placed])
    await score_many(session, boards, "coins", [(u, day, coins, members[u])
                                                for u, day, _, coins, _ in placed])


@events.many(steps_verified_many)
async def steps_verified(session: AsyncSession, event: Event) -> None:
    await steps_verified_many(session, [event])


async def reward_confirmed(session: AsyncSession, event: Event) -> None:
    """Coins earned count today (Asia/Kolkata); points and cash do not."""
    try:
        asset = await ledger.get_asset(session, str(event.data["asset_code"]))
    except ledger_errors.AssetNotFound:
        return
    amount = int(event.data.get("amount", 0))
    if asset.kind != "coin" or amount <= 0:
        return
    user_id = uuid.UUID(str(event.data["user_id"]))
    member = await refresh_member(session, user_id)
    if member is not None:
        await score(session, store(session), "coins", user_id, today(), amount, member)


# -- reads ------------------------------------------------------------------------------------

async def _scope(session: AsyncSession, user_id: uuid.UUID, scope: Scope) -> str:
    if scope in (Scope.global_, Scope.friends):
        return scope.value
    member = await session.get(Member, user_id) or await refresh_member(session, user_id)
    if scope == Scope.city and member is not None and member.city:
        return f"city:{member.city}"
    if scope == Scope.college and member is not None and member.college_id:
        return f"college:{member.college_id}"
    raise errors.NoScope(field="scope")


async def _friends_board(session: AsyncSession, boards: Boards, key: str,
                         user_id: uuid.UUID) -> list[Entry]:
    # Not stored: the friends' scores are read from the global board of the period.
    return in_order(await boards.scores(key, [user_id, *await friends(session, user_id)]))


async def _shown(session: AsyncSession, entries: list[Entry]) -> list[EntryOut]:
    shown = await names(session, [e.user_id for e in entries])
    return [EntryOut(rank=e.rank, user_id=e.user_id, name=shown[e.user_id], score=e.score)
            for e in entries]


def _start(period: Period) -> dt.date | None:
    return period_start(period.value, today())


async def board(session: AsyncSession, user_id: uuid.UUID, metric: Metric, period: Period,
                scope: Scope, limit: int = 100, *, boards: Boards | None = None) -> BoardOut:
    """The current period's top `limit`."""
    boards = boards or store(session)
    where = await _scope(session, user_id, scope)
    start = _start(period)
    if scope == Scope.friends:
        key = board_key(metric.value, period.value, start, "global")
        entries = (await _friends_board(session, boards, key, user_id))[:limit]
    else:
        entries = await boards.top(board_key(metric.value, period.value, start, where), limit)
    return BoardOut(metric=metric, period=period, starts=start, scope=where,
                    entries=await _shown(session, entries))


async def standing(session: AsyncSession, user_id: uuid.UUID, metric: Metric, period: Period,
                   scope: Scope, around: int = 2, *, boards: Boards | None = None) -> StandingOut:
    """My rank and score in the current period, with `around` users above and below me."""
    boards = boards or store(session)
    where = await _scope(session, user_id, scope)
    start = _start(period)
    if scope == Scope.friends:
        key = board_key(metric.value, period.value, start, "global")
        ranked = await _friends_board(session, boards, key, user_id)
        at = next((i for i, e in enumerate(ranked) if e.user_id == user_id), None)
        near = [] if at is None else ranked[max(0, at - around):at + around + 1]
    else:
        near = await boards.around(board_key(metric.value, period.value, start, where),
                                   user_id, around)
    shown = await _shown(session, near)
    me = next((e for e in shown if e.user_id == user_id), None)
    return StandingOut(metric=metric, period=period, starts=start, scope=where, me=me,
                       around=shown)


async def history(session: AsyncSession, user_id: uuid.UUID, metric: Metric, period: Period,
                  start: dt.date, scope: Scope, limit: int = 100) -> BoardOut:
    """A closed period's final standing (its snapshot)."""
    if period == Period.alltime or scope == Scope.friends:
        raise errors.SnapshotNotFound(field="period" if period == Period.alltime else "scope")
    where = await _scope(session, user_id, scope)
    first = period_start(period.value, start)
    key = board_key(metric.value, period.value, first, where)
    closed = await session.get(Leaderboard, key)
    if closed is None or closed.closed_at is None:
        raise errors.SnapshotNotFound(field="start")
    rows = await session.scalars(select(LeaderboardSnapshot).where(
        LeaderboardSnapshot.board == key).order_by(LeaderboardSnapshot.rank).limit(limit))
    entries = [Entry(r.rank, r.user_id, r.score) for r in rows]
    return BoardOut(metric=metric, period=period, starts=first, scope=where,
                    entries=await _shown(session, entries))
