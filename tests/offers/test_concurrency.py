"""Limits hold exactly under concurrency: 64 redeemers race for an offer with a total limit
of 50 and a per-user limit of 1, each request its own transaction on its own connection."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from fastapi import Request
from sqlalchemy import text

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import SessionDep
from gullak.kit.security import Subject, current_subject
from gullak.ledger.verify import verify_database
from gullak.settings import Settings
from tests.conftest import http_client
from tests.offers.conftest import fund, live_merchant, make_coins, make_offer

TOTAL, USERS, TWICE = 50, 56, 8  # 56 users, the first 8 of whom try twice: 64 redeemers


@pytest.mark.slow
async def test_64_concurrent_redeemers_end_with_exactly_the_limits(
        fresh_db: Database, settings: Settings) -> None:
    users = [uuid.uuid4() for _ in range(USERS)]
    async with fresh_db.sessionmaker() as session, session.begin():
        await make_coins(session)
        merchant_id, _ = await live_merchant(session)
        offer = await make_offer(session, merchant_id, total_limit=TOTAL, per_user_limit=1,
                                 coins_required=5, coins_earned=1)
        for user in users:
            await fund(session, user, 10)

    app = create_app(settings, fresh_db)

    async def subject(request: Request, session: SessionDep) -> Subject:
        return Subject("user", uuid.UUID(request.headers["x-user"]))

    app.dependency_overrides[current_subject] = subject
    attempts = users + users[:TWICE]
    async with http_client(app) as client:
        responses = await asyncio.gather(*(
            client.post(f"/v1/offers/{offer.id}/redeem", json={"amount": 10_000},
                        headers={"x-user": str(user)}) for user in attempts))

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: TOTAL, 422: len(attempts) - TOTAL}, statuses
    for r in responses:
        if r.status_code == 422:
            body = r.json()
            assert body["code"] == "offer_not_redeemable"
            assert set(body["reasons"]) <= {"total_limit_reached", "user_limit_reached"}, body
    async with fresh_db.engine.connect() as conn:
        per_user = (await conn.execute(text(
            "SELECT user_id, count(*) FROM offer_redemptions WHERE offer_id = :o"
            " GROUP BY user_id"), {"o": offer.id})).all()
        assert sum(n for _, n in per_user) == TOTAL
        assert max(n for _, n in per_user) == 1
        assert await conn.scalar(text("SELECT redemptions_count FROM offers WHERE id = :o"),
                                 {"o": offer.id}) == TOTAL
        counted = dict((await conn.execute(text(
            "SELECT user_id, count FROM offer_user_redemptions WHERE offer_id = :o"),
            {"o": offer.id})).all())
        assert counted == {u: 1 for u, _ in per_user}
        # Each redeemer's 5 coins are held, nobody else's.
        held = await conn.scalar(text(
            "SELECT sum(b.held) FROM ledger_balances b JOIN ledger_accounts a"
            " ON a.id = b.account_id WHERE a.owner_type = 'user'"))
        assert held == 5 * TOTAL
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]
