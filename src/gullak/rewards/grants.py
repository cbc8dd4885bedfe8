"""Evaluating an occasion and paying what applies; confirming rewards; taking them back.

A grant is funder -> the user's `pending` account; confirmation is `pending` -> `main` (after
settling any debt the user has in that asset). Every posting has a deterministic idempotency
key naming the rewards, so a retried job never pays twice.

A unit of work posts what touches platform accounts as one batch: a platform account is
sharded, each transfer lands on a shard of its own, and two units each posting two transfers
one by one would lock shards in opposite orders (a deadlock). A batch locks its balance rows
in one order (migrations/sql/0015).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.events import publish
from gullak.kit.ids import uuid7
from gullak.kit.sql import xact_lock
from gullak.ledger import errors as ledger_errors
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountIn, AccountOut, OwnerType, TransferIn
from gullak.rewards import context as contexts
from gullak.rewards import engine, rules
from gullak.rewards.models import Debt, Evaluation, Reward
from gullak.rewards.rules import Loaded
from gullak.rewards.schemas import RewardOut

CANNOT_PAY = (ledger_errors.InsufficientFunds, ledger_errors.AccountFrozen,
              ledger_errors.LimitExceeded)


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Batch:
    """Transfers to post together, with the idempotency keys that name each one."""

    def __init__(self) -> None:
        self.transfers: list[TransferIn] = []
        self.keys: list[str] = []

    def add(self, transfer: TransferIn, key: str) -> None:
        self.transfers.append(transfer)
        self.keys.append(key)

    async def post(self, session: AsyncSession) -> None:
        if self.transfers:
            digest = hashlib.sha256("\n".join(self.keys).encode()).hexdigest()[:40]
            await ledger.post(session, self.transfers, idempotency_key=f"rewards:{digest}")


def family(trigger: str) -> tuple[str, ...]:
    """An order's completion is considered by every order rule (payment method, first order)."""
    return engine.ORDER_TRIGGERS if trigger in engine.ORDER_TRIGGERS else (trigger,)


async def pending_account(session: AsyncSession, user_id: uuid.UUID, asset: str) -> AccountOut:
    return await ledger.open_account(session, AccountIn(
        asset_code=asset, owner_type=OwnerType.user, owner_id=user_id, purpose="pending"))


async def funder_account(session: AsyncSession, version: Loaded) -> AccountOut:
    if version.funding == "merchant":
        return await ledger.open_account(session, AccountIn(
            asset_code=version.asset_code, owner_type=OwnerType.merchant,
            owner_id=version.funder_merchant_id))
    return await ledger.platform_account(session, version.asset_code, "issuance")


async def usage_of(session: AsyncSession, user_id: uuid.UUID, loaded: Sequence[engine.Rule],
                   at: dt.datetime) -> engine.Usage:
    wanted = {(r.id, b) for r in loaded for b in engine.buckets(r, at)}
    counts: dict[tuple[uuid.UUID, str], tuple[int, int]] = {}
    if wanted:
        found = await session.execute(text(
            "SELECT rule_id, bucket, rewards, amount FROM reward_usage"
            " WHERE user_id = :u AND rule_id = ANY(:r) AND bucket = ANY(:b)"),
            {"u": user_id, "r": list({w[0] for w in wanted}), "b": list({w[1] for w in wanted})})
        counts = {(row.rule_id, row.bucket): (row.rewards, row.amount) for row in found}
    campaign_ids = list({r.campaign_id for r in loaded if r.campaign_id is not None})
    campaigns: dict[uuid.UUID, int] = {}
    if campaign_ids:
        found = await session.execute(text(
            "SELECT campaign_id, rewards FROM reward_campaign_users"
            " WHERE user_id = :u AND campaign_id = ANY(:c)"), {"u": user_id, "c": campaign_ids})
        campaigns = {row.campaign_id: row.rewards for row in found}
    return engine.Usage(counts, campaigns)


async def decisions_for(session: AsyncSession, ctx: engine.Context
                        ) -> tuple[list[engine.Decision], dict[uuid.UUID, Loaded]]:
    """What the rules decide now for `ctx` (reads only: the dry run uses it as it is)."""
    loaded = await rules.rules_for(session, family(ctx.trigger))
    by_id = {r.id: r for r in loaded}
    engine_rules = [r.rule for r in loaded]
    campaigns = await rules.campaigns_of(
        session, {r.campaign_id for r in engine_rules if r.campaign_id is not None})
    usage = await usage_of(session, ctx.user_id, engine_rules, ctx.at)
    return engine.decide(engine_rules, ctx, usage, campaigns), by_id


async def evaluate(session: AsyncSession, trigger: str, user_id: uuid.UUID,
                   context: Mapping[str, Any], *, reference_type: str, reference_id: str,
                   confirm_at: dt.datetime | None = None) -> list[RewardOut]:
    """Every rule of `trigger` (and its family) for this user and context; what applies is
    granted, and every decision is stored with its reason. A user's evaluations run one at a
    time (their caps are read, then written). With no rule of the trigger's family there is
    nothing to decide: no lock, no context, no evaluation kept."""
    if not await rules.rules_for(session, family(trigger)):
        return []
    await xact_lock(session, f"rewards:user:{user_id}")
    ctx = await contexts.build(session, trigger, user_id, context)
    decisions, by_id = await decisions_for(session, ctx)
    given = set(await session.scalars(select(Reward.rule_id).where(
        Reward.reference_type == reference_type, Reward.reference_id == reference_id,
        Reward.user_id == user_id)))
    try:  # the usual way: the platform's grants in one batch
        async with session.begin_nested():
            outcomes = await _grant_all(session, decisions, by_id, ctx, given, reference_type,
                                        reference_id, confirm_at, Batch())
    except CANNOT_PAY:  # a user account that cannot take it (frozen): rule by rule
        outcomes = await _grant_all(session, decisions, by_id, ctx, given, reference_type,
                                    reference_id, confirm_at, None)
    session.add(Evaluation(
        reference_type=reference_type, reference_id=reference_id, user_id=user_id,
        trigger=trigger, decisions=[{
            "rule_id": str(d.rule_id), "rule_version_id": str(d.version_id),
            "applied": reward is not None, "reason": reason,
            "amount": reward.amount if reward else 0, "asset_code": d.asset_code,
            "reward_id": str(reward.id) if reward else None}
            for d, (reason, reward) in zip(decisions, outcomes, strict=True)]))
    rewards = [reward for _, reward in outcomes if reward is not None]
    await confirm_all(session, [r for r in rewards if r.confirm_at <= clock.now()])
    await session.flush()
    return [RewardOut.model_validate(r) for r in rewards]


async def _grant_all(session: AsyncSession, decisions: Sequence[engine.Decision],
                     by_id: Mapping[uuid.UUID, Loaded], ctx: engine.Context,
                     given: set[uuid.UUID], reference_type: str, reference_id: str,
                     confirm_at: dt.datetime | None, batch: Batch | None
                     ) -> list[tuple[str | None, Reward | None]]:
    """(reason, reward) per decision. With a batch, the platform's grants are posted in it
    at the end; without, each is posted in its rule's savepoint."""
    out: list[tuple[str | None, Reward | None]] = []
    accounts: dict[tuple[str, ...], AccountOut] = {}
    used: list[tuple[uuid.UUID, str, int]] = []
    for d in decisions:
        rule = by_id[d.rule_id]
        if not d.applied:
            out.append((d.reason, None))
        elif rule.id in given:
            out.append(("already_rewarded", None))
        else:
            reward, reason = await _grant(session, rule, d, ctx, reference_type,
                                          reference_id, confirm_at, batch, accounts)
            out.append((reason, reward))
            if reward is not None:
                used.extend((rule.id, b, d.amount) for b in d.buckets)
    if batch is not None:
        await batch.post(session)
    if used:
        await session.execute(text(
            "INSERT INTO reward_usage (rule_id, user_id, bucket, rewards, amount)"
            " SELECT r, :u, b, 1, a FROM unnest(CAST(:r AS uuid[]), CAST(:b AS text[]),"
            " CAST(:a AS bigint[])) AS x(r, b, a)"
            " ON CONFLICT (rule_id, user_id, bucket) DO UPDATE"
            " SET rewards = reward_usage.rewards + 1,"
            " amount = reward_usage.amount + excluded.amount"),
            {"u": ctx.user_id, "r": [u[0] for u in used], "b": [u[1] for u in used],
             "a": [u[2] for u in used]})
    await session.flush()  # inside the caller's savepoint: its rollback takes these too
    return out


async def _grant(session: AsyncSession, rule: Loaded, d: engine.Decision,
                 ctx: engine.Context, reference_type: str, reference_id: str,
                 confirm_at: dt.datetime | None, batch: Batch | None,
                 accounts: dict[tuple[str, ...], AccountOut]
                 ) -> tuple[Reward | None, str | None]:
    """The reward, or the reason it could not be paid; nothing half-written either way."""
    now = clock.now()
    due = confirm_at if confirm_at is not None else now + dt.timedelta(days=rule.hold_days)
    which = ("funder", rule.funding, rule.asset_code, str(rule.funder_merchant_id))
    if which not in accounts:
        accounts[which] = await funder_account(session, rule)
    if ("pending", rule.asset_code) not in accounts:
        accounts[("pending", rule.asset_code)] = await pending_account(
            session, ctx.user_id, rule.asset_code)
    funder, pending = accounts[which], accounts[("pending", rule.asset_code)]
    reward = Reward(
        id=uuid7(), user_id=ctx.user_id, rule_id=rule.id, rule_version_id=rule.version_id,
        campaign_id=rule.campaign_id, trigger=rule.trigger, asset_code=rule.asset_code,
        amount=d.amount, reversed=0, refunded=0, status="pending",
        reference_type=reference_type, reference_id=reference_id,
        funder_account_id=funder.id, base_amount=ctx.amount, lifetime_days=rule.lifetime_days,
        confirm_at=due, confirmed_at=None, lot_expires_at=None, created_at=now, updated_at=now)
    grant = TransferIn(
        debit_account_id=funder.id, credit_account_id=pending.id, asset_code=rule.asset_code,
        amount=d.amount, kind="reward", reference_type="reward", reference_id=str(reward.id),
        lot_expires_at=await _lot_expiry(session, rule.asset_code, rule.lifetime_days, due),
        metadata={"rule_id": str(rule.id), "version": rule.version})
    key = f"reward:{reward.id}:grant"
    # A merchant's account is one row, and may refuse: paid here, in the savepoint.
    paid_here = batch is None or rule.funding == "merchant"
    if rule.campaign_id is None and not paid_here:
        assert batch is not None
        batch.add(grant, key)
        session.add(reward)
        return reward, None
    try:
        async with session.begin_nested():
            if rule.campaign_id is not None:
                await _spend(session, rule.campaign_id, ctx.user_id, d.amount)
            if paid_here:
                await ledger.transfer(session, grant, idempotency_key=key)
    except _Refused as refused:
        return None, refused.reason
    except CANNOT_PAY:
        return None, "funding_exhausted"
    if not paid_here:
        assert batch is not None
        batch.add(grant, key)
    session.add(reward)
    return reward, None


async def _spend(session: AsyncSession, campaign_id: uuid.UUID, user_id: uuid.UUID,
                 amount: int) -> None:
    """Take `amount` from the campaign's budget, exactly: the row's own check decides, so
    concurrent grants never pass it together."""
    spent = await session.scalar(text(
        "UPDATE reward_campaigns SET spent = spent + :x, updated_at = now()"
        " WHERE id = :c AND status = 'active' AND (budget IS NULL OR spent + :x <= budget)"
        " RETURNING spent"), {"c": campaign_id, "x": amount})
    if spent is None:
        raise _Refused("campaign_budget_exhausted")
    counted = await session.scalar(text(
        "INSERT INTO reward_campaign_users AS u (campaign_id, user_id, rewards, amount)"
        " VALUES (:c, :u, 1, :x) ON CONFLICT (campaign_id, user_id) DO UPDATE"
        " SET rewards = u.rewards + 1, amount = u.amount + :x"
        " WHERE (SELECT per_user_limit FROM reward_campaigns WHERE id = :c) IS NULL"
        "    OR u.rewards < (SELECT per_user_limit FROM reward_campaigns WHERE id = :c)"
        " RETURNING rewards"), {"c": campaign_id, "u": user_id, "x": amount})
    if counted is None:
        raise _Refused("campaign_user_limit")


async def _lot_expiry(session: AsyncSession, asset_code: str, lifetime_days: int | None,
                      start: dt.datetime) -> dt.datetime | None:
    _, expires, asset_days = await rules.asset_terms(session, asset_code)
    if not expires:
        return None
    days = lifetime_days or asset_days
    return start + dt.timedelta(days=days) if days else None


# -- confirmation -----------------------------------------------------------------------------

async def confirm_all(session: AsyncSession, rewards: Sequence[Reward]) -> None:
    """pending -> main, in one batch: first what each user owes in the asset (oldest debt
    first), then the rest to the wallet, with the lot's expiry for expiring assets."""
    due = sorted((r for r in rewards if r.status == "pending"),
                 key=lambda r: (str(r.user_id), r.id))
    if not due:
        return
    now, batch = clock.now(), Batch()
    owed: dict[tuple[uuid.UUID, str], list[Debt]] = {}
    for reward in due:
        left = reward.amount - reward.reversed
        pending = await pending_account(session, reward.user_id, reward.asset_code)
        which = (reward.user_id, reward.asset_code)
        if which not in owed:
            owed[which] = list(await session.scalars(select(Debt).where(
                Debt.user_id == reward.user_id, Debt.asset_code == reward.asset_code,
                Debt.status == "open").order_by(Debt.id).with_for_update()))
        for debt in owed[which]:
            pay = min(left, debt.amount - debt.settled)
            if pay <= 0:
                continue
            batch.add(TransferIn(
                debit_account_id=pending.id, credit_account_id=debt.creditor_account_id,
                asset_code=reward.asset_code, amount=pay, kind="reward_debt",
                reference_type="reward_debt", reference_id=str(debt.id)),
                f"reward:{reward.id}:settle:{debt.id}")
            debt.settled += pay
            left -= pay
            if debt.settled == debt.amount:
                debt.status, debt.settled_at = "settled", now
        lot = await _lot_expiry(session, reward.asset_code, reward.lifetime_days, now)
        if left > 0:
            main = await ledger.user_account(session, reward.user_id, reward.asset_code)
            batch.add(TransferIn(
                debit_account_id=pending.id, credit_account_id=main.id,
                asset_code=reward.asset_code, amount=left, kind="reward_confirm",
                reference_type="reward", reference_id=str(reward.id), lot_expires_at=lot),
                f"reward:{reward.id}:confirm")
        reward.status, reward.confirmed_at, reward.lot_expires_at = "confirmed", now, lot
    await batch.post(session)
    await session.flush()
    for reward in due:
        await publish(session, "reward.confirmed", {
            "reward_id": str(reward.id), "user_id": str(reward.user_id),
            "asset_code": reward.asset_code, "amount": reward.amount - reward.reversed,
            "rule_id": str(reward.rule_id), "reference_type": reward.reference_type,
            "reference_id": reward.reference_id})


async def confirm_due(session: AsyncSession, *, limit: int = 100) -> int:
    """Confirm rewards whose return window has closed; returns how many. Their users are
    locked in one order, so two runs at once never wait on each other in a circle."""
    due = list(await session.scalars(
        select(Reward).where(Reward.status == "pending", Reward.confirm_at <= clock.now())
        .order_by(Reward.confirm_at).limit(limit).with_for_update(skip_locked=True)))
    for user_id in sorted({str(r.user_id) for r in due}):
        await xact_lock(session, f"rewards:user:{user_id}")
    await confirm_all(session, due)
    return len(due)


# -- refunds ----------------------------------------------------------------------------------

async def take_back_for_refund(session: AsyncSession, order_id: str, amount: int) -> None:
    """Each reward of the order gives back its share of what was refunded since it was earned,
    counted on the cumulative refund, so partial refunds never drift from a whole one."""
    found = list(await session.scalars(select(Reward).where(
        Reward.reference_type == "order", Reward.reference_id == order_id,
        Reward.status != "reversed").order_by(Reward.id).with_for_update()))
    for user_id in sorted({str(r.user_id) for r in found}):
        await xact_lock(session, f"rewards:user:{user_id}")
    batch, available = Batch(), dict[uuid.UUID, int]()
    for reward in found:
        reward.refunded += amount
        if reward.base_amount <= 0 or reward.refunded >= reward.base_amount:
            target = reward.amount
        else:
            target = reward.amount * reward.refunded // reward.base_amount
        take = target - reward.reversed
        if take > 0:
            await _take_back(session, reward, take, batch, available)
    await batch.post(session)
    await session.flush()


async def _take_back(session: AsyncSession, reward: Reward, take: int, batch: Batch,
                     available: dict[uuid.UUID, int]) -> None:
    """From pending while the reward is; else from what the user still has, the rest owed."""
    key = f"reward:{reward.id}:reverse:{reward.reversed + take}"
    if reward.status == "pending":
        source = await pending_account(session, reward.user_id, reward.asset_code)
        from_source = take
    else:
        source = await ledger.user_account(session, reward.user_id, reward.asset_code)
        if source.id not in available:
            available[source.id] = max((await ledger.balance(session, source.id)).available, 0)
        from_source = min(take, available[source.id])
        available[source.id] -= from_source
    if from_source > 0:
        batch.add(TransferIn(
            debit_account_id=source.id, credit_account_id=reward.funder_account_id,
            asset_code=reward.asset_code, amount=from_source, kind="reward_reversal",
            reference_type="reward", reference_id=str(reward.id)), key)
    if take > from_source:
        session.add(Debt(user_id=reward.user_id, asset_code=reward.asset_code,
                         amount=take - from_source, reward_id=reward.id,
                         creditor_account_id=reward.funder_account_id))
    reward.reversed += take
    if reward.reversed == reward.amount:
        reward.status = "reversed"
