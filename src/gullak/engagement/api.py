"""Engagement HTTP API: leaderboards (/v1/leaderboards, /v1/me/leaderboards), follows
(/v1/me/follows) and the back office's rebuild."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from gullak.db.uow import SessionDep
from gullak.engagement import service
from gullak.engagement.schemas import (
    BoardOut,
    FollowsOut,
    Metric,
    Period,
    RebuildOut,
    Scope,
    StandingOut,
)
from gullak.kit import audit
from gullak.kit.openapi import errors
from gullak.kit.security import Subject, require, require_kind

router = APIRouter(tags=["engagement"])
User = Annotated[Subject, require_kind("user")]
CanManage = Annotated[Subject, require("engagement.manage")]
Limit = Annotated[int, Query(ge=1, le=100)]
Around = Annotated[int, Query(ge=0, le=10, description="Users shown above and below me")]


@router.get("/v1/leaderboards/{metric}/{period}", responses=errors(422),
            summary="The current period's top users (city and college: mine)")
async def board(metric: Metric, period: Period, subject: User, session: SessionDep,
                scope: Scope = Scope.global_, limit: Limit = 100) -> BoardOut:
    return await service.board(session, subject.id, metric, period, scope, limit)


@router.get("/v1/leaderboards/{metric}/{period}/history", responses=errors(404, 422),
            summary="A closed week's or month's final standing")
async def history(metric: Metric, period: Period, start: dt.date, subject: User,
                  session: SessionDep, scope: Scope = Scope.global_,
                  limit: Limit = 100) -> BoardOut:
    return await service.history(session, subject.id, metric, period, start, scope, limit)


@router.get("/v1/me/leaderboards/{metric}/{period}", responses=errors(422),
            summary="My rank and score, with the users around me")
async def my_standing(metric: Metric, period: Period, subject: User, session: SessionDep,
                      scope: Scope = Scope.global_, around: Around = 2) -> StandingOut:
    return await service.standing(session, subject.id, metric, period, scope, around)


@router.get("/v1/me/follows", summary="Who I follow and who follows me, with counts")
async def my_follows(subject: User, session: SessionDep,
                     limit: Annotated[int, Query(ge=1, le=200)] = 50) -> FollowsOut:
    return await service.my_follows(session, subject.id, limit)


@router.put("/v1/me/follows/{user_id}", status_code=204, responses=errors(404, 422),
            summary="Follow a user (mutual follows are friends)")
async def follow(user_id: uuid.UUID, subject: User, session: SessionDep) -> Response:
    await service.follow(session, subject.id, user_id)
    return Response(status_code=204)


@router.delete("/v1/me/follows/{user_id}", status_code=204, summary="Stop following a user")
async def unfollow(user_id: uuid.UUID, subject: User, session: SessionDep) -> Response:
    await service.unfollow(session, subject.id, user_id)
    return Response(status_code=204)


@router.post("/v1/admin/leaderboards/rebuild",
             summary="Recompute the open steps boards from the verified step days")
async def rebuild(actor: CanManage, session: SessionDep) -> RebuildOut:
    done = await service.rebuild(session)
    await audit.record(session, actor, "leaderboards.rebuild", "leaderboard", None,
                       after=done.model_dump())
    return done
