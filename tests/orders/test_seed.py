"""The demo data: every set loads, the demo user has one completed order paid in coins."""

from __future__ import annotations

from sqlalchemy import text

from gullak import seed
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger.verify import verify_database
from gullak.orders.seed import DEMO_USER_ID
from tests.orders.support import wallet


async def test_the_demo_user_has_a_completed_coins_only_order(fresh_db: Database) -> None:
    notes = await seed.load(fresh_db)
    assert any(n.startswith("Orders") for n in notes)
    async with unit_of_work(fresh_db) as session:
        orders = (await session.execute(text(
            "SELECT o.kind, o.status, o.total, t.asset_code, t.captured FROM orders o"
            " JOIN order_tenders t ON t.order_id = o.id WHERE o.user_id = :u"),
            {"u": DEMO_USER_ID})).all()
        assert [tuple(o) for o in orders] == [("reward", "completed", 450, "REZ", 450)]
        # Besides the order, the demo's walks unlock step achievements that pay REZ bonuses.
        bonuses = int(await session.scalar(text(
            "SELECT coalesce(sum(t.amount), 0) FROM ledger_transfers t"
            " JOIN ledger_accounts a ON a.id = t.credit_account_id"
            " WHERE a.owner_id = :u AND a.asset_code = 'REZ' AND a.purpose = 'main'"
            " AND t.reference_type = 'achievement'"), {"u": DEMO_USER_ID}))
        assert await wallet(session, DEMO_USER_ID, "REZ") == (500 - 450 + bonuses, 0)
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]
