"""The demo data: the demo user's UPI id is verified and usable, its number never in clear,
and the demo wallet's minimum withdrawal waits in the review queue, held."""

from __future__ import annotations

from sqlalchemy import text

from gullak import seed
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger import service as ledger
from gullak.payouts import service
from gullak.payouts.seed import DEMO_UPI, DEMO_USER_ID
from gullak.settings import get_settings


async def test_the_demo_user_can_withdraw(fresh_db: Database) -> None:
    notes = await seed.load(fresh_db)
    assert any(n.startswith("Payouts") for n in notes)
    async with unit_of_work(fresh_db) as session:
        methods = await service.list_methods(session, "user", DEMO_USER_ID)
        assert [(m.kind, m.status, m.usable, m.destination) for m in methods] == [
            ("upi", "verified", True, "de***@okaxis")]
        sealed = await session.scalar(text("SELECT upi_id FROM payout_methods"))
        assert DEMO_UPI not in sealed
        queue = await service.list_withdrawals(session, status="review")
        minimum = get_settings().payout_min_amount
        assert [(w.owner_id, w.amount) for w in queue.items] == [(DEMO_USER_ID, minimum)]
        account = await ledger.find_account(session, "user", DEMO_USER_ID, "INR")
        assert account is not None
        assert (await ledger.balance(session, account.id)).held == minimum
    # Loading again adds nothing.
    await seed.load(fresh_db)
    async with unit_of_work(fresh_db) as session:
        assert len((await service.list_withdrawals(session)).items) == 1
