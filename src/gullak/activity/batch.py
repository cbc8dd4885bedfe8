"""Settling many days at once: the daily conversion's unit of work.

The same outcome as settling each day in turn (`conversion.settle`: the anti-cheat's verdict,
the verified steps, their coins, loyalty, the leaderboards and referrals told), for a chunk
of a day's open summaries in a few statements whatever its size: the records, the facts the
checks look around for, the validations, the summaries, the tier multipliers, the accounts
and the coins are each read or written once for the chunk. What a chunk credits is posted in
its own transaction (`ledger.post`: the coins move with the rows that say why, so a rerun
finds the day settled and pays nothing twice); if that post is refused, the chunk's credits
are left waiting, as a sync leaves them, for the poster (`daily.post_with`).

Only days never settled take this path (open, nothing credited); any other open day is
settled one at a time by `steps.refresh`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import conversion, facts, rules, steps
from gullak.activity.models import DaySummary
from gullak.kit import clock
from gullak.kit.errors import GullakError
from gullak.kit.ids import uuid7
from gullak.kit.sql import Array, custom_plans
from gullak.ledger import service as ledger
from gullak.loyalty import service as loyalty
from gullak.settings import get_settings

_COLUMNS = (DaySummary.id, DaySummary.user_id, DaySummary.version, DaySummary.credited,
            DaySummary.posted_version)


@dataclass
class _Day:
    id: uuid.UUID
    user_id: uuid.UUID
    facts: rules.Facts
    reasons: list[dict[str, Any]]
    score: int
    outcome: str
    verified: int = 0
    coins: int = 0
    validation_id: uuid.UUID = field(default_factory=uuid7)


async def settle_many(session: AsyncSession, day: dt.date, *, limit: int,
                      after: uuid.UUID | None = None) -> tuple[int, uuid.UUID | None]:
    """Settle up to `limit` open summaries of a day that is over, in user order from after
    `after` (skipping those another unit holds). Returns how many, and the last user."""
    now = clock.now()
    if not steps.is_over(day, now):
        return 0, None
    query = select(*_COLUMNS).where(DaySummary.day == day, DaySummary.status == "open")
    if after is not None:
        query = query.where(DaySummary.user_id > after)
    claimed = (await session.execute(query.order_by(DaySummary.user_id).limit(limit)
                                     .with_for_update(skip_locked=True))).all()
    fresh = []
    for r in claimed:
        if r.version == 0 and r.credited == 0 and r.posted_version == 0:
            fresh.append(r)
        else:  # settled once before: the one-day path knows its history
            await steps.lock(session, r.user_id, day)
            await steps.refresh(session, r.user_id, day, now=now, inline=False)
    if fresh:
        await _settle(session, day, [(r.id, r.user_id) for r in fresh])
    return len(claimed), claimed[-1].user_id if claimed else None


async def _settle(session: AsyncSession, day: dt.date,
                  rows: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
    cfg = get_settings()
    users = [u for _, u in rows]
    await custom_plans(session)
    found = await facts.day_facts(session, day, users)
    limits = conversion.limits(cfg)
    days = []
    for summary_id, user_id in rows:
        f, around = found[user_id]
        reasons = rules.check(f, around, limits)
        score = sum(int(r["points"]) for r in reasons)
        days.append(_Day(summary_id, user_id, f, reasons, score, rules.outcome(
            score, cfg.activity_partial_score, cfg.activity_review_score)))
    multipliers = await loyalty.multipliers(session, users)
    for d in days:
        if d.outcome != "review":
            share = 10_000 if d.outcome == "verified" else cfg.activity_partial_share_bp
            d.verified = d.facts.steps * share // 10_000
            d.coins = rules.coins(d.verified, cfg.activity_coins_per_1000_steps,
                                  cfg.activity_daily_coin_cap, multipliers[d.user_id])
    await _validations(session, day, days)
    await _summaries(session, days, multipliers)
    await conversion.tell(session, [
        conversion.Told(d.user_id, day, d.verified, d.verified, d.coins,
                        d.facts.early_steps >= cfg.activity_early_bird_steps,
                        d.outcome, d.validation_id)
        for d in days if d.verified or d.coins])
    # Last, so that the issuance account's balance rows (every chunk's post locks them) are
    # held only until the commit that follows, not through the rest of the chunk.
    await _post(session, [d for d in days if d.coins > 0])


_VALIDATIONS = text("""
INSERT INTO step_validations (id, summary_id, user_id, day, steps, score, reasons, outcome)
SELECT id, summary_id, user_id, :day, steps, score, reasons, outcome
FROM unnest(CAST(:ids AS uuid[]), CAST(:summaries AS uuid[]), CAST(:users AS uuid[]),
            CAST(:steps AS integer[]), CAST(:scores AS integer[]),
            CAST(:reasons AS jsonb[]), CAST(:outcomes AS text[]))
  AS t(id, summary_id, user_id, steps, score, reasons, outcome)
""")


async def _validations(session: AsyncSession, day: dt.date, days: list[_Day]) -> None:
    await session.execute(_VALIDATIONS, {
        "day": day, "ids": Array([d.validation_id for d in days]),
        "summaries": Array([d.id for d in days]), "users": Array([d.user_id for d in days]),
        "steps": Array([d.facts.steps for d in days]), "scores": Array([d.score for d in days]),
        "reasons": Array([json.dumps(d.reasons) for d in days]),
        "outcomes": Array([d.outcome for d in days])})


async def _post(session: AsyncSession, paid: list[_Day]) -> None:
    """The chunk's coins as one ledger transaction, each transfer referring to its day. If
    the ledger refuses it, nothing moves and the days' credits are left waiting
    (`posted_version` back below `version`) for the poster."""
    if not paid:
        return
    asset = get_settings().activity_asset
    mains = await ledger.user_accounts(session, [d.user_id for d in paid], asset)
    issuance = (await ledger.platform_account(session, asset, conversion.ISSUANCE)).id
    try:
        async with session.begin_nested():
            await ledger.post(session, [conversion.transfer_of(
                d.id, 1, d.coins, mains[d.user_id], issuance, asset) for d in paid])
    except (DBAPIError, GullakError):
        await session.execute(update(DaySummary).where(
            DaySummary.id.in_([d.id for d in paid])).values(posted_version=0))


_SUMMARIES = text("""
UPDATE daily_step_summary AS s SET steps = t.steps, distance_m = t.distance_m,
  by_source = t.by_source, utc_offset_minutes = t.utc_offset, early_bird = t.early_bird,
  pattern = t.pattern, score = t.score, status = t.status, verified_steps = t.verified,
  multiplier_bp = t.multiplier_bp, credited = t.credited, post_amount = t.credited,
  version = CASE WHEN t.credited > 0 THEN 1 ELSE 0 END,
  posted_version = CASE WHEN t.credited > 0 THEN 1 ELSE 0 END,
  updated_at = :now
FROM unnest(CAST(:ids AS uuid[]), CAST(:steps AS integer[]), CAST(:distance_m AS integer[]),
            CAST(:by_source AS jsonb[]), CAST(:utc_offset AS smallint[]),
            CAST(:early_bird AS boolean[]), CAST(:pattern AS text[]), CAST(:score AS integer[]),
            CAST(:status AS text[]), CAST(:verified AS integer[]),
            CAST(:multiplier_bp AS integer[]), CAST(:credited AS integer[]))
  AS t(id, steps, distance_m, by_source, utc_offset, early_bird, pattern, score, status,
       verified, multiplier_bp, credited)
WHERE s.id = t.id
""")


async def _summaries(session: AsyncSession, days: list[_Day],
                     multipliers: dict[uuid.UUID, int]) -> None:
    early = get_settings().activity_early_bird_steps
    await session.execute(_SUMMARIES, {
        "now": clock.now(), "ids": Array([d.id for d in days]),
        "steps": Array([d.facts.steps for d in days]),
        "distance_m": Array([d.facts.distance_m for d in days]),
        "by_source": Array([_json(d.facts.by_source) for d in days]),
        "utc_offset": Array([d.facts.min_offset for d in days]),
        "early_bird": Array([d.facts.early_steps >= early for d in days]),
        "pattern": Array([d.facts.pattern for d in days]),
        "score": Array([d.score for d in days]), "status": Array([d.outcome for d in days]),
        "verified": Array([d.verified for d in days]),
        "multiplier_bp": Array([multipliers[d.user_id] for d in days]),
        "credited": Array([d.coins for d in days])})


def _json(value: dict[str, int]) -> str:
    return json.dumps(value, sort_keys=True)
