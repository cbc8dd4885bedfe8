"""Demo data: a referral program rewarded on the referee's first completed order (with an
ambassador commission of ₹50 per referral), two referral tiers, and a college."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.demo import DataSet
from gullak.kit.security import Subject
from gullak.referrals import service
from gullak.referrals.schemas import CollegeIn, Condition, ProgramIn, TierIn

PLATFORM = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000000e6"),
                   frozenset({"referrals.manage"}))
COLLEGE = "Indian Institute of Technology Delhi"


async def load(session: AsyncSession) -> None:
    await service.create_program(session, ProgramIn(
        name="Refer a friend", condition=Condition.first_order, commission_amount=5_000,
        active=True), PLATFORM)
    await service.create_tier(session, TierIn(label="Friend", min_referrals=0,
                                              multiplier_bp=10_000), PLATFORM)
    await service.create_tier(session, TierIn(label="Champion", min_referrals=5,
                                              multiplier_bp=15_000), PLATFORM)
    await service.create_college(session, CollegeIn(name=COLLEGE, city="New Delhi",
                                                    domain="iitd.ac.in"), PLATFORM)


DATA_SETS = (DataSet(
    "referrals", load, needs=("identity",),
    notes=("Referrals  both sides rewarded on the referee's first completed order;"
           " ×1.5 from 5 referrals: GET /v1/me/referrals",)),)
