"""Demo data: the demo user's UPI id, verified (the sandbox's answer) and usable at once, and,
if the demo wallet holds enough, a withdrawal waiting in the back office's review queue."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.demo import DataSet
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.payouts import methods, withdrawals
from gullak.payouts.providers.base import Verification
from gullak.payouts.schemas import MethodIn, MethodKind, WithdrawalIn
from gullak.settings import get_settings

DEMO_USER_ID = uuid.UUID("01900000-0000-7000-8000-00000000d3e0")  # identity's demo user
DEMO_UPI = "demo.user@okaxis"


async def load(session: AsyncSession) -> None:
    settings = get_settings()
    added = await methods.add_method(session, settings, "user", DEMO_USER_ID, MethodIn(
        kind=MethodKind.upi, holder_name="Demo User", upi_id=DEMO_UPI))
    await methods.record_verification(session, settings, added.id, "sandbox",
                                      Verification(True, "DEMO USER", "sandbox_demo"))
    method = await methods.get_method(session, added.id)
    method.usable_from = clock.now()  # the demo skips the cooling-off
    await session.flush()
    account = await ledger.find_account(session, "user", DEMO_USER_ID, "INR")
    if account is None:
        return
    if (await ledger.balance(session, account.id)).available >= settings.payout_min_amount:
        await withdrawals.request(
            session, settings, "user", DEMO_USER_ID,
            WithdrawalIn(amount=settings.payout_min_amount, method_id=added.id),
            "demo-withdrawal", Subject("user", DEMO_USER_ID))


DATA_SETS = (DataSet(
    "payouts", load, needs=("identity", "orders"),
    notes=(f"Payouts    demo UPI id {DEMO_UPI} (sandbox: no money moves); the review queue is"
           " GET /v1/admin/withdrawals?status=review",)),)
