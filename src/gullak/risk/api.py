"""The risk domain's HTTP API, all for the back office: risk events (read with risk.read,
reviewed with risk.review) and blocks (lifted with risk.review). Users meet this domain only
as a neutral `account_restricted` refusal, from the endpoints of the action refused."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from gullak.db.uow import SessionDep
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require
from gullak.risk import service
from gullak.risk.schemas import (
    LiftIn,
    ReviewIn,
    RiskBlockOut,
    RiskBlockPage,
    RiskEventOut,
    RiskEventPage,
    Rule,
    Status,
)

router = APIRouter(tags=["risk"])
CanRead = Annotated[Subject, require("risk.read")]
CanReview = Annotated[Subject, require("risk.review")]
Limit = Annotated[int, Query(ge=1, le=100)]
Score = Annotated[int, Query(ge=0, le=100)]


@router.get("/v1/admin/risk-events", responses=errors(422),
            summary="Risk events, newest first")
async def list_events(session: SessionDep, _: CanRead, status: Status | None = None,
                      rule: Rule | None = None, min_score: Score | None = None,
                      user_id: uuid.UUID | None = None, cursor: Text | None = None,
                      limit: Limit = 20) -> RiskEventPage:
    return await service.list_events(session, status=status, rule=rule, min_score=min_score,
                                      user_id=user_id, cursor=cursor, limit=limit)


@router.get("/v1/admin/risk-events/{event_id}", responses=errors(404))
async def get_event(event_id: uuid.UUID, session: SessionDep, _: CanRead) -> RiskEventOut:
    return await service.get_event(session, event_id)


@router.post("/v1/admin/risk-events/{event_id}/review", responses=errors(404, 409, 422),
             summary="Confirm or dismiss a pending risk event, with a note")
async def review(event_id: uuid.UUID, body: ReviewIn, actor: CanReview,
                 session: SessionDep) -> RiskEventOut:
    return await service.review(session, event_id, body, actor)


@router.get("/v1/admin/risk-blocks", responses=errors(422),
            summary="Blocked users (or lifted blocks), newest first")
async def list_blocks(session: SessionDep, _: CanRead, active: bool = True,
                      user_id: uuid.UUID | None = None, cursor: Text | None = None,
                      limit: Limit = 20) -> RiskBlockPage:
    return await service.list_blocks(session, active=active, user_id=user_id, cursor=cursor,
                                      limit=limit)


@router.post("/v1/admin/risk-blocks/{user_id}/lift", responses=errors(404, 422),
             summary="Lift a user's block: they may sign in, redeem and withdraw again")
async def lift(user_id: uuid.UUID, body: LiftIn, actor: CanReview,
               session: SessionDep) -> RiskBlockOut:
    return await service.lift(session, user_id, body.note, actor)
