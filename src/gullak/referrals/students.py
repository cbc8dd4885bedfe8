"""Colleges, student verification and student ambassadors (ReZ).

A student claims a college with the number on their student ID and a reference to the uploaded
proof; an admin verifies or rejects the claim. A verified student may apply to be an
ambassador; an admin approves with a commission (their own, else the active program's). An
ambassador's qualified referrals pay that commission in INR into the ambassador's own
withdrawable account (purpose `commission`), from the platform's `referral_commission`
account, once per referral.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import service as identity
from gullak.kit import audit, clock
from gullak.kit.sql import Array
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountIn, OwnerType, TransferIn
from gullak.referrals import errors
from gullak.referrals.common import COMMISSION, COMMISSION_FUNDING, INR, ONE_X, REFERENCE
from gullak.referrals.models import (
    College,
    Referral,
    ReferralProgram,
    StudentAmbassador,
    UserCollege,
)
from gullak.referrals.schemas import (
    AmbassadorOut,
    AmbassadorReviewIn,
    ClaimIn,
    ClaimOut,
    CollegeIn,
    CollegeOut,
    Counts,
    MyAmbassadorOut,
    ReviewIn,
)

# -- colleges ---------------------------------------------------------------------------------


async def _college(session: AsyncSession, college_id: uuid.UUID) -> College:
    college = await session.get(College, college_id)
    if college is None:
        raise errors.CollegeNotFound(field="college_id")
    return college


async def _taken(session: AsyncSession, data: CollegeIn, other: uuid.UUID | None) -> None:
    clash = await session.scalar(select(College.id).where(
        func.lower(College.name) == data.name.lower(), func.lower(College.city) == data.city.lower(),
        College.id != other if other else College.id.is_not(None)))
    if clash is not None:
        raise errors.CollegeExists(field="name")


async def create_college(session: AsyncSession, data: CollegeIn, actor: Subject) -> CollegeOut:
    await _taken(session, data, None)
    now = clock.now()
    college = College(**data.model_dump(), created_at=now, updated_at=now)
    session.add(college)
    await session.flush()
    await audit.record(session, actor, "college.create", "college", str(college.id),
                       after=data.model_dump(mode="json"))
    return CollegeOut.model_validate(college)


async def update_college(session: AsyncSession, college_id: uuid.UUID, data: CollegeIn,
                         actor: Subject) -> CollegeOut:
    college = await _college(session, college_id)
    await _taken(session, data, college.id)
    before = CollegeOut.model_validate(college).model_dump(mode="json")
    for name, value in data.model_dump().items():
        setattr(college, name, value)
    college.updated_at = clock.now()
    await session.flush()
    await audit.record(session, actor, "college.update", "college", str(college.id),
                       before=before, after=data.model_dump(mode="json"))
    return CollegeOut.model_validate(college)


async def list_colleges(session: AsyncSession, *, active_only: bool = False,
                        city: str | None = None) -> list[CollegeOut]:
    query = select(College).order_by(College.name, College.id)
    if active_only:
        query = query.where(College.status == "active")
    if city:
        query = query.where(func.lower(College.city) == city.lower())
    return [CollegeOut.model_validate(c) for c in await session.scalars(query.limit(500))]


# -- student verification ---------------------------------------------------------------------

async def claim_college(session: AsyncSession, user_id: uuid.UUID, data: ClaimIn) -> ClaimOut:
    college = await _college(session, data.college_id)
    if college.status != "active":
        raise errors.CollegeUnavailable(field="college_id")
    now = clock.now()
    claim = UserCollege(user_id=user_id, college_id=college.id,
                        student_id_number=data.student_id_number, document_ref=data.document_ref,
                        status="pending", created_at=now, updated_at=now)
    try:
        async with session.begin_nested():  # one live claim per user, whatever races
            session.add(claim)
            await session.flush()
    except IntegrityError:
        raise errors.ClaimExists() from None
    return ClaimOut.model_validate(claim)


async def my_college(session: AsyncSession, user_id: uuid.UUID) -> list[ClaimOut]:
    rows = await session.scalars(select(UserCollege).where(UserCollege.user_id == user_id)
                                 .order_by(UserCollege.id.desc()).limit(50))
    return [ClaimOut.model_validate(c) for c in rows]


async def verified_colleges(session: AsyncSession, user_ids: Sequence[uuid.UUID]
                            ) -> dict[uuid.UUID, uuid.UUID]:
    """Each user's college by their latest verified claim, for many users in one read."""
    rows = await session.execute(text(
        "SELECT DISTINCT ON (user_id) user_id, college_id FROM user_colleges"
        " WHERE user_id = ANY(:users) AND status = 'verified' ORDER BY user_id, id DESC"),
        {"users": Array(user_ids)})
    return {u: c for u, c in rows}


async def list_claims(session: AsyncSession, status: str | None, limit: int) -> list[ClaimOut]:
    """The review queue: oldest first, so claims are reviewed in the order they came."""
    query = select(UserCollege).order_by(UserCollege.id).limit(limit)
    if status is not None:
        query = query.where(UserCollege.status == status)
    return [ClaimOut.model_validate(c) for c in await session.scalars(query)]


async def review_claim(session: AsyncSession, claim_id: uuid.UUID, data: ReviewIn,
                       actor: Subject) -> ClaimOut:
    claim = await session.get(UserCollege, claim_id, with_for_update=True,
                              populate_existing=True)
    if claim is None:
        raise errors.ClaimNotFound()
    if claim.status != "pending":
        raise errors.AlreadyReviewed(status=claim.status)
    claim.status = "verified" if data.decision == "approve" else "rejected"
    claim.reason, claim.reviewed_by, claim.reviewed_at = data.reason, actor.id, clock.now()
    claim.updated_at = claim.reviewed_at
    await session.flush()
    await audit.record(session, actor, f"student_verification.{data.decision}",
                       "user_college", str(claim.id), before={"status": "pending"},
                       after={"status": claim.status, "reason": data.reason})
    return ClaimOut.model_validate(claim)


# -- ambassadors ------------------------------------------------------------------------------

async def apply(session: AsyncSession, user_id: uuid.UUID) -> AmbassadorOut:
    claim = await session.scalar(select(UserCollege).where(
        UserCollege.user_id == user_id, UserCollege.status == "verified"))
    if claim is None:
        raise errors.NotAStudent()
    code = (await identity.get_user(session, user_id)).referral_code
    now = clock.now()
    row = StudentAmbassador(user_id=user_id, college_id=claim.college_id, code=code,
                            status="applied", created_at=now, updated_at=now)
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise errors.AmbassadorExists() from None
    return AmbassadorOut.model_validate(row)


async def list_ambassadors(session: AsyncSession, status: str | None,
                           limit: int) -> list[AmbassadorOut]:
    query = select(StudentAmbassador).order_by(StudentAmbassador.id).limit(limit)
    if status is not None:
        query = query.where(StudentAmbassador.status == status)
    return [AmbassadorOut.model_validate(a) for a in await session.scalars(query)]


async def review_ambassador(session: AsyncSession, ambassador_id: uuid.UUID,
                            data: AmbassadorReviewIn, actor: Subject) -> AmbassadorOut:
    row = await session.get(StudentAmbassador, ambassador_id, with_for_update=True,
                            populate_existing=True)
    if row is None:
        raise errors.AmbassadorNotFound()
    if row.status != "applied":
        raise errors.AlreadyReviewed(status=row.status)
    now = clock.now()
    if data.decision == "approve":
        row.status, row.appointed_by, row.appointed_at = "active", actor.id, now
        row.commission_amount, row.commission_bp = data.commission_amount, data.commission_bp
    else:
        row.status = "rejected"
    row.reason, row.updated_at = data.reason, now
    await session.flush()
    await audit.record(session, actor, f"ambassador.{data.decision}", "student_ambassador",
                       str(row.id), before={"status": "applied"},
                       after=data.model_dump(mode="json"))
    return AmbassadorOut.model_validate(row)


async def active_ambassador(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(select(StudentAmbassador.id).where(
        StudentAmbassador.user_id == user_id, StudentAmbassador.status == "active"))


async def commission_account(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID:
    return (await ledger.open_account(session, AccountIn(
        asset_code=INR, owner_type=OwnerType.user, owner_id=user_id, purpose=COMMISSION))).id


def commission_of(row: StudentAmbassador, program: ReferralProgram | None,
                  qualifying_amount: int | None) -> int:
    """The ambassador's own terms if either is set, else the program's: a fixed amount plus a
    share of what qualified the referral (an order's total, a top-up's amount)."""
    if row.commission_amount is not None or row.commission_bp is not None:
        fixed, bp = row.commission_amount or 0, row.commission_bp or 0
    elif program is not None:
        fixed, bp = program.commission_amount, program.commission_bp
    else:
        fixed, bp = 0, 0
    return fixed + (qualifying_amount or 0) * bp // ONE_X


async def pay_commission(session: AsyncSession, referral: Referral) -> None:
    """Once per referral: the transfer's key is the referral's, so a retry pays nothing more."""
    if referral.ambassador_id is None:
        return
    row = await session.get(StudentAmbassador, referral.ambassador_id)
    if row is None or row.status != "active":
        return
    program = (await session.get(ReferralProgram, referral.program_id)
               if referral.program_id else None)
    amount = commission_of(row, program, referral.qualifying_amount)
    if amount <= 0:
        return
    funding = await ledger.platform_account(session, INR, COMMISSION_FUNDING)
    moved = await ledger.transfer(session, TransferIn(
        debit_account_id=funding.id, credit_account_id=await commission_account(session,
                                                                                 row.user_id),
        asset_code=INR, amount=amount, kind="referral_commission", reference_type=REFERENCE,
        reference_id=str(referral.id), metadata={"ambassador_id": str(row.id)}),
        idempotency_key=f"referral:{referral.id}:commission")
    referral.commission, referral.commission_transfer_id = amount, moved.id


async def my_ambassador(session: AsyncSession, user_id: uuid.UUID) -> MyAmbassadorOut:
    row = await session.scalar(select(StudentAmbassador).where(
        StudentAmbassador.user_id == user_id))
    if row is None:
        raise errors.AmbassadorNotFound()
    counts = Counts(**{status: n for status, n in await session.execute(
        select(Referral.status, func.count()).where(Referral.ambassador_id == row.id)
        .group_by(Referral.status))})
    earned = await session.scalar(select(func.coalesce(func.sum(Referral.commission), 0)).where(
        Referral.ambassador_id == row.id))
    account = await ledger.find_account(session, OwnerType.user, user_id, INR, COMMISSION)
    balance = (await ledger.balance(session, account.id)).available if account else 0
    return MyAmbassadorOut(ambassador=AmbassadorOut.model_validate(row), referrals=counts,
                           commission_earned=int(earned or 0), commission_balance=balance)
