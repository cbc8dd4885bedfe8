"""Payouts arithmetic and small rules, without a database: how alike two names are, the fee
and tax of a withdrawal, a destination's keyed fingerprint, and how a destination is shown."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gullak.payouts.common import charges, fingerprint, masked, name_score, upi_visible, words

# ASCII letters only where case is changed: str.upper() of some letters is two letters.
ascii_word = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1,
                     max_size=12)
name = st.lists(ascii_word, min_size=1, max_size=5).map(" ".join)


@pytest.mark.parametrize(("given_", "registered", "score"), [
    ("Rahul Kumar", "KUMAR RAHUL", 100),
    ("Rahul Dev Kumar", "kumar dev rahul", 100),
    ("R. Kumar", "Rahul Kumar", 90),
    ("R Kumar", "Rahul Dev Kumar", 90),
    ("Rahul Kumar", "Rahul Dev Kumar", 90),
    ("Mr. Rahul Kumar", "RAHUL KUMAR", 100),
    ("Smt. Priya-Sharma", "PRIYA SHARMA", 100),
    ("Dr Rahul, Kumar!", "Shri Rahul Kumar", 100),
])
def test_the_documented_tolerance(given_: str, registered: str, score: int) -> None:
    assert name_score(given_, registered) == score
    assert name_score(registered, given_) == score


def test_a_letter_or_two_is_forgiven_a_different_name_is_not() -> None:
    assert name_score("Mohammad Ali", "Mohammed Ali") >= 80
    assert name_score("Mohammed Ali", "Mohammad Ali") >= 80
    for a, b in [("Rahul Kumar", "Priya Sharma"), ("Rahul Kumar", "Rohit Verma"),
                 ("Anita Desai", "SANDBOX OTHER PERSON"), ("R. Kumar", "Priya Kumar")]:
        assert name_score(a, b) < 80, (a, b)
        assert name_score(b, a) < 80, (b, a)


def test_an_initial_needs_the_first_and_last_words() -> None:
    # One word is not a name to match by initials, and the last word must agree.
    assert name_score("Kumar", "Rahul Kumar") < 90
    assert name_score("R. Sharma", "Rahul Kumar") < 80


@pytest.mark.parametrize(("a", "b"), [("", "Rahul Kumar"), ("Rahul Kumar", ""), ("", ""),
                                      ("Mr. Dr.", "Mr. Dr."), ("...", "Rahul")])
def test_nothing_to_compare_scores_zero(a: str, b: str) -> None:
    assert name_score(a, b) == 0


# difflib's ratio depends on which side is first ("Rahul Kumar" against "Priya Sharma" is 17
# one way and 26 the other), so only the range and the identities are properties.
@given(st.text(max_size=60), st.text(max_size=60))
def test_a_score_is_within_0_and_100(a: str, b: str) -> None:
    assert 0 <= name_score(a, b) <= 100


@given(st.text(max_size=60))
def test_a_name_matches_itself(x: str) -> None:
    assert name_score(x, x) == (100 if words(x) else 0)


@given(name, st.sampled_from(["Mr.", "Mrs", "Dr", "Shri", "Smt.", "Kumari"]))
def test_order_case_and_honorifics_do_not_count(x: str, honorific: str) -> None:
    shuffled = " ".join(reversed(x.split())).upper()
    expected = 100 if words(x) else 0
    assert name_score(x, shuffled) == expected
    assert name_score(f"{honorific} {x}", x) == expected


def test_charges_flat_plus_basis_points_and_tax_above_the_threshold() -> None:
    costs = charges(200_000, fee_flat=500, fee_bps=100, tax_bps=100, tax_above=100_000)
    assert (costs.fee, costs.tax, costs.net(200_000)) == (2_500, 2_000, 195_500)
    # Rounded down: 1.5% of 12,345 is 185.175.
    assert charges(12_345, fee_flat=0, fee_bps=150, tax_bps=0, tax_above=0).fee == 185
    assert charges(12_345, fee_flat=0, fee_bps=0, tax_bps=150, tax_above=0).tax == 185
    # Tax only strictly above the threshold.
    at = charges(100_000, fee_flat=0, fee_bps=0, tax_bps=100, tax_above=100_000)
    above = charges(100_001, fee_flat=0, fee_bps=0, tax_bps=100, tax_above=100_000)
    assert (at.tax, above.tax) == (0, 1_000)
    assert charges(10**9, fee_flat=0, fee_bps=0, tax_bps=0, tax_above=0) == \
        charges(10**9, fee_flat=0, fee_bps=0, tax_bps=0, tax_above=5)


@given(st.integers(1, 2**62), st.integers(0, 10**6), st.integers(0, 10_000),
       st.integers(0, 10_000), st.integers(0, 2**62))
def test_charges_are_exact_floors(amount: int, flat: int, fee_bps: int, tax_bps: int,
                                  above: int) -> None:
    costs = charges(amount, fee_flat=flat, fee_bps=fee_bps, tax_bps=tax_bps, tax_above=above)
    exact_fee = Fraction(amount * fee_bps, 10_000)
    assert costs.fee - flat <= exact_fee < costs.fee - flat + 1
    if amount > above:
        assert costs.tax <= Fraction(amount * tax_bps, 10_000) < costs.tax + 1
    else:
        assert costs.tax == 0
    assert costs.net(amount) == amount - costs.fee - costs.tax


def test_fingerprint_is_keyed_and_normalised() -> None:
    parts = ("bank", "HDFC0001234", "50100012345678")
    mark = fingerprint("secret-one", *parts)
    assert mark == fingerprint("secret-one", *parts)
    assert mark == fingerprint("secret-one", " BANK ", "hdfc0001234", "50100012345678 ")
    assert mark != fingerprint("secret-two", *parts)
    assert mark != fingerprint("secret-one", "bank", "HDFC0001234", "50100012345679")
    # The parts are kept apart: moving a character across a boundary is another destination.
    assert fingerprint("s", "bank", "HDFC000123", "4123") != fingerprint("s", "bank",
                                                                        "HDFC0001234", "123")
    assert "50100012345678" not in mark and len(mark) == 64


def test_how_a_destination_is_shown() -> None:
    assert masked("bank", "5678") == "XXXX5678"
    assert masked("bank_channel", "0042") == "XXXX0042"
    visible = upi_visible("rahul.kumar@okicici")
    assert visible == "ra***@okicici"
    assert masked("upi", visible) == "ra***@okicici"
    assert "rahul.kumar" not in visible


def test_initials_alone_match_nobody() -> None:
    assert name_score("R K", "Rahul Kumar") < 80
    assert name_score("R Kumar", "Rahul Kumar") == 90


def test_stored_callbacks_keep_destinations_masked() -> None:
    from gullak.payouts.disbursements import redact

    payload = {"event": "payout.processed", "payload": {"payout": {"entity": {
        "id": "pout_1", "fund_account": {"bank_account": {"account_number": "50100012345678",
                                                          "ifsc": "HDFC0001234"},
                                         "vpa": {"address": "rahul@okicici"}}}}},
        "data": [{"channel_properties": {"account_number": "1234567890"}}]}
    stored = redact(payload)
    text = str(stored)
    for clear in ("50100012345678", "rahul@okicici", "1234567890"):
        assert clear not in text
    entity = stored["payload"]["payout"]["entity"]
    assert entity["fund_account"]["bank_account"] == {"account_number": "XXXXXXXXXX5678",
                                                      "ifsc": "HDFC0001234"}
    assert entity["id"] == "pout_1" and stored["event"] == "payout.processed"
