"""Scoring: which boards a step day or a coin reward counts on, the store in use, and what the
boards show of a user (refreshed at each score)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.engagement.boards import Boards, PgBoards, RedisBoards, board_key, period_start
from gullak.engagement.models import Member
from gullak.identity import errors as identity_errors
from gullak.identity import service as identity
from gullak.kit import clock
from gullak.kit.sql import Array
from gullak.referrals import service as referrals
from gullak.system import service as system

ZONE = ZoneInfo("Asia/Kolkata")  # periods are FitKart's calendar weeks and months
PERIODS = ("weekly", "monthly", "alltime")
REDIS_PREFIX = "gullak:"  # keys: gullak:leaderboard:{metric}:{period}:{start}:{scope}


def today() -> dt.date:
    return clock.now().astimezone(ZONE).date()


def store(session: AsyncSession) -> Boards:
    """Redis sorted sets when GULLAK_REDIS_URL is set, else the database."""
    client = system.redis_client()
    return (PgBoards(session) if client is None
            else RedisBoards(client, REDIS_PREFIX, session=session))


def normal_city(city: str | None) -> str | None:
    found = " ".join((city or "").split()).lower()[:100]
    return found or None


class Placed(Protocol):
    """Where a user ranks: a member row, or what `refresh_members` returns."""

    @property
    def city(self) -> str | None: ...

    @property
    def college_id(self) -> uuid.UUID | None: ...


@dataclass(frozen=True)
class Shown:
    user_id: uuid.UUID
    name: str | None
    city: str | None
    college_id: uuid.UUID | None


def scopes(member: Placed | None) -> list[str]:
    found = ["global"]
    if member is not None and member.city:
        found.append(f"city:{member.city}")
    if member is not None and member.college_id:
        found.append(f"college:{member.college_id}")
    return found


_MEMBERS = text("""
INSERT INTO engagement_members AS m (user_id, name, city, college_id, updated_at)
SELECT u, n, c, k, :now FROM unnest(CAST(:users AS uuid[]), CAST(:names AS text[]),
                                    CAST(:cities AS text[]), CAST(:colleges AS uuid[]))
  AS t(u, n, c, k)
ORDER BY u
ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, city = excluded.city,
  college_id = excluded.college_id, updated_at = excluded.updated_at
WHERE (m.name, m.city, m.college_id) IS DISTINCT FROM
      (excluded.name, excluded.city, excluded.college_id)
""")


async def refresh_members(session: AsyncSession,
                          cities: Mapping[uuid.UUID, str | None]) -> dict[uuid.UUID, Shown]:
    """What the boards show of each user, saved: display name, city (the first address's,
    else the one given) and verified college, for many users in three reads and one write;
    users that no longer exist are left out."""
    facts = await identity.names_and_cities(session, list(cities))
    if not facts:
        return {}
    colleges = await referrals.verified_colleges(session, list(facts))
    shown = {u: Shown(u, facts[u][0], normal_city(facts[u][1]) or normal_city(cities[u]),
                      colleges.get(u)) for u in sorted(facts)}
    # A row that would not change is not written (most days, for most users).
    await session.execute(_MEMBERS, {
        "now": clock.now(), "users": Array(list(shown)),
        "names": Array([m.name for m in shown.values()]),
        "cities": Array([m.city for m in shown.values()]),
        "colleges": Array([m.college_id for m in shown.values()])})
    return shown


async def refresh_member(session: AsyncSession, user_id: uuid.UUID,
                         city: str | None = None) -> Member | None:
    """`refresh_members` for one user, as the row the session holds."""
    if not await refresh_members(session, {user_id: city}):
        return None
    return await session.get(Member, user_id, populate_existing=True)


def boards_of(metric: str, day: dt.date, scope_list: Sequence[str]) -> list[tuple[str, str, dt.date | None, str]]:
    """(key, period, start, scope) of every board a score of `day` counts on."""
    found = []
    for period in PERIODS:
        start = period_start(period, day)
        found += [(board_key(metric, period, start, s), period, start, s) for s in scope_list]
    return found


_REGISTER = text("""
INSERT INTO leaderboards (board, metric, period, starts, scope, created_at)
SELECT b, :metric, p, s, sc, :now FROM unnest(CAST(:boards AS text[]), CAST(:periods AS text[]),
                                             CAST(:starts AS date[]), CAST(:scopes AS text[]))
  AS t(b, p, s, sc)
ON CONFLICT (board) DO NOTHING
""")


async def open_boards(session: AsyncSession, metric: str,
                      boards: Sequence[tuple[str, str, dt.date | None, str]]) -> set[str]:
    """Registers the boards; returns those still open (a closed period takes no scores: its
    snapshot is final, prizes may be paid on it)."""
    await session.execute(_REGISTER, {
        "metric": metric, "now": clock.now(), "boards": [b[0] for b in boards],
        "periods": [b[1] for b in boards], "starts": [b[2] for b in boards],
        "scopes": [b[3] for b in boards]})
    closed = set(await session.scalars(text(
        "SELECT board FROM leaderboards WHERE board = ANY(:boards) AND closed_at IS NOT NULL"),
        {"boards": [b[0] for b in boards]}))
    return {b[0] for b in boards} - closed


async def score(session: AsyncSession, boards: Boards, metric: str, user_id: uuid.UUID,
                day: dt.date, delta: int, member: Placed | None) -> None:
    await score_many(session, boards, metric, [(user_id, day, delta, member)])


async def score_many(session: AsyncSession, boards: Boards, metric: str,
                     items: Sequence[tuple[uuid.UUID, dt.date, int, Placed | None]]) -> None:
    """Each (user, day, delta, where the user ranks) counts on every open board of its day:
    the boards registered once for the batch, the entries added in one write."""
    # Most users of a batch share a day and their scopes: their boards are made once.
    made: dict[tuple[dt.date, tuple[str, ...]], list[tuple[str, str, dt.date | None, str]]] = {}
    found = []
    for user_id, day, delta, member in items:
        if delta:
            key = (day, tuple(scopes(member)))
            on = made.get(key)
            if on is None:
                on = made[key] = boards_of(metric, day, key[1])
            found += [(b, user_id, delta) for b in on]
    if not found:
        return
    live = await open_boards(session, metric, list({b[0]: b for b, _, _ in found}.values()))
    await boards.add([(b[0], user_id, delta) for b, user_id, delta in found if b[0] in live])


async def names(session: AsyncSession, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    ids = list(set(user_ids))
    found: dict[uuid.UUID, str | None] = dict(
        (await session.execute(select(Member.user_id, Member.name)
                               .where(Member.user_id.in_(ids)))).all()) if ids else {}
    for user_id in ids:  # never scored yet (a follow): read identity, a bounded few
        if user_id not in found:
            try:
                user = await identity.get_user(session, user_id)
                found[user_id] = user.name or user.username
            except identity_errors.UserNotFound:
                found[user_id] = None
    return found
