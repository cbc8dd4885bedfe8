"""Refund shares, as a property: for random orders (tenders of coins worth 1, 10 or 100 paise a
unit, and cash) and random sequences of partial refunds, no tender ever gets back more than it
paid, every share is whole units of its asset, and the shares always add up to the refund.
A refund is refused only when it is more than what is left, or when no choice of whole units
makes it (checked against every reachable sum)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gullak.orders import errors
from gullak.orders.money import Candidate, Slot, allocate, split_refund

tenders = st.lists(st.tuples(st.sampled_from([1, 10, 100]), st.integers(1, 60)),
                   min_size=1, max_size=4)


def reachable(slots: list[Slot]) -> int:
    """Every refund whole units can make, as a bit set: bit n set when n is reachable."""
    sums = 1
    for s in slots:
        step = sums
        for _ in range(s.paid - s.refunded):
            step <<= s.rate
            sums |= step
    return sums


@settings(max_examples=300, deadline=None)
@given(tenders, st.lists(st.integers(1, 7_000), min_size=1, max_size=8))
def test_refunds_never_exceed_a_tender_and_always_add_up(
        paid: list[tuple[int, int]], refunds: list[int]) -> None:
    slots = [Slot(rate, units) for rate, units in paid]
    total = sum(s.rate * s.paid for s in slots)
    refunded_total = 0
    for amount in refunds:
        left = sum(s.rate * (s.paid - s.refunded) for s in slots)
        if amount > left:
            with pytest.raises(errors.RefundExceedsPaid):
                split_refund(slots, amount)
            continue
        if not reachable(slots) >> amount & 1:
            with pytest.raises(errors.RefundNotRepresentable):
                split_refund(slots, amount)
            continue
        first = all(s.refunded == 0 for s in slots)
        shares = split_refund(slots, amount)
        assert sum(u * s.rate for u, s in zip(shares, slots, strict=True)) == amount
        assert all(0 <= u <= s.paid - s.refunded for u, s in zip(shares, slots, strict=True))
        if first and all(s.rate == 1 for s in slots):  # pure proportion, to the unit
            assert all(abs(u * total - amount * s.paid) < total
                       for u, s in zip(shares, slots, strict=True))
        slots = [Slot(s.rate, s.paid, s.refunded + u) for u, s in zip(shares, slots, strict=True)]
        refunded_total += amount
        assert all(s.refunded <= s.paid for s in slots)
    assert refunded_total == sum(s.rate * s.refunded for s in slots) <= total


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 100_000), st.lists(st.tuples(st.sampled_from(["coins", "wallet"]),
                                                   st.sampled_from([1, 10, 100]),
                                                   st.integers(0, 2_000)), max_size=4),
       st.integers(0, 10_000))
def test_tenders_pay_the_total_within_the_cap(total: int, found: list[tuple[str, int, int]],
                                              cap_bps: int) -> None:
    candidates = [Candidate(kind, f"A{i}", 1 if kind == "wallet" else rate, have)
                  for i, (kind, rate, have) in enumerate(found)]
    cap = total * cap_bps // 10_000
    plan = allocate(total, candidates, cap)
    assert sum(t.value for t in plan.tenders) + plan.gateway == total and plan.gateway >= 0
    assert sum(t.value for t in plan.tenders if t.kind == "coins") <= cap
    by_code = {c.asset_code: c for c in candidates}
    assert all(0 < t.amount <= by_code[t.asset_code].available for t in plan.tenders)
