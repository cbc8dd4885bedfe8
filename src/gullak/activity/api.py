"""Activity HTTP API: a user's steps and summary (/v1/me/...), the review queue
(/v1/admin/activity/...)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from gullak.activity import service
from gullak.activity.schemas import (
    ChallengeIn,
    ChallengeList,
    ChallengeOut,
    ChallengeStatus,
    JoinIn,
    DaysOut,
    DecisionIn,
    ReviewOut,
    ReviewPage,
    StepsIn,
    SummaryOut,
    SyncOut,
)
from gullak.db.uow import SessionDep
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require, require_kind

router = APIRouter(tags=["activity"])
User = Annotated[Subject, require_kind("user")]
CanRead = Annotated[Subject, require("activity.read")]
CanReview = Annotated[Subject, require("activity.review")]
CanManage = Annotated[Subject, require("activity.manage")]
Limit = Annotated[int, Query(ge=1, le=100)]


@router.post("/v1/me/steps", responses=errors(401, 422),
             summary="Sync a batch of step samples (a resync replaces)")
async def sync_steps(body: StepsIn, subject: User, session: SessionDep) -> SyncOut:
    return await service.ingest(session, subject.id, body.samples)


@router.get("/v1/me/steps", responses=errors(401, 422),
            summary="My daily step totals, their validation and coins")
async def my_steps(subject: User, session: SessionDep,
                   since: Annotated[dt.date, Query(alias="from")],
                   until: Annotated[dt.date, Query(alias="to")]) -> DaysOut:
    return DaysOut(items=await service.days(session, subject.id, since, until))


@router.get("/v1/me/activity/summary", responses=errors(401),
            summary="Today's steps, the goal, the streak and coins from steps")
async def my_summary(subject: User, session: SessionDep) -> SummaryOut:
    return await service.summary(session, subject.id)


@router.get("/v1/admin/activity/reviews", responses=errors(401, 403, 422),
            summary="Step days waiting for a review, oldest first")
async def list_reviews(_: CanRead, session: SessionDep, cursor: Text | None = None,
                       limit: Limit = 50) -> ReviewPage:
    return await service.reviews(session, limit=limit, cursor=cursor)


@router.post("/v1/admin/activity/reviews/{review_id}", responses=errors(401, 403, 404, 409, 422),
             summary="Approve or reject a step day held for review")
async def decide_review(review_id: uuid.UUID, body: DecisionIn, subject: CanReview,
                        session: SessionDep) -> ReviewOut:
    return await service.decide(session, review_id, body, subject)


# -- challenges ---------------------------------------------------------------------------------

@router.get("/v1/challenges", responses=errors(401),
            summary="Open step challenges (friends challenges are joined by their id)")
async def list_challenges(_: User, session: SessionDep) -> ChallengeList:
    return await service.listed(session)


@router.post("/v1/challenges", status_code=201, responses=errors(401, 403, 422),
             summary="Create a friends challenge")
async def create_friends_challenge(body: ChallengeIn, subject: User,
                                   session: SessionDep) -> ChallengeOut:
    return await service.create(session, body, subject)


@router.get("/v1/challenges/{challenge_id}", responses=errors(401, 404),
            summary="A challenge and its standings")
async def get_challenge(challenge_id: uuid.UUID, _: User, session: SessionDep) -> ChallengeOut:
    return await service.get(session, challenge_id)


@router.post("/v1/challenges/{challenge_id}/join", responses=errors(401, 404, 409, 422),
             summary="Join a challenge: its entry fee is held on my coins until it ends")
async def join_challenge(challenge_id: uuid.UUID, body: JoinIn, subject: User,
                         session: SessionDep) -> ChallengeOut:
    return await service.join(session, challenge_id, subject.id, body.team)


@router.get("/v1/me/challenges", responses=errors(401), summary="The challenges I joined")
async def my_challenges(subject: User, session: SessionDep) -> ChallengeList:
    return await service.mine(session, subject.id)


@router.get("/v1/admin/challenges", responses=errors(401, 403),
            summary="Every challenge, friends ones included")
async def admin_challenges(_: CanRead, session: SessionDep,
                           status: ChallengeStatus | None = None) -> ChallengeList:
    return await service.listed(session, include_friends=True,
                                status=status.value if status else None)


@router.post("/v1/admin/challenges", status_code=201, responses=errors(401, 403, 422),
             summary="Create a challenge (solo, friends, college or company teams)")
async def admin_create_challenge(body: ChallengeIn, subject: CanManage,
                                 session: SessionDep) -> ChallengeOut:
    return await service.create(session, body, subject)


@router.post("/v1/admin/challenges/{challenge_id}/cancel", responses=errors(401, 403, 404, 409),
             summary="Cancel a challenge: every entry fee's hold released")
async def admin_cancel_challenge(challenge_id: uuid.UUID, subject: CanManage,
                                 session: SessionDep) -> ChallengeOut:
    return await service.cancel(session, challenge_id, subject)
