"""The pure evaluation: each trigger, condition and cap, every reason a rule does not apply,
and the property that evaluation is deterministic and never passes a cap."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gullak.rewards import engine
from gullak.rewards.engine import Campaign, Cap, Context, Rule, Usage

# A Wednesday, 14:30 in Kolkata.
AT = dt.datetime(2026, 12, 9, 9, 0, tzinfo=dt.UTC)
USER, MERCHANT, CATEGORY = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def rule(**changes: Any) -> Rule:
    base = Rule(id=uuid.uuid4(), version_id=uuid.uuid4(), trigger="order_completed",
                kind="fixed", value=50, asset_code="REZ")
    return dataclasses.replace(base, **changes)


def order(**changes: Any) -> Context:
    base = Context(trigger="order_completed", user_id=USER, at=AT, amount=50_000,
                   merchant_id=MERCHANT, category_id=CATEGORY, city="Mumbai",
                   tier_code="gold", segments=frozenset({"students"}),
                   payment_methods=frozenset({"WALLET"}), completed_before=3)
    return dataclasses.replace(base, **changes)


def one(r: Rule, ctx: Context | None = None, usage: Usage | None = None,
        campaigns: dict[uuid.UUID, Campaign] | None = None) -> engine.Decision:
    return engine.decide([r], ctx or order(), usage or Usage(), campaigns or {})[0]


def campaign(**changes: Any) -> Campaign:
    base = Campaign(id=uuid.uuid4(), status="active", starts_at=AT - dt.timedelta(days=1),
                    ends_at=AT + dt.timedelta(days=1), budget=1_000, spent=0,
                    per_user_limit=None)
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(("conditions", "reason"), [
    ({"merchant_ids": [str(uuid.uuid4())]}, "merchant_excluded"),
    ({"category_ids": [str(uuid.uuid4())]}, "category_excluded"),
    ({"cities": ["Pune"]}, "city_excluded"),
    ({"tier_codes": ["silver", "prive"]}, "tier_excluded"),
    ({"segments": ["ambassadors"]}, "segment_excluded"),
    ({"user_ids": [str(uuid.uuid4())]}, "segment_excluded"),
    ({"payment_methods": ["GATEWAY"]}, "payment_method_excluded"),
    ({"min_amount": 50_001}, "below_min_amount"),
    ({"days": [6, 7]}, "day_or_hour_excluded"),
    ({"hours": [{"from": 18, "to": 23}]}, "day_or_hour_excluded"),
    ({"customer": "new"}, "not_new_user"),
    ({"starts_at": AT + dt.timedelta(hours=1)}, "outside_window"),
    ({"ends_at": AT}, "outside_window"),
])
def test_each_condition_that_fails_gives_its_reason(conditions: dict[str, Any],
                                                    reason: str) -> None:
    d = one(rule(conditions=conditions))
    assert (d.applied, d.reason, d.amount) == (False, reason, 0)


@pytest.mark.parametrize("conditions", [
    {"merchant_ids": [str(MERCHANT)]}, {"category_ids": [str(CATEGORY)]},
    {"cities": ["mumbai"]}, {"tier_codes": ["gold"]}, {"segments": ["students"]},
    {"user_ids": [str(USER)]}, {"payment_methods": ["wallet"]}, {"min_amount": 50_000},
    {"days": [3]}, {"hours": [{"from": 14, "to": 15}]}, {"customer": "returning"},
    {"starts_at": AT, "ends_at": AT + dt.timedelta(seconds=1)},
])
def test_each_condition_that_holds_applies(conditions: dict[str, Any]) -> None:
    d = one(rule(conditions=conditions))
    assert (d.applied, d.reason, d.amount) == (True, None, 50)


def test_hours_are_in_the_rules_time_zone() -> None:
    # 09:00 UTC is 14:30 in Kolkata and 09:00 in London.
    r = rule(conditions={"hours": [{"from": 9, "to": 10}]})
    assert one(r).reason == "day_or_hour_excluded"
    assert one(dataclasses.replace(r, timezone="Europe/London")).applied


def test_returning_and_first_order() -> None:
    assert one(rule(conditions={"customer": "returning"}),
               order(completed_before=0)).reason == "not_returning_user"
    first = rule(trigger="first_order")
    assert one(first).reason == "not_first_order"
    assert one(first, order(completed_before=0)).applied
    assert one(rule(conditions={"customer": "new"}), order(completed_before=0)).applied


@pytest.mark.parametrize(("trigger", "extra", "conditions", "applies"), [
    ("sign_up", {}, {}, True),
    ("profile_completed", {}, {}, True),
    ("review_written", {}, {"merchant_ids": [str(MERCHANT)]}, True),
    ("app_event", {"event": "steps_10k"}, {"event_names": ["steps_10k"]}, True),
    ("app_event", {"event": "quiz"}, {"event_names": ["steps_10k"]}, False),
    ("achievement", {"achievement_code": "FIRST_5"}, {"achievement_codes": ["FIRST_5"]}, True),
    ("achievement", {"achievement_code": "X"}, {"achievement_codes": ["FIRST_5"]}, False),
    ("referral", {"role": "referrer"}, {"referral_roles": ["referrer"]}, True),
    ("referral", {"role": "referee"}, {"referral_roles": ["referrer"]}, False),
])
def test_each_trigger(trigger: str, extra: dict[str, Any], conditions: dict[str, Any],
                      applies: bool) -> None:
    d = one(rule(trigger=trigger, conditions=conditions), order(trigger=trigger, extra=extra))
    assert (d.applied, d.reason) == ((True, None) if applies else (False, "trigger_mismatch"))
    # And no rule of another trigger applies to it.
    other = "sign_up" if trigger != "sign_up" else "review_written"
    assert one(rule(trigger=other), order(trigger=trigger, extra=extra)).reason \
        == "trigger_mismatch"


def test_an_order_completion_is_every_order_trigger() -> None:
    paid = rule(trigger="payment_method", conditions={"payment_methods": ["WALLET"]})
    assert one(paid).applied
    assert one(paid, order(payment_methods=frozenset({"GATEWAY"}))).reason \
        == "payment_method_excluded"


def test_referral_tiers() -> None:
    r = rule(trigger="referral", conditions={"min_referrals": 5, "max_referrals": 9})
    assert one(r, order(trigger="referral", extra={"referral_count": 4})).reason \
        == "referral_count_excluded"
    assert one(r, order(trigger="referral", extra={"referral_count": 5})).applied
    assert one(r, order(trigger="referral", extra={"referral_count": 10})).reason \
        == "referral_count_excluded"


def test_amounts_of_each_kind() -> None:
    # ₹500.00 eligible: 5 % is 25 coins (1 coin per rupee) or ₹25.00 of cashback.
    assert one(rule(kind="percent", value=500)).amount == 25
    assert one(rule(kind="percent", value=500, asset_code="INR", cash=True)).amount == 2_500
    assert one(rule(kind="cashback", value=200, asset_code="INR", cash=True)).amount == 1_000
    # 2x the base earn (500 coins), times gold's 1.5x and privé's 1.2x: 1 800.
    assert one(rule(kind="multiplier", value=20_000),
               order(multiplier_bp=18_000)).amount == 1_800
    assert one(rule(value=50, tier_multiplier=True), order(multiplier_bp=15_000)).amount == 75
    assert one(rule(kind="percent", value=500, max_per_reward=10)).amount == 10
    assert one(rule(kind="percent", value=1), order(amount=100)).reason == "zero_amount"


def test_caps_per_period() -> None:
    r = rule(caps=(Cap("day", count=2), Cap("month", amount=120)))
    day, month = engine.bucket("day", AT, engine.DEFAULT_TZ), engine.bucket("month", AT,
                                                                            engine.DEFAULT_TZ)
    assert (day, month) == ("d2026-12-09", "m2026-12")
    assert one(r, usage=Usage({(r.id, day): (1, 50), (r.id, month): (1, 50)})).amount == 50
    assert one(r, usage=Usage({(r.id, day): (2, 100)})).reason == "user_cap_reached"
    # The monthly amount left is 20: the reward shrinks to it, then stops.
    assert one(r, usage=Usage({(r.id, month): (5, 100)})).amount == 20
    assert one(r, usage=Usage({(r.id, month): (6, 120)})).reason == "user_cap_reached"
    # Tomorrow is another day.
    assert one(r, order(at=AT + dt.timedelta(days=1)),
               Usage({(r.id, day): (2, 100)})).applied


def test_campaign_reasons() -> None:
    c = campaign(per_user_limit=1)
    r = rule(campaign_id=c.id)
    assert one(r, campaigns={c.id: c}).applied
    assert one(r, campaigns={c.id: dataclasses.replace(c, status="paused")}).reason \
        == "campaign_inactive"
    assert one(r, campaigns={}).reason == "campaign_inactive"
    assert one(r, campaigns={c.id: dataclasses.replace(c, ends_at=AT)}).reason \
        == "outside_window"
    assert one(r, usage=Usage(campaigns={c.id: 1}), campaigns={c.id: c}).reason \
        == "campaign_user_limit"
    assert one(r, campaigns={c.id: dataclasses.replace(c, spent=960)}).reason \
        == "campaign_budget_exhausted"
    assert one(dataclasses.replace(r, active=False), campaigns={c.id: c}).reason == "rule_paused"


def test_two_rules_of_one_campaign_share_its_budget() -> None:
    c = campaign(budget=80)
    rules = [rule(campaign_id=c.id), rule(campaign_id=c.id)]
    decisions = engine.decide(rules, order(), Usage(), {c.id: c})
    assert [(d.applied, d.reason) for d in decisions] == [
        (True, None), (False, "campaign_budget_exhausted")]


# -- the property -----------------------------------------------------------------------------

caps = st.lists(st.builds(Cap, period=st.sampled_from(engine.PERIODS),
                          count=st.one_of(st.none(), st.integers(1, 4)),
                          amount=st.one_of(st.none(), st.integers(1, 400))),
                max_size=3)
rules_st = st.lists(st.builds(
    rule, kind=st.sampled_from(engine.KINDS), value=st.integers(1, 5_000),
    caps=caps.map(tuple), max_per_reward=st.one_of(st.none(), st.integers(1, 300)),
    trigger=st.sampled_from(engine.ORDER_TRIGGERS),
    conditions=st.fixed_dictionaries({}, optional={
        "min_amount": st.integers(0, 100_000), "customer": st.sampled_from(["new", "returning"]),
        "hours": st.just([{"from": 8, "to": 20}])}),
    tier_multiplier=st.booleans()), min_size=1, max_size=6)
orders_st = st.lists(st.tuples(st.integers(0, 200_000), st.integers(0, 60 * 24 * 40),
                               st.integers(5_000, 30_000)), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(rules=rules_st, orders=orders_st)
def test_evaluation_is_deterministic_and_never_passes_a_cap(
        rules: list[Rule], orders: list[tuple[int, int, int]]) -> None:
    by_id = {r.id: r for r in rules}
    usage = Usage()
    given_: dict[tuple[uuid.UUID, str], list[int]] = {}
    at = AT
    for n, (amount, minutes, multiplier) in enumerate(sorted(orders, key=lambda o: o[1])):
        ctx = order(at=AT + dt.timedelta(minutes=minutes), amount=amount, completed_before=n,
                    multiplier_bp=multiplier)
        at = ctx.at
        first = engine.decide(rules, ctx, usage, {})
        assert first == engine.decide(list(reversed(rules)), ctx, usage, {})
        for d in first:
            r = by_id[d.rule_id]
            assert d.amount >= 0 and (d.amount > 0) == d.applied
            if d.applied and r.max_per_reward is not None:
                assert d.amount <= r.max_per_reward
            if d.applied:
                for key in {engine.bucket(c.period, at, r.timezone) for c in r.caps}:
                    given_.setdefault((r.id, key), []).append(d.amount)
        usage = engine.record(usage, first, by_id)
    for r in rules:
        for cap in r.caps:
            for (rule_id, key), amounts in given_.items():
                if rule_id != r.id or key[0] != engine.bucket(cap.period, AT, "UTC")[0]:
                    continue
                assert cap.count is None or len(amounts) <= cap.count
                assert cap.amount is None or sum(amounts) <= cap.amount
