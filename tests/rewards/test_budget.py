"""A campaign's budget is exact under concurrency: 64 qualifying orders completed at once, each
in its own unit of work on its own connection, against a budget for 50 rewards pay exactly
50; and the job confirming them runs twice at once without paying twice."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import text

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.rewards import service
from tests.orders.support import ensure_assets
from tests.rewards.support import complete_order, make_campaign, make_rule


async def test_sixty_four_orders_against_a_budget_for_fifty(fresh_db: Database) -> None:
    async with unit_of_work(fresh_db) as session:
        await ensure_assets(session)
        campaign = await make_campaign(session, budget=50 * 10)
        await make_rule(session, name="launch", value=10, campaign_id=campaign.id)
    users = [uuid7() for _ in range(64)]

    async def complete(user: object) -> None:
        async with unit_of_work(fresh_db) as session:
            await complete_order(session, user)  # type: ignore[arg-type]

    await asyncio.gather(*(complete(u) for u in users))
    async with fresh_db.engine.connect() as conn:
        spent = await conn.scalar(text("SELECT spent FROM reward_campaigns"))
        given = await conn.scalar(text("SELECT count(*) FROM rewards"))
        reasons = dict((await conn.execute(text(
            "SELECT coalesce(d->>'reason', 'applied'), count(*) FROM reward_evaluations e,"
            " jsonb_array_elements(e.decisions) d GROUP BY 1"))).all())
        pending = await conn.scalar(text(
            "SELECT sum(b.balance) FROM ledger_balances b JOIN ledger_accounts a"
            " ON a.id = b.account_id WHERE a.owner_type = 'user' AND a.purpose = 'pending'"))
    assert (spent, given) == (500, 50)
    assert reasons == {"applied": 50, "campaign_budget_exhausted": 14}
    assert pending == 500

    clock.freeze(clock.now() + dt.timedelta(days=8))

    async def confirm() -> int:
        async with unit_of_work(fresh_db) as session:
            return await service.confirm_due(session, limit=100)

    assert sum(await asyncio.gather(confirm(), confirm())) == 50
    async with fresh_db.engine.connect() as conn:
        main = await conn.scalar(text(
            "SELECT sum(b.balance) FROM ledger_balances b JOIN ledger_accounts a"
            " ON a.id = b.account_id WHERE a.owner_type = 'user' AND a.purpose = 'main'"))
    assert main == 500
