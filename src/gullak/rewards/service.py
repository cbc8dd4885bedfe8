"""Rewards commands and queries: the event handlers that evaluate occasions, the explanations,
the dry run, app events, and the lists. Rules and campaigns live in `rules`, evaluation and
payment in `grants`, the pure decision in `engine`; their public functions are re-exported."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import browse as browsing
from gullak.kit import clock, events
from gullak.kit.browse import Browse
from gullak.kit.events import Event
from gullak.kit.ids import uuid7
from gullak.kit.security import Subject
from gullak.kit.sql import keyset_page
from gullak.orders import service as orders
from gullak.rewards import context as contexts
from gullak.rewards import rules
from gullak.rewards.grants import confirm_due, decisions_for, evaluate, take_back_for_refund
from gullak.rewards.models import Debt, Evaluation, Reward, Rule, RuleVersion
from gullak.rewards.rules import (
    create_campaign,
    create_rule,
    get_campaign,
    get_rule,
    list_campaigns,
    list_rules,
    new_version,
    rule_out,
    set_rule_status,
    update_campaign,
)
from gullak.rewards.schemas import (
    AppEventIn,
    AppEventOut,
    DebtOut,
    DebtPage,
    DecisionOut,
    DryRunIn,
    EvaluationOut,
    RewardOut,
    RewardPage,
)

__all__ = [
    "achievement_unlocked", "app_event", "browse_rules", "confirm_due", "create_campaign",
    "create_rule",
    "dry_run", "evaluate", "get_campaign", "get_rule", "list_campaigns", "list_debts",
    "list_rewards", "list_rules", "my_rewards", "new_version", "order_refunded",
    "order_rewards", "order_status_changed", "profile_completed", "review_written",
    "set_rule_status", "update_campaign", "user_signed_up",
]
# An admin's view of an order's rewards reads the order as a service may.
ORDER_READER = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000000e1"),
                       frozenset({"orders.read"}))


def _id(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


async def _payment_methods(session: AsyncSession, order_id: uuid.UUID) -> list[str]:
    """How the order was paid: its tenders' kinds (COINS, WALLET, GATEWAY, GIFT_CARD). One
    read of the tenders, not the whole order: this runs on every completed order."""
    return sorted({t.kind.upper() for t in await orders.tenders_of(session, order_id)})


# -- event handlers ---------------------------------------------------------------------------

async def order_status_changed(session: AsyncSession, event: Event) -> None:
    """A completed purchase is evaluated once; cancelled orders never earn."""
    d = event.data
    if d.get("to_status") != "completed" or d.get("kind") != "purchase":
        return
    user_id, order_id = _id(d["user_id"]), _id(d["order_id"])
    methods = await _payment_methods(session, order_id)
    before = await contexts.completed_orders(session, user_id)
    await evaluate(session, "order_completed", user_id, {
        "amount": int(d["total"]) - int(d.get("refunded") or 0),
        "merchant_id": d.get("merchant_id"), "currency": d.get("currency"),
        "outlet_id": d.get("outlet_id"), "payment_methods": methods,
        "completed_before": before,
    }, reference_type="order", reference_id=str(order_id))
    await session.execute(text(
        "INSERT INTO reward_user_stats (user_id, completed_orders) VALUES (:u, 1)"
        " ON CONFLICT (user_id) DO UPDATE"
        " SET completed_orders = reward_user_stats.completed_orders + 1"), {"u": user_id})


async def order_refunded(session: AsyncSession, event: Event) -> None:
    await take_back_for_refund(session, str(event.data["order_id"]), int(event.data["amount"]))


async def user_signed_up(session: AsyncSession, event: Event) -> None:
    user_id = _id(event.data["user_id"])
    await evaluate(session, "sign_up", user_id, {"channel": event.data.get("channel")},
                   reference_type="user", reference_id=str(user_id))


async def profile_completed(session: AsyncSession, event: Event) -> None:
    user_id = _id(event.data["user_id"])
    await evaluate(session, "profile_completed", user_id, {},
                   reference_type="profile", reference_id=str(user_id))


async def achievements_unlocked(session: AsyncSession, found: list[Event]) -> None:
    """A batch of unlocks (a day's step conversion unlocks thousands): one look at the rules,
    and nothing more when there are none."""
    if not await rules.rules_for(session, ("achievement",)):
        return
    for event in found:
        d = event.data
        await evaluate(session, "achievement", _id(d["user_id"]), {
            "achievement_code": d.get("achievement_code")},
            reference_type="user_achievement",
            reference_id=str(d.get("user_achievement_id") or d.get("achievement_id")))


@events.many(achievements_unlocked)
async def achievement_unlocked(session: AsyncSession, event: Event) -> None:
    await achievements_unlocked(session, [event])


async def review_written(session: AsyncSession, event: Event) -> None:
    d = event.data
    await evaluate(session, "review_written", _id(d["user_id"]), {
        "merchant_id": d.get("merchant_id"), "rating": d.get("rating"),
        "verified_purchase": d.get("verified_purchase")},
        reference_type="review", reference_id=str(d["review_id"]))


async def app_event(session: AsyncSession, data: AppEventIn) -> AppEventOut:
    """An app's event pays its rules once per (name, key), however often it is reported."""
    event_id = await session.scalar(text(
        "INSERT INTO reward_app_events (id, user_id, name, key, data, created_at)"
        " VALUES (:id, :u, :n, :k, CAST(:d AS jsonb), :at)"
        " ON CONFLICT (name, key) DO NOTHING RETURNING id"),
        {"id": uuid7(), "u": data.user_id, "n": data.name, "k": data.key,
         "d": json.dumps(data.data),
         "at": clock.now()})
    if event_id is None:
        return AppEventOut(accepted=False, rewards=[])
    context = {k: v for k, v in data.data.items() if k not in contexts.OWN}
    context["event"] = data.name
    rewards = await evaluate(session, "app_event", data.user_id, context,
                             reference_type="app_event", reference_id=str(event_id))
    return AppEventOut(accepted=True, rewards=rewards)


# -- explanations -----------------------------------------------------------------------------

async def order_rewards(session: AsyncSession, order_id: uuid.UUID,
                        viewer: Subject) -> EvaluationOut:
    """Every rule considered for the order and why it applied or not. A user sees only their
    own orders (another's is as missing as one that does not exist)."""
    await orders.get_order(session, order_id, viewer if viewer.kind == "user" else ORDER_READER)
    rows = list(await session.scalars(select(Evaluation).where(
        Evaluation.reference_type == "order", Evaluation.reference_id == str(order_id))
        .order_by(Evaluation.id)))
    decisions = [d for e in rows for d in e.decisions]
    version_ids = {uuid.UUID(d["rule_version_id"]) for d in decisions}
    named = {v: (name, number) for v, name, number in (await session.execute(
        select(RuleVersion.id, Rule.name, RuleVersion.version)
        .join(Rule, Rule.id == RuleVersion.rule_id)
        .where(RuleVersion.id.in_(version_ids)))).all()} if version_ids else {}
    return EvaluationOut(reference_type="order", reference_id=str(order_id), decisions=[
        DecisionOut.model_validate({
            **d, "rule_name": named[uuid.UUID(d["rule_version_id"])][0],
            "version": named[uuid.UUID(d["rule_version_id"])][1]})
        for d in decisions])


async def dry_run(session: AsyncSession, data: DryRunIn) -> EvaluationOut:
    """What the rules would decide for a hypothetical occasion; writes nothing."""
    user_id = data.user_id or uuid7()
    context: dict[str, Any] = {k: v for k, v in data.data.items() if k not in contexts.OWN}
    context.update(amount=data.amount, merchant_id=data.merchant_id,
                   payment_methods=data.payment_methods, at=data.at or clock.now(),
                   tier_code=data.tier_code, completed_before=data.completed_orders,
                   multiplier_bp=data.multiplier_bp)
    ctx = await contexts.build(session, data.trigger, user_id, context)
    decisions, by_id = await decisions_for(session, ctx)
    return EvaluationOut(reference_type="dry_run", reference_id=str(user_id), decisions=[
        DecisionOut(rule_id=d.rule_id, rule_name=by_id[d.rule_id].name,
                    rule_version_id=d.version_id, version=by_id[d.rule_id].version,
                    applied=d.applied, reason=d.reason, amount=d.amount,
                    asset_code=d.asset_code) for d in decisions])


# -- lists ------------------------------------------------------------------------------------

async def list_rewards(session: AsyncSession, *, user_id: uuid.UUID | None = None,
                       status: str | None = None, cursor: str | None = None,
                       limit: int = 20) -> RewardPage:
    query = select(Reward)
    if user_id is not None:
        query = query.where(Reward.user_id == user_id)
    if status is not None:
        query = query.where(Reward.status == status)
    rows, next_cursor = await keyset_page(session, query, Reward.id, cursor, limit)
    return RewardPage(items=[RewardOut.model_validate(r) for r in rows], next_cursor=next_cursor)


async def my_rewards(session: AsyncSession, user_id: uuid.UUID, cursor: str | None = None,
                     limit: int = 20) -> RewardPage:
    return await list_rewards(session, user_id=user_id, cursor=cursor, limit=limit)


async def list_debts(session: AsyncSession, *, user_id: uuid.UUID | None = None,
                     status: str | None = None, cursor: str | None = None,
                     limit: int = 20) -> DebtPage:
    query = select(Debt)
    if user_id is not None:
        query = query.where(Debt.user_id == user_id)
    if status is not None:
        query = query.where(Debt.status == status)
    rows, next_cursor = await keyset_page(session, query, Debt.id, cursor, limit)
    return DebtPage(items=[DebtOut.model_validate(r) for r in rows], next_cursor=next_cursor)


async def browse_rules(session: AsyncSession, browse: Browse, *, trigger: str | None = None,
                       status: str | None = None, q: str | None = None) -> browsing.Page:
    """One page of rules (RuleOut, their current version) for a table: by trigger, status and
    a part of the name, sorted by name, trigger, status or creation."""
    query = select(Rule)
    for column, value in ((Rule.trigger, trigger), (Rule.status, status)):
        if value is not None:
            query = query.where(column == value)
    if q is not None:
        query = query.where(Rule.name.icontains(q, autoescape=True))
    found = await browsing.page(session, query, browse, Rule.id, {
        "name": Rule.name, "trigger": Rule.trigger, "status": Rule.status,
        "created": Rule.created_at})
    versions = {v.id: v for v in await session.scalars(select(RuleVersion).where(
        RuleVersion.id.in_([r.version_id for r in found.rows])))}
    return browsing.Page([rule_out(r, versions[r.version_id]) for r in found.rows],
                         found.next_cursor)


# -- the console: a user's rewards with why -----------------------------------------------------

async def rule_names(session: AsyncSession, rule_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The names of these rules (the reason a reward was given)."""
    if not rule_ids:
        return {}
    rows = await session.execute(select(Rule.id, Rule.name).where(Rule.id.in_(rule_ids)))
    return {rule_id: name for rule_id, name in rows}


async def user_decisions(session: AsyncSession, user_id: uuid.UUID,
                         references: list[tuple[str, str]]) -> list[EvaluationOut]:
    """Every rule considered for a user on these occasions ((reference_type, reference_id)
    each): whether it applied and, if not, why. Read through the references' index."""
    if not references:
        return []
    from sqlalchemy import tuple_

    rows = list(await session.scalars(select(Evaluation).where(
        Evaluation.user_id == user_id,
        tuple_(Evaluation.reference_type, Evaluation.reference_id).in_(references))
        .order_by(Evaluation.id.desc())))
    version_ids = {uuid.UUID(d["rule_version_id"]) for e in rows for d in e.decisions}
    named = {v: (name, number) for v, name, number in (await session.execute(
        select(RuleVersion.id, Rule.name, RuleVersion.version)
        .join(Rule, Rule.id == RuleVersion.rule_id)
        .where(RuleVersion.id.in_(version_ids)))).all()} if version_ids else {}
    return [EvaluationOut(reference_type=e.reference_type, reference_id=e.reference_id,
                          decisions=[DecisionOut.model_validate({
                              **d, "rule_name": named[uuid.UUID(d["rule_version_id"])][0],
                              "version": named[uuid.UUID(d["rule_version_id"])][1]})
                              for d in e.decisions]) for e in rows]
