"""Payouts arithmetic and small rules, pure: the fee and the tax of a withdrawal, how alike
two names are, a destination's fingerprint, and how a destination is shown.

Name matching (the documented tolerance): both names are folded to lower case letters,
honorifics (Mr, Mrs, Ms, Dr, Shri, Smt, Kumari, Sri, M/s) and punctuation dropped; then
- the same words in any order score 100 ("KUMAR RAHUL" is "Rahul Kumar");
- initials stand for a word ("R. Kumar" for "Rahul Kumar") and a missing middle name is
  forgiven ("Rahul Kumar" for "Rahul Dev Kumar"), scoring 90, as long as the first and
  last words agree, at least two words are there and one of them is spelt out (initials
  alone, "R K", match nobody);
- otherwise the score is the similarity of the two sorted word lists (difflib's ratio),
  0 to 100, which forgives a letter or two ("Mohammad" and "Mohammed").
A method is verified when the score reaches GULLAK_PAYOUT_NAME_MATCH (80 by default).
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass

HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "dr", "shri", "smt", "sri", "kumari", "m/s",
                        "ms.", "md"})
_WORD = re.compile(r"[^\w/]+")


def words(name: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return [w for w in _WORD.split(folded.replace(".", " ")) if w and w not in HONORIFICS]


def _initial_match(short: list[str], long: list[str]) -> bool:
    """Every word of `short` is a word of `long` or its initial, in order, with the first and
    last words matching."""
    if len(short) < 2 or len(short) > len(long) or all(len(w) == 1 for w in short):
        return False

    def same(a: str, b: str) -> bool:
        return a == b or (len(a) == 1 and b.startswith(a))

    if not same(short[0], long[0]) or not same(short[-1], long[-1]):
        return False
    rest = iter(long[1:-1])
    return all(any(same(w, candidate) for candidate in rest) for w in short[1:-1])


def name_score(given: str, registered: str) -> int:
    """How alike two people's names are, 0 to 100 (see the module's note)."""
    a, b = words(given), words(registered)
    if not a or not b:
        return 0
    if sorted(a) == sorted(b):
        return 100
    if _initial_match(a, b) or _initial_match(b, a):
        return 90
    ratio = difflib.SequenceMatcher(None, " ".join(sorted(a)), " ".join(sorted(b))).ratio()
    return int(ratio * 100)


@dataclass(frozen=True)
class Charges:
    fee: int
    tax: int

    def net(self, amount: int) -> int:
        return amount - self.fee - self.tax


def charges(amount: int, *, fee_flat: int, fee_bps: int, tax_bps: int,
            tax_above: int) -> Charges:
    """The fee (flat plus basis points, rounded down) and the tax withheld (basis points of
    the amount, rounded down, only above the threshold)."""
    fee = fee_flat + amount * fee_bps // 10_000
    tax = amount * tax_bps // 10_000 if tax_bps and amount > tax_above else 0
    return Charges(fee, tax)


def fingerprint(secret: str, *parts: str) -> str:
    """Keyed, so a copy of the table cannot be matched against a list of account numbers."""
    message = "payout_destination:" + "|".join(p.strip().lower() for p in parts)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def masked(kind: str, last4: str) -> str:
    """`XXXX1234` for an account, `ab***@bank` for a UPI id (`last4` holds its visible part)."""
    return last4 if kind == "upi" else f"XXXX{last4}"


def upi_visible(upi_id: str) -> str:
    name, _, bank = upi_id.partition("@")
    return f"{name[:2]}***@{bank}"
