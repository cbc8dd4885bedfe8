"""Referrals HTTP API: a user's referrals and referral tier, college claims and the ambassador
programme (/v1/me/...), the colleges to choose from (/v1/colleges), and the back office's
referrals, risk events, programs, tiers, colleges, student verifications and ambassadors
(/v1/admin/...)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from gullak.db.uow import SessionDep
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require, require_kind
from gullak.referrals import service
from gullak.referrals.schemas import (
    AmbassadorOut,
    AmbassadorReviewIn,
    AmbassadorStatus,
    ClaimIn,
    ClaimOut,
    ClaimStatus,
    CollegeIn,
    CollegeOut,
    MyAmbassadorOut,
    MyReferralsOut,
    ProgramIn,
    ProgramOut,
    ReferralOut,
    ReferralPage,
    ReferralStatus,
    ReviewIn,
    RiskEventPage,
    TierIn,
    TierOut,
)

router = APIRouter(tags=["referrals"])
User = Annotated[Subject, require_kind("user")]
CanRead = Annotated[Subject, require("referrals.read")]
CanManage = Annotated[Subject, require("referrals.manage")]
Limit = Annotated[int, Query(ge=1, le=100)]
City = Annotated[Text | None, Query(min_length=1, max_length=100)]
Kind = Annotated[Text | None, Query(min_length=1, max_length=50)]


# -- users ------------------------------------------------------------------------------------

@router.get("/v1/me/referrals", responses=errors(422),
            summary="My referral code, counts, referral tier and referrals, newest first")
async def my_referrals(subject: User, session: SessionDep, cursor: Text | None = None,
                       limit: Limit = 20) -> MyReferralsOut:
    return await service.my_referrals(session, subject.id, cursor, limit)


@router.get("/v1/colleges", summary="Colleges taking students")
async def colleges(_: User, session: SessionDep, city: City = None) -> list[CollegeOut]:
    return await service.list_colleges(session, active_only=True, city=city)


@router.post("/v1/me/college", status_code=201, responses=errors(404, 409, 422),
             summary="Claim a college with my student ID number and its uploaded proof")
async def claim_college(body: ClaimIn, subject: User, session: SessionDep) -> ClaimOut:
    return await service.claim_college(session, subject.id, body)


@router.get("/v1/me/college", summary="My college claims, newest first")
async def my_college(subject: User, session: SessionDep) -> list[ClaimOut]:
    return await service.my_college(session, subject.id)


@router.post("/v1/me/ambassador", status_code=201, responses=errors(409, 422),
             summary="Apply to be a student ambassador (verified students)")
async def apply(subject: User, session: SessionDep) -> AmbassadorOut:
    return await service.apply(session, subject.id)


@router.get("/v1/me/ambassador", responses=errors(404),
            summary="My ambassador code, referrals and commission earned")
async def my_ambassador(subject: User, session: SessionDep) -> MyAmbassadorOut:
    return await service.my_ambassador(session, subject.id)


# -- back office: referrals -------------------------------------------------------------------

@router.get("/v1/admin/referrals", responses=errors(422), summary="Referrals, newest first")
async def list_referrals(_: CanRead, session: SessionDep, status: ReferralStatus | None = None,
                         referrer_id: uuid.UUID | None = None,
                         referee_id: uuid.UUID | None = None,
                         ambassador_id: uuid.UUID | None = None, cursor: Text | None = None,
                         limit: Limit = 20) -> ReferralPage:
    return await service.list_referrals(session, status=status, referrer_id=referrer_id,
                                        referee_id=referee_id, ambassador_id=ambassador_id,
                                        cursor=cursor, limit=limit)


@router.get("/v1/admin/referrals/{referral_id}", responses=errors(404))
async def get_referral(referral_id: uuid.UUID, _: CanRead, session: SessionDep) -> ReferralOut:
    return await service.get_referral(session, referral_id)


@router.get("/v1/admin/referral-risk-events", responses=errors(422),
            summary="Refused referrals' risk events, newest first")
async def list_risk_events(_: CanRead, session: SessionDep, kind: Kind = None,
                           user_id: uuid.UUID | None = None, cursor: Text | None = None,
                           limit: Limit = 20) -> RiskEventPage:
    return await service.list_risk_events(session, kind=kind, user_id=user_id, cursor=cursor,
                                          limit=limit)


@router.get("/v1/admin/referral-programs")
async def list_programs(_: CanRead, session: SessionDep) -> list[ProgramOut]:
    return await service.list_programs(session)


@router.post("/v1/admin/referral-programs", status_code=201, responses=errors(409, 422),
             summary="A referral program: the referee's condition and ambassador commission")
async def create_program(body: ProgramIn, actor: CanManage, session: SessionDep) -> ProgramOut:
    return await service.create_program(session, body, actor)


@router.put("/v1/admin/referral-programs/{program_id}", responses=errors(404, 409, 422))
async def update_program(program_id: uuid.UUID, body: ProgramIn, actor: CanManage,
                         session: SessionDep) -> ProgramOut:
    return await service.update_program(session, program_id, body, actor)


@router.get("/v1/admin/referral-tiers")
async def list_tiers(_: CanRead, session: SessionDep) -> list[TierOut]:
    return await service.list_tiers(session)


@router.post("/v1/admin/referral-tiers", status_code=201, responses=errors(409, 422),
             summary="A referral tier: from this many rewarded referrals, this multiplier")
async def create_tier(body: TierIn, actor: CanManage, session: SessionDep) -> TierOut:
    return await service.create_tier(session, body, actor)


@router.delete("/v1/admin/referral-tiers/{tier_id}", status_code=204, responses=errors(404))
async def delete_tier(tier_id: uuid.UUID, actor: CanManage, session: SessionDep) -> Response:
    await service.delete_tier(session, tier_id, actor)
    return Response(status_code=204)


# -- back office: colleges, students, ambassadors ---------------------------------------------

@router.get("/v1/admin/colleges")
async def list_colleges(_: CanRead, session: SessionDep, city: City = None) -> list[CollegeOut]:
    return await service.list_colleges(session, city=city)


@router.post("/v1/admin/colleges", status_code=201, responses=errors(409, 422))
async def create_college(body: CollegeIn, actor: CanManage, session: SessionDep) -> CollegeOut:
    return await service.create_college(session, body, actor)


@router.put("/v1/admin/colleges/{college_id}", responses=errors(404, 409, 422))
async def update_college(college_id: uuid.UUID, body: CollegeIn, actor: CanManage,
                         session: SessionDep) -> CollegeOut:
    return await service.update_college(session, college_id, body, actor)


@router.get("/v1/admin/student-verifications",
            summary="College claims to review, oldest first")
async def list_claims(_: CanRead, session: SessionDep,
                      status: ClaimStatus = ClaimStatus.pending,
                      limit: Limit = 50) -> list[ClaimOut]:
    return await service.list_claims(session, status, limit)


@router.post("/v1/admin/student-verifications/{claim_id}/review",
             responses=errors(404, 409, 422), summary="Verify or reject a college claim")
async def review_claim(claim_id: uuid.UUID, body: ReviewIn, actor: CanManage,
                       session: SessionDep) -> ClaimOut:
    return await service.review_claim(session, claim_id, body, actor)


@router.get("/v1/admin/ambassadors", summary="Ambassadors and applications, oldest first")
async def list_ambassadors(_: CanRead, session: SessionDep,
                           status: AmbassadorStatus | None = None,
                           limit: Limit = 50) -> list[AmbassadorOut]:
    return await service.list_ambassadors(session, status, limit)


@router.post("/v1/admin/ambassadors/{ambassador_id}/review", responses=errors(404, 409, 422),
             summary="Approve an application, with its commission, or reject it")
async def review_ambassador(ambassador_id: uuid.UUID, body: AmbassadorReviewIn,
                            actor: CanManage, session: SessionDep) -> AmbassadorOut:
    return await service.review_ambassador(session, ambassador_id, body, actor)
