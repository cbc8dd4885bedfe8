"""Settling a day: the anti-cheat's verdict, the verified steps it allows, and their coins.

A day's coins are one figure, `credited`. Each change of it is a version of the day whose
difference moves as one ledger transfer with reference ('step_day', summary id) and key
`step_day:<id>:v<version>`, so a replay never pays twice and a re-verification moves only
the difference: issuance -> the user's main account when it went up, back when it went down.
Taking back never makes the account negative: what the user no longer has is recorded on the
day as `unrecovered` (not chased); a later correction upwards pays it off first, since it is
measured against what was actually credited.

Positive differences may wait for the daily job's group-committing poster (`inline=False`):
the row says `posted_version < version` until they are posted. Anything done to a day later
posts what is waiting first, with the same transfer and key.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import rules
from gullak.activity.models import DaySummary, Validation
from gullak.kit import clock, events
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.loyalty import service as loyalty
from gullak.referrals import service as referrals
from gullak.settings import Settings, get_settings

REFERENCE = "step_day"
ISSUANCE = "issuance"
# Loyalty counts days in India's time: a day's reports are dated at its noon there.
LOYALTY_ZONE = ZoneInfo("Asia/Kolkata")


def limits(s: Settings) -> rules.Limits:
    return rules.Limits(daily_step_cap=s.activity_daily_step_cap,
                        max_cadence=s.activity_max_cadence,
                        max_speed_mps=s.activity_max_speed_mps,
                        manual_max_steps=s.activity_manual_max_steps,
                        device_max_users=s.activity_device_max_users,
                        tz_jump_hours=s.activity_tz_jump_hours)


def transfer_of(summary_id: uuid.UUID, version: int, amount: int, user_account: uuid.UUID,
                issuance: uuid.UUID, asset: str) -> TransferIn:
    up = amount > 0
    return TransferIn(
        debit_account_id=issuance if up else user_account,
        credit_account_id=user_account if up else issuance,
        asset_code=asset, amount=abs(amount), kind="step_coins" if up else "step_correction",
        reference_type=REFERENCE, reference_id=str(summary_id),
        metadata={"version": version})


def key_of(summary_id: uuid.UUID, version: int) -> str:
    return f"{REFERENCE}:{summary_id}:v{version}"


async def accounts(session: AsyncSession, user_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    asset = get_settings().activity_asset
    main = await ledger.user_account(session, user_id, asset)
    issuance = await ledger.platform_account(session, asset, ISSUANCE)
    return main.id, issuance.id


async def _last_validation(session: AsyncSession, summary_id: uuid.UUID) -> Validation | None:
    return await session.scalar(select(Validation).where(Validation.summary_id == summary_id)
                                .order_by(Validation.id.desc()).limit(1))


async def settle(session: AsyncSession, s: DaySummary, found: rules.Facts,
                 around: rules.Around, *, inline: bool = True) -> Validation | None:
    """Validate the day (the caller holds its lock) unless its count is the one validated
    last; credit what the verdict allows. Returns the new validation, if any."""
    last = await _last_validation(session, s.id)
    if last is not None and last.steps == s.steps and s.status != "open":
        await post_waiting(session, s)
        return None
    cfg = get_settings()
    reasons = rules.check(found, around, limits(cfg))
    score = sum(int(r["points"]) for r in reasons)
    verdict = rules.outcome(score, cfg.activity_partial_score, cfg.activity_review_score)
    validation = Validation(summary_id=s.id, user_id=s.user_id, day=s.day, steps=s.steps,
                            score=score, reasons=reasons, outcome=verdict)
    session.add(validation)
    await session.flush()
    s.score = score
    if verdict == "review":  # what was credited before stays until someone decides
        s.status = "review"
        await post_waiting(session, s)
        return validation
    share = 10_000 if verdict == "verified" else cfg.activity_partial_share_bp
    await apply(session, s, verdict, s.steps * share // 10_000, validation.id, inline=inline)
    return validation


async def apply(session: AsyncSession, s: DaySummary, status: str, verified: int,
                validation_id: uuid.UUID, *, inline: bool = True) -> None:
    """Make `verified` the day's verified steps: credit or take back the coins' difference,
    tell loyalty, referrals and whoever listens."""
    cfg = get_settings()
    await post_waiting(session, s)
    if s.version == 0 and s.credited == 0:  # the tier of the day's first credit holds after
        s.multiplier_bp = (await loyalty.tier_of(session, s.user_id)).multiplier_bp
    previous = s.verified_steps
    s.status, s.verified_steps = status, verified
    target = rules.coins(verified, cfg.activity_coins_per_1000_steps,
                         cfg.activity_daily_coin_cap, s.multiplier_bp)
    diff = target - s.credited
    if diff < 0:
        main, issuance = await accounts(session, s.user_id)
        available = (await ledger.balance(session, main)).available
        diff = -min(-diff, max(available, 0))
    s.unrecovered = max(s.credited + diff - target, 0)
    if diff != 0:
        s.version += 1
        s.post_amount = diff
        s.credited += diff
        if inline or diff < 0:
            await post_waiting(session, s)
    if verified != previous or diff != 0:
        await tell(session, [Told(s.user_id, s.day, s.verified_steps, verified - previous, diff,
                                  s.early_bird, s.status, validation_id)])


async def post_waiting(session: AsyncSession, s: DaySummary) -> None:
    """Post the day's last change if it is still waiting (same transfer, same key)."""
    if s.posted_version >= s.version:
        return
    if s.post_amount != 0:
        main, issuance = await accounts(session, s.user_id)
        await ledger.transfer(session, transfer_of(
            s.id, s.version, s.post_amount, main, issuance, get_settings().activity_asset),
            idempotency_key=key_of(s.id, s.version))
    s.posted_version = s.version


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), LOYALTY_ZONE)


@dataclass(frozen=True)
class Told:
    """A day's change, as the others hear of it."""

    user_id: uuid.UUID
    day: dt.date
    verified_steps: int
    delta: int  # the change of verified steps
    coins: int  # the change of coins credited
    early_bird: bool
    status: str
    validation_id: uuid.UUID


async def tell(session: AsyncSession, days: Sequence[Told]) -> None:
    """Tell loyalty (steps, the daily goal, an early walk), the listeners of
    `activity.steps_verified` and referrals about days that changed, many at once: a few
    statements for the batch, whatever its size."""
    cfg = get_settings()
    await events.publish_many(session, "activity.steps_verified", [{
        "user_id": str(d.user_id), "day": d.day.isoformat(), "steps": d.verified_steps,
        "delta": d.delta, "coins": d.coins, "city": None} for d in days])
    for user_id in sorted(await referrals.awaiting_steps(session, [d.user_id for d in days])):
        total = int(await session.scalar(select(func.coalesce(func.sum(
            DaySummary.verified_steps), 0)).where(DaySummary.user_id == user_id)) or 0)
        await referrals.steps_reported(session, user_id, total)
    # Loyalty last: the bonuses of what unlocks lock their issuance account's balance rows
    # until the commit, which a concurrent chunk then waits for.
    await loyalty.report_many(session, "steps", [
        loyalty.Report(d.user_id, d.delta, _noon(d.day), f"steps:{d.validation_id}")
        for d in days if d.delta > 0])  # a correction downwards takes back no progress
    await loyalty.report_many(session, "daily_steps_goal", [
        loyalty.Report(d.user_id, 1, _noon(d.day), f"goal:{d.user_id}:{d.day}")
        for d in days if d.verified_steps >= cfg.activity_goal_steps])
    await loyalty.report_many(session, "early_bird_walk", [
        loyalty.Report(d.user_id, 1, _noon(d.day), f"early_bird:{d.user_id}:{d.day}")
        for d in days if d.early_bird and d.status == "verified"])


async def record_decision(session: AsyncSession, v: Validation, outcome: str,
                          by: uuid.UUID, reason: str) -> None:
    v.outcome, v.decided_by, v.decision, v.decided_at = outcome, by, reason, clock.now()

