"""Loyalty shapes."""

from __future__ import annotations

from gullak.kit.schemas import Out

BASE_MULTIPLIER = 10_000  # basis points: 10,000 is 1x


class UserTierOut(Out):
    """The tier a user is in now, as the rewards rules use it."""

    code: str
    name: str
    rank: int  # 0 for the lowest tier
    multiplier_bp: int = BASE_MULTIPLIER  # coin multiplier of the rules, in basis points


class PriveBenefitOut(Out):
    """What an active privé subscription gives at one merchant."""

    plan_code: str
    discount_bp: int  # member discount, basis points of the order's amount
    multiplier_bp: int  # coin multiplier at this merchant, basis points
