"""Demo data: a demo user (the owner of the ledger's demo wallet)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity.models import User
from gullak.ledger.seed import DEMO_USER_ID
from gullak.seed import data_set

DEMO_PHONE = "+919800000001"


@data_set("identity", f"Demo user  phone {DEMO_PHONE}: POST /v1/auth/otp, then read the code with"
                     " `.venv/bin/gullak sms outbox`")
async def load(session: AsyncSession) -> None:
    session.add(User(id=DEMO_USER_ID, phone=DEMO_PHONE, name="Demo User", referral_code="DEMO2026",
                     email="demo@example.com", username="demo"))
    await session.flush()
