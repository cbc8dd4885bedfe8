"""Demo data: RTMN's tier ladder on what a user spent in the last year, a privé plan of
ReZ's with the demo cafes as partners, and FitKart's seven achievements, paying REZ coins."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.demo import DataSet
from gullak.kit.security import Subject
from gullak.loyalty import service
from gullak.loyalty.schemas import AchievementIn, PartnerIn, PlanIn, TierIn
from gullak.merchants import service as merchants

PLATFORM = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000000d8"),
                   frozenset({"loyalty.manage"}))
RUPEE = 100  # paise
TIERS = [
    TierIn(code="basic", name="Basic", rank=0, threshold=0, multiplier_bp=10_000,
           benefits=["Coins on every order"]),
    TierIn(code="silver", name="Silver", rank=1, threshold=10_000 * RUPEE,
           multiplier_bp=12_500, benefits=["1.25x coins", "Members-only offers"]),
    TierIn(code="gold", name="Gold", rank=2, threshold=50_000 * RUPEE, multiplier_bp=15_000,
           benefits=["1.5x coins", "Members-only offers", "Free delivery"]),
    TierIn(code="prive", name="Privé", rank=3, threshold=1_50_000 * RUPEE,
           multiplier_bp=20_000,
           benefits=["2x coins", "Members-only offers", "Free delivery", "Priority support"]),
]
PLAN = PlanIn(code="prive_monthly", name="ReZ Privé monthly", price=199 * RUPEE,
              period_days=30, grace_days=3, multiplier_bp=15_000, discount_bp=1_000)
PARTNERS = ("Bombay Brew House", "Koramangala Kitchen")
STEPS = "steps"
ACHIEVEMENTS = [
    AchievementIn(code=f"steps_{label}", name=f"{label.upper()} steps",
                  description=f"Walk {target:,} steps in all.", metric=STEPS, target=target,
                  bonus_asset="REZ", bonus_amount=bonus, position=i)
    for i, (label, target, bonus) in enumerate((
        ("1k", 1_000, 10), ("5k", 5_000, 25), ("10k", 10_000, 50), ("50k", 50_000, 200),
        ("100k", 100_000, 500)))
] + [
    AchievementIn(code="streak_7_days", name="7-day streak",
                  description="Reach your daily step goal seven days in a row.",
                  metric="daily_steps_goal", kind="streak", target=7, bonus_asset="REZ",
                  bonus_amount=100, position=5),
    AchievementIn(code="early_bird", name="Early bird",
                  description="Finish a walk before 7 in the morning.",
                  metric="early_bird_walk", target=1, bonus_asset="REZ", bonus_amount=20,
                  position=6),
]


async def load(session: AsyncSession) -> None:
    for tier in TIERS:
        await service.create_tier(session, tier, PLATFORM)
    await service.create_plan(session, PLAN, PLATFORM)
    page = await merchants.list_merchants(session, limit=200)
    for merchant in page.items:
        if merchant.name in PARTNERS:
            await service.add_partner(session, PLAN.code, PartnerIn(merchant_id=merchant.id),
                                      PLATFORM)
    for achievement in ACHIEVEMENTS:
        await service.create_achievement(session, achievement, PLATFORM)


DATA_SETS = (DataSet(
    "loyalty", load, needs=("ledger", "merchants"),
    notes=("Loyalty    tiers basic, silver (₹10,000 a year), gold (₹50,000), privé"
           " (₹1,50,000): GET /v1/tiers; privé plan prive_monthly ₹199: GET /v1/prive/plans;"
           " FitKart's seven achievements: GET /v1/me/achievements",)),)
