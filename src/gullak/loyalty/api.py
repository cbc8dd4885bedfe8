"""Loyalty HTTP API: tiers and my standing, privé plans and my subscription, my
achievements (/v1/...), and the back office's tiers, users' standing, privé plans and
achievements (/v1/admin/...)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Request

from gullak.db.engine import Database
from gullak.db.uow import SessionDep
from gullak.kit import express
from gullak.kit.openapi import MEDIA_TYPE, REF, errors
from gullak.kit.security import Subject, require, require_kind
from gullak.loyalty import flows, service
from gullak.loyalty.schemas import (
    AchievementIn,
    AchievementOut,
    CheckoutOut,
    Code,
    MyAchievementOut,
    MyPriveOut,
    MyTierOut,
    PartnerIn,
    PlanIn,
    PlanOut,
    SetTierIn,
    SubscribeIn,
    SubscriptionOut,
    TierIn,
    TierOut,
    TierPatch,
    UserLoyaltyOut,
)
from gullak.settings import Settings

router = APIRouter(tags=["loyalty"])
User = Annotated[Subject, require_kind("user")]
CanRead = Annotated[Subject, require("loyalty.read")]
CanManage = Annotated[Subject, require("loyalty.manage")]
# The provider refused or could not be reached: not the client's fault, and not ours.
GATEWAY: dict[int | str, dict[str, Any]] = {502: {
    "description": "Bad gateway. Codes: `gateway_error`.",
    "content": {MEDIA_TYPE: {"schema": {"$ref": REF}}}}}


# -- anyone -----------------------------------------------------------------------------------

@router.get("/v1/tiers", summary="The loyalty tiers, lowest first")
async def list_tiers(session: SessionDep) -> list[TierOut]:
    return await service.list_tiers(session)


@router.get("/v1/prive/plans", summary="Privé plans on sale, with their partner merchants")
async def list_plans(session: SessionDep) -> list[PlanOut]:
    return await service.list_plans(session)


# -- users ------------------------------------------------------------------------------------

@router.get("/v1/me/tier",
            summary="My tier, its multiplier and benefits, and what is left to the next")
async def my_tier(subject: User, session: SessionDep) -> MyTierOut:
    return await service.my_tier(session, subject.id)


@router.get("/v1/me/achievements", summary="Achievements with my progress")
@express.lane
async def my_achievements(subject: User, session: SessionDep) -> list[MyAchievementOut]:
    return await service.my_achievements(session, subject.id)


@router.get("/v1/me/prive", summary="My privé subscription (the live one, else the latest)")
async def my_prive(subject: User, session: SessionDep) -> MyPriveOut:
    return MyPriveOut(subscription=await service.my_prive(session, subject.id))


@router.post("/v1/me/prive/subscriptions", status_code=201,
             responses={**errors(404, 409, 422), **GATEWAY},
             summary="Subscribe to a privé plan: pay at the checkout URL to activate it")
async def subscribe(body: SubscribeIn, subject: User, request: Request) -> CheckoutOut:
    db: Database = request.app.state.db
    settings: Settings | None = getattr(request.app.state, "settings", None)
    return await flows.subscribe(db, settings, subject.id, body.plan_code)


@router.post("/v1/me/prive/subscriptions/{subscription_id}/cancel",
             responses=errors(404, 409), summary="Stop renewing: active to the period's end")
async def cancel(subscription_id: uuid.UUID, subject: User,
                 session: SessionDep) -> SubscriptionOut:
    return await service.cancel(session, subject.id, subscription_id)


# -- back office ------------------------------------------------------------------------------

@router.get("/v1/admin/loyalty/tiers", summary="Every tier, retired ones too")
async def admin_tiers(session: SessionDep, _: CanRead) -> list[TierOut]:
    return await service.list_tiers(session, active_only=False)


@router.post("/v1/admin/loyalty/tiers", status_code=201, responses=errors(409, 422))
async def create_tier(body: TierIn, actor: CanManage, session: SessionDep) -> TierOut:
    return await service.create_tier(session, body, actor)


@router.patch("/v1/admin/loyalty/tiers/{code}", responses=errors(404, 422))
async def update_tier(code: Code, body: TierPatch, actor: CanManage,
                      session: SessionDep) -> TierOut:
    return await service.update_tier(session, code, body, actor)


@router.get("/v1/admin/loyalty/users/{user_id}",
            summary="A user's tier, figures and tier history")
async def user_loyalty(user_id: uuid.UUID, session: SessionDep, _: CanRead) -> UserLoyaltyOut:
    return await service.user_loyalty(session, user_id)


@router.post("/v1/admin/loyalty/users/{user_id}/tier", responses=errors(404, 422),
             summary="Set a user's tier by hand, with a reason")
async def set_tier(user_id: uuid.UUID, body: SetTierIn, actor: CanManage,
                   session: SessionDep) -> UserLoyaltyOut:
    return await service.set_tier(session, user_id, body.tier_code, body.reason, actor)


@router.get("/v1/admin/prive/plans", summary="Every privé plan")
async def admin_plans(session: SessionDep, _: CanRead) -> list[PlanOut]:
    return await service.list_plans(session, active_only=False)


@router.post("/v1/admin/prive/plans", status_code=201, responses=errors(409, 422))
async def create_plan(body: PlanIn, actor: CanManage, session: SessionDep) -> PlanOut:
    return await service.create_plan(session, body, actor)


@router.put("/v1/admin/prive/plans/{code}/partners", responses=errors(404, 422),
            summary="Add a partner merchant to a plan, or change its terms")
async def add_partner(code: Code, body: PartnerIn, actor: CanManage,
                      session: SessionDep) -> PlanOut:
    return await service.add_partner(session, code, body, actor)


@router.get("/v1/admin/prive/users/{user_id}/subscriptions",
            summary="A user's privé subscriptions, newest first")
async def user_subscriptions(user_id: uuid.UUID, session: SessionDep,
                             _: CanRead) -> list[SubscriptionOut]:
    return await service.user_subscriptions(session, user_id)


@router.get("/v1/admin/achievements")
async def list_achievements(session: SessionDep, _: CanRead) -> list[AchievementOut]:
    return await service.list_achievements(session)


@router.post("/v1/admin/achievements", status_code=201, responses=errors(409, 422))
async def create_achievement(body: AchievementIn, actor: CanManage,
                             session: SessionDep) -> AchievementOut:
    return await service.create_achievement(session, body, actor)
