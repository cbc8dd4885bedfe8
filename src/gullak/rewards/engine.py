"""The evaluation itself, a pure function: rules + context + usage -> one decision per rule.

No database and no clock here (the caller passes `at`), so the same input always gives the same
output, the dry run and the real run agree, and the caps can be checked by a property test.

Amounts: an order's eligible amount is its total less what was refunded, in the order's
currency's minor units (paise). A coin is worth 100 minor units (1 coin per rupee), so a
`percent` rule of `bps` basis points gives `eligible * bps // 1_000_000` coins, and a cash
asset (cashback in INR) gets `eligible * bps // 10_000` paise. Every division rounds down.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

BP = 10_000  # basis points in 1x
MINOR_PER_COIN = 100
DEFAULT_TZ = "Asia/Kolkata"
ORDER_TRIGGERS = ("order_completed", "payment_method", "first_order")
TRIGGERS = (*ORDER_TRIGGERS, "review_written", "profile_completed", "sign_up", "referral",
            "achievement", "app_event")
KINDS = ("fixed", "percent", "multiplier", "cashback")
PERIODS = ("day", "week", "month", "lifetime")
# Every reason a rule did not apply, in the order they are checked.
REASONS = (
    "rule_paused", "trigger_mismatch", "campaign_inactive", "outside_window",
    "merchant_excluded", "category_excluded", "city_excluded", "tier_excluded",
    "segment_excluded", "payment_method_excluded", "below_min_amount", "day_or_hour_excluded",
    "not_first_order", "not_new_user", "not_returning_user", "referral_count_excluded",
    "user_cap_reached", "campaign_user_limit", "campaign_budget_exhausted", "zero_amount",
    "funding_exhausted", "already_rewarded",
)


@dataclass(frozen=True)
class Cap:
    period: str
    count: int | None = None
    amount: int | None = None


@dataclass(frozen=True)
class Rule:
    """One rule as its current version says (only what evaluation needs)."""

    id: uuid.UUID
    version_id: uuid.UUID
    trigger: str
    kind: str
    value: int  # coins (fixed), basis points (percent, multiplier, cashback)
    asset_code: str
    cash: bool = False  # the asset counts money in minor units, not coins
    active: bool = True
    campaign_id: uuid.UUID | None = None
    conditions: Mapping[str, Any] = field(default_factory=dict)
    max_per_reward: int | None = None
    caps: tuple[Cap, ...] = ()
    tier_multiplier: bool = False  # also multiply by the tier's and privé's multipliers
    timezone: str = DEFAULT_TZ


@dataclass(frozen=True)
class Campaign:
    id: uuid.UUID
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    budget: int | None
    spent: int
    per_user_limit: int | None


@dataclass(frozen=True)
class Context:
    """What is known about the occasion: an order, a sign-up, a review, an event."""

    trigger: str
    user_id: uuid.UUID
    at: dt.datetime
    amount: int = 0  # eligible amount, minor units of the order's currency
    merchant_id: uuid.UUID | None = None
    category_id: uuid.UUID | None = None
    city: str | None = None
    tier_code: str | None = None
    segments: frozenset[str] = frozenset()
    payment_methods: frozenset[str] = frozenset()
    completed_before: int = 0  # the user's completed orders before this one
    multiplier_bp: int = BP  # tier x privé x what the caller adds (a referral tier)
    extra: Mapping[str, Any] = field(default_factory=dict)  # event name, codes, role


@dataclass(frozen=True)
class Usage:
    """Per rule and period bucket, what the user already received; per campaign, their count."""

    rules: Mapping[tuple[uuid.UUID, str], tuple[int, int]] = field(default_factory=dict)
    campaigns: Mapping[uuid.UUID, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    rule_id: uuid.UUID
    version_id: uuid.UUID
    applied: bool
    reason: str | None
    amount: int
    asset_code: str
    buckets: tuple[str, ...] = ()  # the usage buckets a grant counts in


def bucket(period: str, at: dt.datetime, tz: str) -> str:
    local = at.astimezone(ZoneInfo(tz))
    if period == "day":
        return f"d{local:%Y-%m-%d}"
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"w{year}-{week:02d}"
    if period == "month":
        return f"m{local:%Y-%m}"
    return "all"


def buckets(rule: Rule, at: dt.datetime) -> tuple[str, ...]:
    return tuple(sorted({bucket(c.period, at, rule.timezone) for c in rule.caps}))


def base_amount(rule: Rule, ctx: Context) -> int:
    if rule.kind == "fixed":
        amount = rule.value
    elif rule.kind == "cashback" or (rule.kind == "percent" and rule.cash):
        amount = ctx.amount * rule.value // BP
    elif rule.kind == "percent":
        amount = ctx.amount * rule.value // (BP * MINOR_PER_COIN)
    else:  # multiplier of the base earn (1 coin per rupee), always times tier and privé
        return ctx.amount * rule.value * ctx.multiplier_bp // (BP * BP * MINOR_PER_COIN)
    if rule.tier_multiplier:
        amount = amount * ctx.multiplier_bp // BP
    return amount


def _window(cond: Mapping[str, Any], at: dt.datetime) -> bool:
    start, end = cond.get("starts_at"), cond.get("ends_at")
    return (start is None or at >= start) and (end is None or at < end)


def _day_hour(cond: Mapping[str, Any], at: dt.datetime, tz: str) -> bool:
    local = at.astimezone(ZoneInfo(tz))
    days = cond.get("days")
    if days and local.isoweekday() not in days:
        return False
    hours = cond.get("hours")
    return not hours or any(h["from"] <= local.hour < h["to"] for h in hours)


def _in(values: Any, value: Any) -> bool:
    return not values or value in values


def _condition(rule: Rule, ctx: Context) -> str | None:
    """The first condition the context fails, or None."""
    c = rule.conditions
    ids = lambda key: {str(v) for v in c.get(key) or ()}  # noqa: E731
    if c.get("merchant_ids") and str(ctx.merchant_id) not in ids("merchant_ids"):
        return "merchant_excluded"
    if c.get("category_ids") and str(ctx.category_id) not in ids("category_ids"):
        return "category_excluded"
    cities = {str(v).casefold() for v in c.get("cities") or ()}
    if cities and (ctx.city or "").casefold() not in cities:
        return "city_excluded"
    if not _in(c.get("tier_codes"), ctx.tier_code):
        return "tier_excluded"
    in_list = str(ctx.user_id) in ids("user_ids")
    in_segment = bool(set(c.get("segments") or ()) & ctx.segments)
    if (c.get("user_ids") or c.get("segments")) and not (in_list or in_segment):
        return "segment_excluded"
    methods = {str(m).upper() for m in c.get("payment_methods") or ()}
    if methods and not methods & ctx.payment_methods:
        return "payment_method_excluded"
    if ctx.amount < int(c.get("min_amount") or 0):
        return "below_min_amount"
    if not _day_hour(c, ctx.at, rule.timezone):
        return "day_or_hour_excluded"
    if rule.trigger == "first_order" and ctx.completed_before != 0:
        return "not_first_order"
    if c.get("customer") == "new" and ctx.completed_before != 0:
        return "not_new_user"
    if c.get("customer") == "returning" and ctx.completed_before == 0:
        return "not_returning_user"
    count = int(ctx.extra.get("referral_count") or 0)
    if rule.trigger == "referral" and not (
            int(c.get("min_referrals") or 0) <= count
            and (c.get("max_referrals") is None or count <= int(c["max_referrals"]))):
        return "referral_count_excluded"
    return None


def _trigger(rule: Rule, ctx: Context) -> bool:
    c, x = rule.conditions, ctx.extra
    order = rule.trigger in ORDER_TRIGGERS and ctx.trigger in ORDER_TRIGGERS
    if rule.trigger != ctx.trigger and not order:
        return False
    if rule.trigger == "app_event" and not _in(c.get("event_names"), x.get("event")):
        return False
    if rule.trigger == "achievement" and not _in(c.get("achievement_codes"),
                                                 x.get("achievement_code")):
        return False
    return not (rule.trigger == "referral" and not _in(c.get("referral_roles"), x.get("role")))


def _capped(rule: Rule, ctx: Context, usage: Usage, amount: int) -> tuple[str | None, int]:
    """The amount the caps still allow (or the reason none is)."""
    for cap in rule.caps:
        count, given = usage.rules.get((rule.id, bucket(cap.period, ctx.at, rule.timezone)),
                                       (0, 0))
        if cap.count is not None and count >= cap.count:
            return "user_cap_reached", 0
        if cap.amount is not None:
            if given >= cap.amount:
                return "user_cap_reached", 0
            amount = min(amount, cap.amount - given)
    return None, amount


def decide_one(rule: Rule, ctx: Context, usage: Usage,
               campaigns: Mapping[uuid.UUID, Campaign]) -> Decision:
    def no(reason: str) -> Decision:
        return Decision(rule.id, rule.version_id, False, reason, 0, rule.asset_code)

    campaign = campaigns.get(rule.campaign_id) if rule.campaign_id else None
    if not rule.active:
        return no("rule_paused")
    if not _trigger(rule, ctx):
        return no("trigger_mismatch")
    if rule.campaign_id is not None and (campaign is None or campaign.status != "active"):
        return no("campaign_inactive")
    if not _window(rule.conditions, ctx.at) or (campaign is not None and not (
            campaign.starts_at <= ctx.at
            and (campaign.ends_at is None or ctx.at < campaign.ends_at))):
        return no("outside_window")
    reason = _condition(rule, ctx)
    if reason:
        return no(reason)
    amount = base_amount(rule, ctx)
    if rule.max_per_reward is not None:
        amount = min(amount, rule.max_per_reward)
    reason, amount = _capped(rule, ctx, usage, amount)
    if reason:
        return no(reason)
    if campaign is not None:
        if campaign.per_user_limit is not None \
                and usage.campaigns.get(campaign.id, 0) >= campaign.per_user_limit:
            return no("campaign_user_limit")
        if campaign.budget is not None and campaign.spent + max(amount, 1) > campaign.budget:
            return no("campaign_budget_exhausted")
    if amount <= 0:
        return no("zero_amount")
    return Decision(rule.id, rule.version_id, True, None, amount, rule.asset_code,
                    buckets(rule, ctx.at))


def decide(rules: Sequence[Rule], ctx: Context, usage: Usage,
           campaigns: Mapping[uuid.UUID, Campaign]) -> list[Decision]:
    """One decision per rule, in the rules' order (by id: stable). Rules are independent:
    each has its own caps; two rules of one campaign share its budget, so the budget a grant
    takes is counted before the next rule of the same campaign is decided."""
    spent: dict[uuid.UUID, int] = {}
    counted: dict[uuid.UUID, int] = dict(usage.campaigns)
    out: list[Decision] = []
    for rule in sorted(rules, key=lambda r: r.id):
        view = dict(campaigns)
        if rule.campaign_id in view and rule.campaign_id in spent:
            c = view[rule.campaign_id]
            view[rule.campaign_id] = Campaign(c.id, c.status, c.starts_at, c.ends_at, c.budget,
                                              c.spent + spent[rule.campaign_id],
                                              c.per_user_limit)
        decision = decide_one(rule, ctx, Usage(usage.rules, counted), view)
        if decision.applied and rule.campaign_id is not None:
            spent[rule.campaign_id] = spent.get(rule.campaign_id, 0) + decision.amount
            counted[rule.campaign_id] = counted.get(rule.campaign_id, 0) + 1
        out.append(decision)
    return out


def record(usage: Usage, decisions: Sequence[Decision],
           rules: Mapping[uuid.UUID, Rule]) -> Usage:
    """The usage after `decisions` were granted (what the service writes to its tables)."""
    counts = dict(usage.rules)
    campaigns = dict(usage.campaigns)
    for d in decisions:
        if not d.applied:
            continue
        for b in d.buckets:
            n, a = counts.get((d.rule_id, b), (0, 0))
            counts[(d.rule_id, b)] = (n + 1, a + d.amount)
        campaign_id = rules[d.rule_id].campaign_id
        if campaign_id is not None:
            campaigns[campaign_id] = campaigns.get(campaign_id, 0) + 1
    return Usage(counts, campaigns)
