"""Refusing referrals that reward one person twice: self-referral (the same account, phone or
device as the referrer) and rings (the referee's phone referred before, or their device seen on
another account of the referrer's circle, or the same payout account as the referrer).

A refusal is a reason code on the referral and a risk event for the back office; it never
refuses the sign-up itself.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import service as identity
from gullak.kit import clock
from gullak.kit.security import Subject
from gullak.referrals.models import Referral, ReferralRiskEvent

Finding = tuple[str, dict[str, Any]]


async def devices_of(session: AsyncSession, user_id: uuid.UUID) -> set[str]:
    """Device ids an account signed in from (open sessions) or registered for push."""
    found = {s.device_id for s in await identity.list_sessions(session, Subject("user", user_id))
             if s.device_id}
    found |= {d.device_id for d in await identity.list_devices(session, user_id)}
    return found


async def payout_account_of(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    """A fingerprint of where the user's money is paid out (bank account, UPI id), once a
    payouts domain keeps one; until then nobody has one and the check finds nothing. Two
    accounts with the same fingerprint are one person."""
    return None


async def at_sign_up(session: AsyncSession, referral: Referral,
                     referrer_phone_hash: str | None) -> Finding | None:
    """The first reason to refuse a referral just recorded, or None."""
    if referral.referee_id == referral.referrer_id:
        return "self_referral", {}
    if referral.referee_phone_hash and referral.referee_phone_hash == referrer_phone_hash:
        return "same_phone", {}
    device = referral.device_id
    if device and device in await devices_of(session, referral.referrer_id):
        return "same_device", {"device_id": device}
    if referral.referee_phone_hash:
        earlier = await session.scalar(select(Referral.id).where(
            Referral.referee_phone_hash == referral.referee_phone_hash,
            Referral.id != referral.id).limit(1))
        if earlier is not None:  # the number was referred before: an account opened again
            return "ring_phone", {"earlier_referral_id": str(earlier)}
    if device:
        other = await session.scalar(select(Referral.referee_id).where(
            Referral.referrer_id == referral.referrer_id, Referral.device_id == device,
            Referral.id != referral.id).limit(1))
        if other is not None:
            return "ring_device", {"device_id": device, "other_user_id": str(other)}
        upline = (await identity.get_user(session, referral.referrer_id)).referred_by_id
        if upline is not None and device in await devices_of(session, upline):
            return "ring_device", {"device_id": device, "other_user_id": str(upline)}
    return None


async def at_qualification(session: AsyncSession, referral: Referral) -> Finding | None:
    mine = await payout_account_of(session, referral.referee_id)
    if mine is not None and mine == await payout_account_of(session, referral.referrer_id):
        return "same_payout_account", {}
    return None


async def refuse(session: AsyncSession, referral: Referral, finding: Finding) -> None:
    kind, details = finding
    referral.status, referral.refused_reason = "refused", kind
    session.add(ReferralRiskEvent(
        user_id=referral.referee_id, referral_id=referral.id, kind=kind,
        details={"referrer_id": str(referral.referrer_id), "code": referral.code, **details},
        created_at=clock.now()))
    await session.flush()
