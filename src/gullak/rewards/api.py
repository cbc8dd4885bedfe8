"""Rewards HTTP API: users' rewards and why an order earned what it did (/v1/me/...), app
events from services (/v1/rewards/events), and the back office's rules, campaigns, rewards,
debts, explanations and dry runs (/v1/admin/...)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from gullak.db.uow import SessionDep
from gullak.kit import express
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require, require_kind
from gullak.rewards import service
from gullak.rewards.schemas import (
    AppEventIn,
    AppEventOut,
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CampaignStatus,
    DebtPage,
    DryRunIn,
    EvaluationOut,
    RewardPage,
    RewardStatus,
    RuleIn,
    RuleOut,
    RulePage,
    RuleStatus,
    Trigger,
)

router = APIRouter(tags=["rewards"])
User = Annotated[Subject, require_kind("user")]
CanRead = Annotated[Subject, require("rewards.read")]
CanManage = Annotated[Subject, require("rewards.manage")]
CanReport = Annotated[Subject, require("rewards.events")]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[Text | None, Query(max_length=100)]


# -- users ------------------------------------------------------------------------------------

@router.get("/v1/me/rewards", summary="My rewards, newest first")
@express.lane
async def my_rewards(subject: User, session: SessionDep, cursor: Cursor = None,
                     limit: Limit = 20) -> RewardPage:
    return await service.my_rewards(session, subject.id, cursor, limit)


@router.get("/v1/me/orders/{order_id}/rewards", responses=errors(404),
            summary="Every rule considered for my order, and why it applied or not")
async def my_order_rewards(order_id: uuid.UUID, subject: User,
                           session: SessionDep) -> EvaluationOut:
    return await service.order_rewards(session, order_id, subject)


# -- services ---------------------------------------------------------------------------------

@router.post("/v1/rewards/events", responses=errors(422),
             summary="Report an app event: its rules pay once per key")
async def report_event(body: AppEventIn, _: CanReport, session: SessionDep) -> AppEventOut:
    return await service.app_event(session, body)


# -- back office ------------------------------------------------------------------------------

@router.post("/v1/admin/rewards/rules", status_code=201, responses=errors(404, 422))
async def create_rule(body: RuleIn, actor: CanManage, session: SessionDep) -> RuleOut:
    return await service.create_rule(session, body, actor)


@router.get("/v1/admin/rewards/rules", summary="Rules, newest first")
async def list_rules(session: SessionDep, _: CanRead, trigger: Trigger | None = None,
                     status: RuleStatus | None = None, campaign_id: uuid.UUID | None = None,
                     cursor: Cursor = None, limit: Limit = 50) -> RulePage:
    return await service.list_rules(session, trigger=trigger, status=status,
                                    campaign_id=campaign_id, cursor=cursor, limit=limit)


@router.get("/v1/admin/rewards/rules/{rule_id}", responses=errors(404))
async def get_rule(rule_id: uuid.UUID, session: SessionDep, _: CanRead) -> RuleOut:
    return await service.get_rule(session, rule_id)


@router.put("/v1/admin/rewards/rules/{rule_id}", responses=errors(404, 422),
            summary="A new version of the rule (rewards already given keep theirs)")
async def new_version(rule_id: uuid.UUID, body: RuleIn, actor: CanManage,
                      session: SessionDep) -> RuleOut:
    return await service.new_version(session, rule_id, body, actor)


@router.post("/v1/admin/rewards/rules/{rule_id}/pause", responses=errors(404))
async def pause_rule(rule_id: uuid.UUID, actor: CanManage, session: SessionDep) -> RuleOut:
    return await service.set_rule_status(session, rule_id, "paused", actor)


@router.post("/v1/admin/rewards/rules/{rule_id}/activate", responses=errors(404))
async def activate_rule(rule_id: uuid.UUID, actor: CanManage, session: SessionDep) -> RuleOut:
    return await service.set_rule_status(session, rule_id, "active", actor)


@router.post("/v1/admin/rewards/campaigns", status_code=201, responses=errors(422))
async def create_campaign(body: CampaignIn, actor: CanManage,
                          session: SessionDep) -> CampaignOut:
    return await service.create_campaign(session, body, actor)


@router.get("/v1/admin/rewards/campaigns")
async def list_campaigns(session: SessionDep, _: CanRead,
                         status: CampaignStatus | None = None) -> list[CampaignOut]:
    return await service.list_campaigns(session, status=status)


@router.get("/v1/admin/rewards/campaigns/{campaign_id}", responses=errors(404))
async def get_campaign(campaign_id: uuid.UUID, session: SessionDep,
                       _: CanRead) -> CampaignOut:
    return await service.get_campaign(session, campaign_id)


@router.patch("/v1/admin/rewards/campaigns/{campaign_id}", responses=errors(404, 422))
async def update_campaign(campaign_id: uuid.UUID, body: CampaignPatch, actor: CanManage,
                          session: SessionDep) -> CampaignOut:
    return await service.update_campaign(session, campaign_id, body, actor)


@router.get("/v1/admin/rewards", summary="Rewards, newest first")
async def list_rewards(session: SessionDep, _: CanRead, user_id: uuid.UUID | None = None,
                       status: RewardStatus | None = None, cursor: Cursor = None,
                       limit: Limit = 20) -> RewardPage:
    return await service.list_rewards(session, user_id=user_id, status=status, cursor=cursor,
                                      limit=limit)


@router.get("/v1/admin/rewards/debts", summary="What refunds left users owing, newest first")
async def list_debts(session: SessionDep, _: CanRead, user_id: uuid.UUID | None = None,
                     status: Annotated[str | None, Query(pattern="^(open|settled)$")] = None,
                     cursor: Cursor = None, limit: Limit = 20) -> DebtPage:
    return await service.list_debts(session, user_id=user_id, status=status, cursor=cursor,
                                    limit=limit)


@router.post("/v1/admin/rewards/dry-run", responses=errors(422),
             summary="What the rules would decide for a hypothetical occasion (writes nothing)")
async def dry_run(body: DryRunIn, _: CanRead, session: SessionDep) -> EvaluationOut:
    return await service.dry_run(session, body)


@router.get("/v1/admin/orders/{order_id}/rewards", responses=errors(404),
            summary="Every rule considered for an order, and why it applied or not")
async def order_rewards(order_id: uuid.UUID, actor: CanRead,
                        session: SessionDep) -> EvaluationOut:
    return await service.order_rewards(session, order_id, actor)
