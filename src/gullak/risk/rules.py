"""The rules: each looks at one fact and what is known around it and returns a finding (a
score from 0 to 100 and the signals behind it) or nothing when the pattern is not there.

Thresholds and windows are settings (GULLAK_RISK_*), not rows: they change with a deploy and
a review, like the code that reads them, and a test can state them exactly. A counting rule
scores 50 at its threshold and 100 at twice it, so one more than usual asks for a review and
a lot more blocks (80, the default block score, is 1.6 times the threshold).
"""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import service as identity
from gullak.offers import service as offers
from gullak.payouts import service as payouts
from gullak.referrals import service as referrals
from gullak.risk.models import SignInPlace
from gullak.settings import Settings


@dataclass(frozen=True)
class Finding:
    rule: str
    subject_type: str
    subject_id: str
    score: int
    signals: dict[str, Any] = field(default_factory=dict)


def escalate(observed: int, threshold: int) -> int:
    """50 at the threshold, 100 at twice it; 0 below it."""
    if observed < threshold:
        return 0
    return min(100, 50 * observed // threshold)


async def sign_in(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                  device_id: str | None, new_device: bool, city: str | None,
                  now: dt.datetime) -> Finding | None:
    """A new device in a city the user never signed in from. The first city a user is seen in
    is known from then on; a sign-in with no city says nothing about places."""
    if not city:
        return None
    city = city.strip()[:200]
    known = set(await session.scalars(select(SignInPlace.city).where(
        SignInPlace.user_id == user_id)))
    await session.execute(insert(SignInPlace).values(
        user_id=user_id, city=city, first_seen_at=now, last_seen_at=now)
        .on_conflict_do_update(index_elements=["user_id", "city"], set_={"last_seen_at": now}))
    if not new_device or not known or city in known:
        return None
    return Finding("suspicious_sign_in", "user", str(user_id), settings.risk_sign_in_score,
                   {"device_id": device_id, "city": city, "new_device": True,
                    "known_cities": len(known)})


async def device_accounts(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                          device_id: str | None) -> Finding | None:
    """Many accounts on one device: one person farming sign-up offers."""
    if not device_id:
        return None
    cap = settings.risk_device_accounts * 2
    users = await identity.users_on_device(session, device_id, limit=cap) | {user_id}
    score = escalate(len(users), settings.risk_device_accounts)
    if not score:
        return None
    return Finding("device_accounts", "device", device_id, score,
                   {"device_id": device_id, "accounts": len(users),
                    "threshold": settings.risk_device_accounts})


async def redemption_velocity(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                              redemption_id: str, now: dt.datetime) -> Finding | None:
    window = settings.risk_redemption_window_minutes
    threshold = settings.risk_redemptions_per_window
    count = await offers.redemptions_since(session, user_id, now - dt.timedelta(minutes=window),
                                           cap=threshold * 2)
    score = escalate(count, threshold)
    if not score:
        return None
    return Finding("redemption_velocity", "redemption", redemption_id, score,
                   {"redemptions": count, "window_minutes": window, "threshold": threshold})


async def referral_ring(session: AsyncSession, settings: Settings,
                        user_id: uuid.UUID) -> Finding | None:
    """Many referees signed up from one device, or a chain of referrals that comes back to
    itself or to the device it started from."""
    device, same_device, chain, closed = await referrals.ring_facts(session, user_id)
    score = escalate(same_device, settings.risk_referees_per_device)
    if closed:
        score = 100
    if not score:
        return None
    return Finding("referral_ring", "user", str(user_id), score,
                   {"device_id": device, "referees_on_device": same_device,
                    "chain": [str(u) for u in chain], "closed_chain": closed,
                    "threshold": settings.risk_referees_per_device})


async def withdrawal(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                     withdrawal_id: str, asset_code: str, amount: int,
                     now: dt.datetime) -> list[Finding]:
    """Far above the user's usual amount, or many withdrawals in a short window."""
    found: list[Finding] = []
    history = [row for row in await payouts.recent_withdrawals(session, user_id, asset_code)
               if str(row[0]) != withdrawal_id]
    if len(history) >= settings.risk_withdrawal_history:
        usual = int(statistics.median(r[1] for r in history))
        # Ratio in tenths, so that 7.5 times the usual scores between 7 and 8 times.
        ratio_10 = amount * 10 // max(usual, 1)
        score = escalate(ratio_10, settings.risk_withdrawal_multiple * 10)
        if score:
            found.append(Finding("withdrawal_amount", "withdrawal", withdrawal_id, score,
                                 {"amount": amount, "asset_code": asset_code, "usual": usual,
                                  "multiple": settings.risk_withdrawal_multiple}))
    hours = settings.risk_withdrawal_window_hours
    since = now - dt.timedelta(hours=hours)
    count = 1 + sum(1 for r in history if r[2] >= since)
    score = escalate(count, settings.risk_withdrawals_per_window)
    if score:
        found.append(Finding("withdrawal_velocity", "withdrawal", withdrawal_id, score,
                             {"withdrawals": count, "window_hours": hours,
                              "threshold": settings.risk_withdrawals_per_window}))
    return found
