"""Limits hold exactly under concurrency: 64 redeemers race for an offer with a total limit
of 50 and a per-user limit of 1, each request its own transaction on its own connection. Two
writers racing for one coupon code: the loser is told the code is taken, as if it came second.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import text

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import SessionDep
from gullak.kit.security import Subject, current_subject
from gullak.ledger.verify import verify_database
from gullak.offers import service
from gullak.offers.schemas import OfferIn
from gullak.settings import Settings
from tests.helpers.http import http_client
from tests.helpers.offers import (
    OWNER_PERMISSIONS,
    fund,
    live_merchant,
    make_coins,
    make_offer,
    terms,
)
from tests.helpers.problems import assert_problem

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


async def _until_waiting_on_a_lock(db: Database) -> None:
    """Until a session of `db` waits for a lock (the unique index's, here)."""
    deadline = time.monotonic() + 10
    while True:
        # A transaction each time: pg_stat_activity stays the same within one.
        async with db.engine.begin() as conn:
            if await conn.scalar(text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'")):
                return
        assert time.monotonic() < deadline, "the second writer never waited"
        await asyncio.sleep(0.02)


def _as_merchant_of(db: Database, settings: Settings, merchant_id: uuid.UUID) -> FastAPI:
    app = create_app(settings, db)

    async def subject() -> Subject:
        return Subject("merchant_user", uuid.uuid4(),
                       frozenset({f"merchant:{merchant_id}", *OWNER_PERMISSIONS}))

    app.dependency_overrides[current_subject] = subject
    return app


Write = Callable[[httpx.AsyncClient, uuid.UUID], Coroutine[Any, Any, httpx.Response]]


async def _create(client: httpx.AsyncClient, own_offer: uuid.UUID) -> httpx.Response:
    return await client.post("/v1/merchant/offers",
                             json=terms(type="coupon_code", coupon_code="race10"))


async def _update(client: httpx.AsyncClient, own_offer: uuid.UUID) -> httpx.Response:
    return await client.patch(f"/v1/merchant/offers/{own_offer}",
                              json={"coupon_code": "Race10"})


async def _submit(client: httpx.AsyncClient, own_offer: uuid.UUID) -> httpx.Response:
    return await client.post(f"/v1/merchant/offers/{own_offer}/submit")


@pytest.mark.parametrize(("write", "own_code", "own_status"), [
    (_create, "MINE10", "draft"), (_update, "MINE10", "draft"),
    # A rejected offer's code is free for others; submitting it again claims the code.
    (_submit, "RACE10", "rejected")], ids=["create", "update", "submit"])
async def test_the_loser_of_a_race_for_a_coupon_code_is_told_it_is_taken(
        fresh_db: Database, settings: Settings, write: Write, own_code: str,
        own_status: str) -> None:
    async with fresh_db.sessionmaker() as session, session.begin():
        first_id, _ = await live_merchant(session)
        second_id, _ = await live_merchant(session)
        own = await make_offer(session, second_id, status=own_status, type="coupon_code",
                               coupon_code=own_code)
    app = _as_merchant_of(fresh_db, settings, second_id)
    async with fresh_db.sessionmaker() as first, http_client(app) as client:
        async with first.begin():
            await service.create_offer(first, first_id, OfferIn(**terms(
                type="coupon_code", coupon_code="RACE10")), None)
            # Not committed yet: the second writer's check finds the code free, and its write
            # waits on the unique index until the first commits.
            second = asyncio.create_task(write(client, own.id))
            await _until_waiting_on_a_lock(fresh_db)
        response = await second
    assert_problem(response, 409, "coupon_code_taken")
    assert response.json().get("field") == "coupon_code"
    async with fresh_db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT merchant_id, coupon_code, status FROM offers"))
                ).all()
    assert sorted(rows) == sorted([(first_id, "RACE10", "draft"),
                                   (second_id, own_code, own_status)])


async def test_a_merchants_branded_coins_created_twice_at_once_are_one_asset(
        fresh_db: Database) -> None:
    async with fresh_db.sessionmaker() as session, session.begin():
        merchant_id, _ = await live_merchant(session)

    async def first_use() -> str:
        async with fresh_db.sessionmaker() as session, session.begin():
            code = await service.branded_asset(session, merchant_id)
            await asyncio.sleep(0.05)  # both inside their transactions at once
            return code

    codes = await asyncio.gather(*(first_use() for _ in range(6)))
    assert set(codes) == {service.branded_code(merchant_id)}
    async with fresh_db.sessionmaker() as session:
        found = await session.scalar(text("SELECT count(*) FROM ledger_assets WHERE code = :c"),
                                     {"c": codes[0]})
    assert found == 1
