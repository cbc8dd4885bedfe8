"""What the referral modules share: the keyed hash a phone is known by, masking a referee's
name, tiers by count, keyset pages, and the shapes rows are shown in."""

from __future__ import annotations

import hmac
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.referrals.models import ReferralTier
from gullak.referrals.schemas import TierOut, TierProgress
from gullak.settings import get_settings

REFERENCE = "referral"
INR = "INR"
COMMISSION = "commission"  # the ambassador's withdrawable INR account's purpose
COMMISSION_FUNDING = "referral_commission"  # the platform account commission is paid from
ONE_X = 10_000

Row = TypeVar("Row")


def phone_hash(phone: str | None) -> str | None:
    """Keyed, so a copy of the table cannot be matched against a list of numbers."""
    if not phone:
        return None
    key = get_settings().secret("secret_key").encode()
    return hmac.new(key, f"referral_phone:{phone}".encode(), "sha256").hexdigest()


def masked_name(name: str | None) -> str:
    """`R*** K***`: the first letter of each word, so a referrer recognises a friend and
    learns nothing more."""
    words = (name or "").split()
    if not words:
        return "New member"
    return " ".join(f"{w[0]}***" for w in words[:2])


async def tiers(session: AsyncSession) -> list[ReferralTier]:
    return list(await session.scalars(select(ReferralTier).order_by(ReferralTier.min_referrals)))


def tier_for(rows: list[ReferralTier], count: int) -> ReferralTier | None:
    """The highest tier whose minimum the count reaches."""
    found = None
    for tier in rows:
        if tier.min_referrals <= count:
            found = tier
    return found


def progress(rows: list[ReferralTier], count: int) -> TierProgress:
    current = tier_for(rows, count)
    upcoming = next((t for t in rows if t.min_referrals > count), None)
    return TierProgress(
        current=TierOut.model_validate(current) if current else None,
        multiplier_bp=current.multiplier_bp if current else ONE_X,
        next=TierOut.model_validate(upcoming) if upcoming else None,
        referrals_to_next=upcoming.min_referrals - count if upcoming else None)
