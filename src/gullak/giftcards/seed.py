"""Demo data: a voucher that grants loyalty points, and a gift card of the platform's with a
code and PIN that anyone trying the demo can check and claim."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.giftcards import service
from gullak.giftcards.schemas import VoucherIn
from gullak.kit import clock
from gullak.kit.demo import DataSet
from gullak.kit.security import Subject

VOUCHER = "WELCOME100"
DEMO_CODE, DEMO_PIN = "DEMO-GIFT-0001", "246810"
PLATFORM = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000000d7"),
                   frozenset({"giftcards.manage"}))


async def load(session: AsyncSession) -> None:
    now = clock.now()
    await service.create_voucher(session, VoucherIn(
        code=VOUCHER, name="Welcome: 100 points", asset_code="POINTS", amount=100,
        max_uses=10_000, valid_from=now, valid_until=now + dt.timedelta(days=365)), PLATFORM)
    await service.issue(session, amount=50_000, expires_at=now + dt.timedelta(days=365),
                        funding_account_id=await service.funding_account(session),
                        source="admin", code=DEMO_CODE, pin=DEMO_PIN)


DATA_SETS = (DataSet(
    "giftcards", load, needs=("ledger",),
    notes=(f"Vouchers   {VOUCHER} grants 100 POINTS once: POST /v1/me/vouchers/redeem",
           f"Gift card  {DEMO_CODE} PIN {DEMO_PIN}, ₹500: POST /v1/gift-cards/check")),)
