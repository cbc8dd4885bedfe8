"""Demo data: a demo user with a welcome balance in the ledger."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity.models import User
from gullak.kit.demo import DataSet
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn

DEMO_PHONE = "+919800000001"
# A fixed id, so that the demo user can be printed and found again on every start.
DEMO_USER_ID = uuid.UUID("01900000-0000-7000-8000-00000000d3e0")
WELCOME = {"REZ": 500, "PROMO": 200, "INR": 10_000}


async def load(session: AsyncSession) -> None:
    session.add(User(id=DEMO_USER_ID, phone=DEMO_PHONE, name="Demo User", referral_code="DEMO2026",
                     email="demo@example.com", username="demo"))
    await session.flush()
    for code, amount in WELCOME.items():
        wallet = await ledger.user_account(session, DEMO_USER_ID, code)
        issuance = await ledger.platform_account(session, code, "issuance")
        await ledger.transfer(session, TransferIn(
            debit_account_id=issuance.id, credit_account_id=wallet.id, asset_code=code,
            amount=amount, kind="earn", reference_type="welcome_bonus",
            reference_id=str(DEMO_USER_ID)))


DATA_SETS = (DataSet(
    "identity", load, needs=("ledger",),
    notes=(f"Demo user  {DEMO_USER_ID}, phone {DEMO_PHONE}: POST /v1/auth/otp, then read the"
           " code with `.venv/bin/gullak sms outbox`",)),)
