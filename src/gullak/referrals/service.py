"""Referrals commands and queries, the domain's public face. Services never commit; the
caller's unit of work does.

A referral is recorded when a user signs up with someone's code (`user.signed_up`), under the
active program's condition: the referee's first completed purchase order, first top-up, or a
number of steps (reported by the activity domain through `steps_reported`). When the condition
is met, in that event's unit of work, the referral is qualified, the referrer's referral tier
gives the multiplier, the rewards domain's rules of the `referral` trigger are evaluated for
each side, an ambassador's commission is paid, and the referral is rewarded: once, however
often the event is told, because the referral's row is locked and only a pending one moves.
Fraud checks are in fraud.py; colleges, students and ambassadors in students.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import errors as identity_errors
from gullak.identity import service as identity
from gullak.kit import audit, clock
from gullak.kit.events import Event
from gullak.kit.security import Subject
from gullak.kit.sql import Array, keyset_page, xact_lock
from gullak.referrals import errors, fraud
from gullak.referrals.common import REFERENCE, masked_name, phone_hash, progress, tier_for
from gullak.referrals.common import tiers as load_tiers
from gullak.referrals.models import Referral, ReferralProgram, ReferralRiskEvent, ReferralTier
from gullak.referrals.schemas import (
    Condition,
    Counts,
    MyReferralOut,
    MyReferralsOut,
    ProgramIn,
    ProgramOut,
    ReferralOut,
    ReferralPage,
    ReferralStatus,
    RiskEventOut,
    RiskEventPage,
    TierIn,
    TierOut,
)
from gullak.referrals.students import (
    active_ambassador,
    apply,
    claim_college,
    create_college,
    list_ambassadors,
    list_claims,
    list_colleges,
    my_ambassador,
    my_college,
    pay_commission,
    review_ambassador,
    review_claim,
    update_college,
    verified_colleges,
)
from gullak.rewards import service as rewards

__all__ = ["apply", "awaiting_steps", "claim_college", "create_college", "create_program", "create_tier",
           "delete_tier", "get_referral", "list_ambassadors", "list_claims", "list_colleges",
           "list_programs", "list_referrals", "list_risk_events", "list_tiers", "my_ambassador",
           "my_college", "my_referrals", "order_status_changed", "payment_succeeded",
           "review_ambassador", "review_claim", "steps_reported", "update_college",
           "update_program", "user_signed_up", "verified_colleges"]

DEFAULT_CONDITION = "first_order"  # when no program is active


# -- events -----------------------------------------------------------------------------------

async def user_signed_up(session: AsyncSession, event: Event) -> None:
    """A referral for a user who signed up with a code, checked for fraud at once. Nothing
    here refuses the sign-up: a suspicious referral is recorded as refused."""
    referrer_id = event.data.get("referred_by_id")
    if not referrer_id:
        return
    try:
        referee = await identity.get_user(session, uuid.UUID(str(event.data["user_id"])))
        referrer = await identity.get_user(session, uuid.UUID(str(referrer_id)))
    except identity_errors.UserNotFound:
        return
    program = await session.scalar(select(ReferralProgram).where(ReferralProgram.active))
    now = clock.now()
    device = event.data.get("device_id")
    referral = Referral(
        referrer_id=referrer.id, referee_id=referee.id, code=referrer.referral_code,
        program_id=program.id if program else None,
        condition=program.condition if program else DEFAULT_CONDITION,
        steps_required=program.steps_required if program else None, status="pending",
        device_id=str(device) if device else None, referee_phone_hash=phone_hash(referee.phone),
        ambassador_id=await active_ambassador(session, referrer.id), created_at=now,
        updated_at=now)
    try:
        async with session.begin_nested():  # a referee has one referral, whatever is retold
            session.add(referral)
            await session.flush()
    except IntegrityError:
        return
    finding = await fraud.at_sign_up(session, referral, phone_hash(referrer.phone))
    if finding is not None:
        await fraud.refuse(session, referral, finding)


async def order_status_changed(session: AsyncSession, event: Event) -> None:
    data = event.data
    if data.get("to_status") != "completed" or data.get("kind") != "purchase":
        return
    await _qualify(session, uuid.UUID(str(data["user_id"])), "first_order",
                   f"order:{data['order_id']}", int(data.get("total") or 0))


async def payment_succeeded(session: AsyncSession, event: Event) -> None:
    data = event.data
    if data.get("purpose") != "topup":
        return
    await _qualify(session, uuid.UUID(str(data["user_id"])), "first_topup",
                   f"payment:{data['payment_id']}", int(data.get("amount") or 0))


async def steps_reported(session: AsyncSession, user_id: uuid.UUID, total_steps: int) -> bool:
    """The activity domain tells a user's step count so far; True if it qualified a referral."""
    return await _qualify(session, user_id, "steps", f"steps:{total_steps}", None,
                          steps=total_steps)


async def awaiting_steps(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Of these users, the referees whose referral still waits for a step count: the only
    ones `steps_reported` could qualify (read for many users at once)."""
    return set(await session.scalars(text(
        "SELECT referee_id FROM referrals WHERE referee_id = ANY(:users)"
        " AND status = 'pending' AND condition = 'steps'"), {"users": Array(user_ids)}))


async def _qualify(session: AsyncSession, referee_id: uuid.UUID, condition: str, by: str,
                   amount: int | None, *, steps: int | None = None) -> bool:
    referral = await session.scalar(
        select(Referral).where(Referral.referee_id == referee_id).with_for_update()
        .execution_options(populate_existing=True))
    if referral is None or referral.status != "pending" or referral.condition != condition:
        return False
    if condition == "steps" and (steps or 0) < (referral.steps_required or 0):
        return False
    # One referrer's referrals qualify one at a time, so each gets its own count.
    await xact_lock(session, f"referrals:referrer:{referral.referrer_id}")
    finding = await fraud.at_qualification(session, referral)
    if finding is not None:
        await fraud.refuse(session, referral, finding)
        return False
    now = clock.now()
    rewarded = await session.scalar(select(func.count()).where(
        Referral.referrer_id == referral.referrer_id, Referral.status == "rewarded")) or 0
    count = rewarded + 1
    tier = tier_for(await load_tiers(session), count)
    referral.status, referral.qualified_at, referral.qualified_by = "qualified", now, by
    referral.qualifying_amount, referral.referral_count = amount, count
    referral.tier_label = tier.label if tier else None
    referral.multiplier_bp = tier.multiplier_bp if tier else 10_000
    await session.flush()
    for role, user_id in (("referrer", referral.referrer_id), ("referee", referral.referee_id)):
        await rewards.evaluate(session, "referral", user_id, {
            "role": role, "referral_id": str(referral.id), "referral_count": count,
            "multiplier_bp": referral.multiplier_bp},
            reference_type=REFERENCE, reference_id=str(referral.id))
    await pay_commission(session, referral)
    referral.status, referral.rewarded_at, referral.updated_at = "rewarded", now, now
    await session.flush()
    return True


# -- reading ----------------------------------------------------------------------------------

async def _counts(session: AsyncSession, *where: ColumnElement[bool]) -> Counts:
    rows = await session.execute(select(Referral.status, func.count()).where(*where)
                                 .group_by(Referral.status))
    return Counts(**{status: n for status, n in rows})


async def my_referrals(session: AsyncSession, user_id: uuid.UUID, cursor: str | None = None,
                       limit: int = 20) -> MyReferralsOut:
    me = await identity.get_user(session, user_id)
    counts = await _counts(session, Referral.referrer_id == user_id)
    rows, next_cursor = await keyset_page(session, select(Referral).where(
        Referral.referrer_id == user_id), Referral.id, cursor, limit)
    items = []
    for r in rows:
        try:
            name = (await identity.get_user(session, r.referee_id)).name
        except identity_errors.UserNotFound:
            name = None
        items.append(MyReferralOut(id=r.id, referee=masked_name(name),
                                   status=ReferralStatus(r.status),
                                   condition=Condition(r.condition), created_at=r.created_at,
                                   rewarded_at=r.rewarded_at))
    return MyReferralsOut(
        code=me.referral_code,
        share_text=f"Join me on Gullak: sign up with my code {me.referral_code} and we both"
                   " earn a reward.",
        counts=counts, tier=progress(await load_tiers(session), counts.rewarded), items=items,
        next_cursor=next_cursor)


async def list_referrals(session: AsyncSession, *, status: str | None = None,
                         referrer_id: uuid.UUID | None = None,
                         referee_id: uuid.UUID | None = None,
                         ambassador_id: uuid.UUID | None = None, cursor: str | None = None,
                         limit: int = 20) -> ReferralPage:
    query = select(Referral)
    for column, value in ((Referral.status, status), (Referral.referrer_id, referrer_id),
                          (Referral.referee_id, referee_id),
                          (Referral.ambassador_id, ambassador_id)):
        if value is not None:
            query = query.where(column == value)
    rows, next_cursor = await keyset_page(session, query, Referral.id, cursor, limit)
    return ReferralPage(items=[ReferralOut.model_validate(r) for r in rows],
                        next_cursor=next_cursor)


async def get_referral(session: AsyncSession, referral_id: uuid.UUID) -> ReferralOut:
    row = await session.get(Referral, referral_id)
    if row is None:
        raise errors.ReferralNotFound()
    return ReferralOut.model_validate(row)


async def list_risk_events(session: AsyncSession, *, kind: str | None = None,
                           user_id: uuid.UUID | None = None, cursor: str | None = None,
                           limit: int = 20) -> RiskEventPage:
    query = select(ReferralRiskEvent)
    if kind is not None:
        query = query.where(ReferralRiskEvent.kind == kind)
    if user_id is not None:
        query = query.where(ReferralRiskEvent.user_id == user_id)
    rows, next_cursor = await keyset_page(session, query, ReferralRiskEvent.id, cursor, limit)
    return RiskEventPage(items=[RiskEventOut.model_validate(r) for r in rows],
                         next_cursor=next_cursor)


# -- programs and tiers -----------------------------------------------------------------------

async def _save_program(session: AsyncSession, program: ReferralProgram,
                        data: ProgramIn) -> None:
    if data.active:  # one active program: turning one on turns the others off
        await session.execute(update(ReferralProgram).where(
            ReferralProgram.active, ReferralProgram.id != program.id).values(active=False))
    for name, value in data.model_dump().items():
        setattr(program, name, value)
    program.updated_at = clock.now()
    try:
        async with session.begin_nested():
            session.add(program)
            await session.flush()
    except IntegrityError:
        raise errors.ProgramExists(field="name") from None


async def create_program(session: AsyncSession, data: ProgramIn, actor: Subject) -> ProgramOut:
    program = ReferralProgram(created_at=clock.now())
    await _save_program(session, program, data)
    await audit.record(session, actor, "referral_program.create", "referral_program",
                       str(program.id), after=data.model_dump(mode="json"))
    return ProgramOut.model_validate(program)


async def update_program(session: AsyncSession, program_id: uuid.UUID, data: ProgramIn,
                         actor: Subject) -> ProgramOut:
    """Referrals already recorded keep the condition they were recorded under."""
    program = await session.get(ReferralProgram, program_id, with_for_update=True)
    if program is None:
        raise errors.ProgramNotFound()
    before = ProgramOut.model_validate(program).model_dump(mode="json")
    await _save_program(session, program, data)
    await audit.record(session, actor, "referral_program.update", "referral_program",
                       str(program.id), before=before, after=data.model_dump(mode="json"))
    return ProgramOut.model_validate(program)


async def list_programs(session: AsyncSession) -> list[ProgramOut]:
    rows = await session.scalars(select(ReferralProgram).order_by(ReferralProgram.id.desc()))
    return [ProgramOut.model_validate(p) for p in rows]


async def create_tier(session: AsyncSession, data: TierIn, actor: Subject) -> TierOut:
    now = clock.now()
    tier = ReferralTier(**data.model_dump(), created_at=now, updated_at=now)
    try:
        async with session.begin_nested():
            session.add(tier)
            await session.flush()
    except IntegrityError:
        raise errors.TierExists(field="min_referrals") from None
    await audit.record(session, actor, "referral_tier.create", "referral_tier", str(tier.id),
                       after=data.model_dump(mode="json"))
    return TierOut.model_validate(tier)


async def delete_tier(session: AsyncSession, tier_id: uuid.UUID, actor: Subject) -> None:
    tier = await session.get(ReferralTier, tier_id)
    if tier is None:
        raise errors.TierNotFound()
    before: dict[str, Any] = TierOut.model_validate(tier).model_dump(mode="json")
    await session.delete(tier)
    await session.flush()
    await audit.record(session, actor, "referral_tier.delete", "referral_tier", str(tier_id),
                       before=before)


async def list_tiers(session: AsyncSession) -> list[TierOut]:
    return [TierOut.model_validate(t) for t in await load_tiers(session)]


async def ring_facts(session: AsyncSession, referee_id: uuid.UUID, *,
                     depth: int = 10) -> tuple[str | None, int, list[uuid.UUID], bool]:
    """For the risk domain: the device a referee signed up from, how many referees signed up
    from it, the referrers above the referee (nearest first, at most `depth`), and whether
    the chain closes on itself or comes back to that device (one person referring their own
    accounts through others)."""
    mine = await session.scalar(select(Referral).where(Referral.referee_id == referee_id))
    if mine is None:
        return None, 0, [], False
    same_device = 0
    if mine.device_id:
        same_device = int(await session.scalar(select(func.count()).select_from(
            select(Referral.id).where(Referral.device_id == mine.device_id).limit(1_000)
            .subquery())) or 0)
    chain: list[uuid.UUID] = []
    seen = {referee_id}
    closed = False
    row: Referral | None = mine
    while row is not None and len(chain) < depth:
        chain.append(row.referrer_id)
        if row.referrer_id in seen:
            closed = True
            break
        seen.add(row.referrer_id)
        row = await session.scalar(select(Referral).where(Referral.referee_id == row.referrer_id))
        if row is not None and mine.device_id and row.device_id == mine.device_id:
            closed = True
            break
    return mine.device_id, same_device, chain, closed
