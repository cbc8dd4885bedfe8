"""Scoring: which boards a step day or a coin reward counts on, the store in use, and what the
boards show of a user (refreshed at each score)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.engagement.boards import Boards, PgBoards, RedisBoards, board_key, period_start
from gullak.engagement.models import Member
from gullak.identity import errors as identity_errors
from gullak.identity import service as identity
from gullak.kit import clock
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
    return PgBoards(session) if client is None else RedisBoards(client, REDIS_PREFIX)


def normal_city(city: str | None) -> str | None:
    found = " ".join((city or "").split()).lower()[:100]
    return found or None


def scopes(member: Member | None) -> list[str]:
    found = ["global"]
    if member is not None and member.city:
        found.append(f"city:{member.city}")
    if member is not None and member.college_id:
        found.append(f"college:{member.college_id}")
    return found


async def refresh_member(session: AsyncSession, user_id: uuid.UUID,
                         city: str | None = None) -> Member | None:
    """The user's display name, city (default address, else the one given) and verified
    college, saved for the boards; None for a user who no longer exists."""
    try:
        user = await identity.get_user(session, user_id)
    except identity_errors.UserNotFound:
        return None
    addresses = await identity.list_addresses(session, user_id)
    found_city = normal_city(addresses[0].city if addresses else None) or normal_city(city)
    claims = await referrals.my_college(session, user_id)
    college = next((c.college_id for c in claims if c.status == "verified"), None)
    values = {"name": user.name or user.username, "city": found_city, "college_id": college,
              "updated_at": clock.now()}
    await session.execute(insert(Member).values(user_id=user_id, **values)
                          .on_conflict_do_update(index_elements=["user_id"], set_=values))
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
                day: dt.date, delta: int, member: Member | None) -> None:
    if not delta:
        return
    found = boards_of(metric, day, scopes(member))
    live = await open_boards(session, metric, found)
    await boards.add([(b[0], user_id, delta) for b in found if b[0] in live])


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
