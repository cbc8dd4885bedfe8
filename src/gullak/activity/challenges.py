"""Step challenges: created (by the back office, or by users among friends), joined with the
entry fee held on the user's coins (a ledger hold), ranked by steps within the window from
the days' summaries, and finished: the fees captured into the platform's pool account, the
sponsor's amount added, the pool paid by rank; or cancelled, the holds released.

Ranking and prizes, deterministic:
- a day counts its verified steps once it is settled, its running count before;
- equal steps share a rank; tied entrants share the prizes of the places they occupy in
  equal parts, the remainder going to the earliest joiner among them;
- what the split leaves (rounding, places with no one) goes to the first place;
- a team's prize is shared by its members the same way (equal parts, remainder to the
  earliest joiner).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import errors, steps
from gullak.activity.models import Challenge, DaySummary, Participant
from gullak.activity.schemas import (
    ChallengeIn,
    ChallengeKind,
    ChallengeList,
    ChallengeOut,
    StandingOut,
)
from gullak.kit import audit, clock
from gullak.kit.ids import human_code
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import CaptureIn, HoldIn, TransferIn
from gullak.settings import get_settings

REFERENCE = "challenge"
POOL = "challenge_pool"
SPONSOR = "challenge_sponsorship"
TEAMS = ("college", "company")
HOLD_GRACE = dt.timedelta(days=30)  # a hold outlives the end by this, for a late finish


@dataclass
class Entrant:
    name: str
    joined_at: dt.datetime
    members: list[Participant] = field(default_factory=list)
    steps: int = 0
    rank: int = 0
    prize: int = 0


def _out(c: Challenge, participants: int, standings: list[Entrant] | None = None) -> ChallengeOut:
    return ChallengeOut(
        id=c.id, code=c.code, title=c.title, kind=ChallengeKind(c.kind), starts_on=c.starts_on,
        ends_on=c.ends_on, asset_code=c.asset_code, entry_fee=c.entry_fee,
        sponsor_amount=c.sponsor_amount, prize_split_bp=[int(x) for x in c.prize_split_bp],
        max_participants=c.max_participants, participants=participants, status=c.status,
        standings=[StandingOut(rank=e.rank, name=e.name, steps=e.steps, members=len(e.members),
                               prize=e.prize) for e in standings or []])


async def _get(session: AsyncSession, challenge_id: uuid.UUID, *,
               lock: bool = False) -> Challenge:
    query = select(Challenge).where(Challenge.id == challenge_id)
    if lock:
        query = query.with_for_update()
    found = await session.scalar(query.execution_options(populate_existing=True))
    if found is None:
        raise errors.ChallengeNotFound(field="challenge_id")
    return found


async def create(session: AsyncSession, data: ChallengeIn, actor: Subject) -> ChallengeOut:
    by_user = actor.kind == "user"
    if by_user and (data.kind != ChallengeKind.friends or data.sponsor_amount):
        raise errors.ChallengeNotAllowed(
            "Users create friends challenges, without a sponsor's amount.", field="kind")
    if clock.now() >= steps.closes_at(data.ends_on):
        raise errors.InvalidChallenge("The challenge would be over already.", field="ends_on")
    c = Challenge(code=await human_code(session, "CHL", "challenge_code_seq"),
                  title=data.title, kind=data.kind.value, starts_on=data.starts_on,
                  ends_on=data.ends_on, asset_code=get_settings().activity_asset,
                  entry_fee=data.entry_fee, sponsor_amount=data.sponsor_amount,
                  prize_split_bp=list(data.prize_split_bp),
                  max_participants=data.max_participants, status="open",
                  created_by=actor.id, created_by_kind=actor.kind)
    session.add(c)
    await session.flush()
    out = _out(c, 0)
    if not by_user:
        await audit.record(session, actor, "activity.challenge.create", "challenge", str(c.id),
                           after=out.model_dump(mode="json"))
    return out


async def join(session: AsyncSession, challenge_id: uuid.UUID, user_id: uuid.UUID,
               team: str | None) -> ChallengeOut:
    c = await _get(session, challenge_id, lock=True)  # joins queue here: the cap holds
    now = clock.now()
    if c.status != "open" or now >= steps.closes_at(c.starts_on):
        raise errors.ChallengeClosed()
    if (c.kind in TEAMS) != (team is not None):
        raise errors.InvalidChallenge("College and company challenges are joined with a team,"
                                      " others without.", field="team")
    if await session.get(Participant, (c.id, user_id)) is not None:
        raise errors.AlreadyJoined()
    count = await _count(session, c.id)
    if count >= c.max_participants:
        raise errors.ChallengeFull()
    hold_id = None
    if c.entry_fee:
        main = await ledger.user_account(session, user_id, c.asset_code)
        hold = await ledger.place_hold(session, HoldIn(
            account_id=main.id, asset_code=c.asset_code, amount=c.entry_fee,
            expires_at=steps.closes_at(c.ends_on) + HOLD_GRACE, reference_type=REFERENCE,
            reference_id=str(c.id)), idempotency_key=f"{REFERENCE}:{c.id}:{user_id}:join")
        hold_id = hold.id
    session.add(Participant(challenge_id=c.id, user_id=user_id, team=team, hold_id=hold_id,
                            joined_at=now))
    await session.flush()
    return _out(c, count + 1)


async def _count(session: AsyncSession, challenge_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).select_from(Participant).where(
        Participant.challenge_id == challenge_id)) or 0)


async def standings(session: AsyncSession, c: Challenge) -> list[Entrant]:
    counted = case((DaySummary.status == "open", DaySummary.steps),
                   else_=DaySummary.verified_steps)
    totals = select(DaySummary.user_id, func.sum(counted).label("steps")).where(
        DaySummary.day >= c.starts_on, DaySummary.day <= c.ends_on).group_by(
        DaySummary.user_id).subquery()
    rows = (await session.execute(select(Participant, func.coalesce(totals.c.steps, 0))
                                  .outerjoin(totals, totals.c.user_id == Participant.user_id)
                                  .where(Participant.challenge_id == c.id)
                                  .order_by(Participant.joined_at, Participant.user_id))).all()
    entrants: dict[str, Entrant] = {}
    for p, n in rows:
        p.steps = int(n)
        name = p.team if c.kind in TEAMS and p.team else str(p.user_id)
        e = entrants.setdefault(name, Entrant(name=name, joined_at=p.joined_at))
        e.members.append(p)
        e.steps += int(n)
    ranked = sorted(entrants.values(), key=lambda e: (-e.steps, e.joined_at, e.name))
    for i, e in enumerate(ranked):
        e.rank = ranked[i - 1].rank if i and ranked[i - 1].steps == e.steps else i + 1
    return ranked


def share(amount: int, parts: int) -> list[int]:
    """`amount` in `parts` equal shares, the remainder to the first (the earliest joiner)."""
    each = amount // parts
    return [each + amount - each * parts] + [each] * (parts - 1)


def award(ranked: list[Entrant], pool: int, split_bp: list[int]) -> None:
    """Set each entrant's prize (see the module's rules)."""
    places = [pool * bp // 10_000 for bp in split_bp]
    i = 0
    while i < len(ranked):
        tied = [e for e in ranked[i:] if e.steps == ranked[i].steps]
        amount = sum(places[i:i + len(tied)])
        for e, part in zip(tied, share(amount, len(tied))):  # ranked earliest joiner first
            e.prize = part
        i += len(tied)
    if ranked:
        ranked[0].prize += pool - sum(e.prize for e in ranked)


async def finish(session: AsyncSession, challenge_id: uuid.UUID) -> ChallengeOut:
    """Capture the fees into the pool, add the sponsor's amount, pay by rank."""
    c = await _get(session, challenge_id, lock=True)
    if c.status != "open":
        raise errors.ChallengeClosed()
    if clock.now() < steps.closes_at(c.ends_on):
        raise errors.ChallengeNotOver()
    ranked = await standings(session, c)
    pool = (await ledger.platform_account(session, c.asset_code, POOL)).id
    members = [p for e in ranked for p in e.members]
    for p in members:
        if p.hold_id is not None:
            await ledger.capture(session, p.hold_id, CaptureIn(
                credit_account_id=pool, kind="challenge_entry", reference_type=REFERENCE,
                reference_id=str(c.id)), idempotency_key=f"{REFERENCE}:{c.id}:{p.user_id}:fee")
    total = c.entry_fee * sum(1 for p in members if p.hold_id is not None)
    if c.sponsor_amount and members:
        sponsor = (await ledger.platform_account(session, c.asset_code, SPONSOR)).id
        await ledger.transfer(session, TransferIn(
            debit_account_id=sponsor, credit_account_id=pool, asset_code=c.asset_code,
            amount=c.sponsor_amount, kind="challenge_sponsor", reference_type=REFERENCE,
            reference_id=str(c.id)), idempotency_key=f"{REFERENCE}:{c.id}:sponsor")
        total += c.sponsor_amount
    award(ranked, total, [int(x) for x in c.prize_split_bp])
    for e in ranked:
        for p, prize in zip(e.members, share(e.prize, len(e.members))):
            p.rank, p.prize = e.rank, prize
            if prize:
                main = await ledger.user_account(session, p.user_id, c.asset_code)
                await ledger.transfer(session, TransferIn(
                    debit_account_id=pool, credit_account_id=main.id, asset_code=c.asset_code,
                    amount=prize, kind="challenge_prize", reference_type=REFERENCE,
                    reference_id=str(c.id)),
                    idempotency_key=f"{REFERENCE}:{c.id}:{p.user_id}:prize")
    c.status, c.finished_at = "finished", clock.now()
    await session.flush()
    return _out(c, len(members), ranked)


async def finish_due(session: AsyncSession, *, limit: int = 10) -> int:
    """Finish challenges whose last day is over everywhere; returns how many."""
    now = clock.now()
    due = list((await session.scalars(select(Challenge.id).where(
        Challenge.status == "open",
        Challenge.ends_on < (now - dt.timedelta(hours=12)).date())
        .order_by(Challenge.ends_on, Challenge.id).limit(limit))).all())
    for challenge_id in due:
        await finish(session, challenge_id)
    return len(due)


async def cancel(session: AsyncSession, challenge_id: uuid.UUID, actor: Subject) -> ChallengeOut:
    c = await _get(session, challenge_id, lock=True)
    if c.status != "open":
        raise errors.ChallengeClosed()
    members = list(await session.scalars(select(Participant).where(
        Participant.challenge_id == c.id).order_by(Participant.joined_at)))
    for p in members:
        if p.hold_id is not None:
            await ledger.release(session, p.hold_id,
                                 idempotency_key=f"{REFERENCE}:{c.id}:{p.user_id}:release")
    before = _out(c, len(members)).model_dump(mode="json")
    c.status = "cancelled"
    await session.flush()
    out = _out(c, len(members))
    await audit.record(session, actor, "activity.challenge.cancel", "challenge", str(c.id),
                       before=before, after=out.model_dump(mode="json"))
    return out


async def get(session: AsyncSession, challenge_id: uuid.UUID) -> ChallengeOut:
    c = await _get(session, challenge_id)
    ranked = await standings(session, c)
    if c.status == "finished":  # the prizes as paid
        for e in ranked:
            e.prize = sum(p.prize for p in e.members)
    return _out(c, sum(len(e.members) for e in ranked), ranked)


async def listed(session: AsyncSession, *, include_friends: bool = False,
                 status: str | None = "open") -> ChallengeList:
    """Challenges, soonest end first (friends challenges are joined by their id only)."""
    query = select(Challenge, select(func.count()).where(
        Participant.challenge_id == Challenge.id).correlate(Challenge).scalar_subquery())
    if not include_friends:
        query = query.where(Challenge.kind != "friends")
    if status is not None:
        query = query.where(Challenge.status == status)
    rows = (await session.execute(query.order_by(Challenge.ends_on, Challenge.id)
                                  .limit(200))).all()
    return ChallengeList(items=[_out(c, n) for c, n in rows])


async def mine(session: AsyncSession, user_id: uuid.UUID) -> ChallengeList:
    rows = (await session.execute(select(Challenge).join(
        Participant, Participant.challenge_id == Challenge.id).where(
        Participant.user_id == user_id).order_by(Challenge.ends_on.desc()).limit(200))).all()
    return ChallengeList(items=[await get(session, c.id) for (c,) in rows])
