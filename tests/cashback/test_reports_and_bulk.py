"""Report files (a row of report per line, the same effects as postbacks) and bulk
confirmation: claimed over HTTP and settled by the job's service, and settled through the
ledger's group-committing poster on a database of its own."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.cashback import service
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger.posting import Poster
from gullak.ledger.verify import verify
from tests.cashback.support import balances, click, network, post, shop
from tests.helpers.offers import Actors
from tests.helpers.problems import assert_problem

pytestmark = pytest.mark.usefixtures("assets")
MANAGE = ("cashback.manage", "cashback.read")


async def test_a_report_file_applies_each_line_with_a_report_row(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    s = await shop(session)
    user = uuid.uuid4()
    first = await click(session, s.offer_id, user)
    second = await click(session, s.offer_id, user)
    code = await network(session)
    admin = {**actors.admin(*MANAGE), "content-type": "text/csv"}
    csv = ("transaction_id,click_id,amount,commission,status,currency\n"
           f"C-1,{first},100000,,open,INR\n"
           f"C-1,{first},100000,,open,INR\n"
           f"C-2,{second},30000,1000,approved,\n"
           f"C-3,{uuid.uuid4()},5000,,open,\n"
           "C-4,,12.50,,open,\n"
           "C-5,,100,,maybe,\n")
    r = await client.post(f"/v1/admin/cashback/networks/{code}/reports", content=csv,
                          headers=admin)
    assert r.status_code == 200, r.text
    rows = [(x["row"], x["outcome"], x["reason"]) for x in r.json()["rows"]]
    assert rows == [(2, "applied", None), (3, "duplicate", None), (4, "applied", None),
                    (5, "unmatched", "unknown_click"), (6, "invalid", "amount_not_integer"),
                    (7, "invalid", "unknown_status")]
    assert r.json()["counts"] == {"applied": 2, "duplicate": 1, "unmatched": 1, "invalid": 2}
    # ₹100 pending on C-1; C-2's 10 % of ₹300 capped by the ₹10 commission, confirmed.
    assert await balances(session, user) == (10_000, 1_000)
    assert await session.scalar(text("SELECT count(*) FROM cashback_events"
                                     " WHERE source = 'report'")) == 6

    r = await client.post(f"/v1/admin/cashback/networks/{code}/reports",
                          content="order,amount\n1,2\n", headers=admin)
    assert_problem(r, 422, "invalid_cashback_report")
    r = await client.post(f"/v1/admin/cashback/networks/{code}/reports", content=b"{}",
                          headers={**admin, "content-type": "application/json"})
    assert_problem(r, 415, "unsupported_media_type")


async def test_bulk_confirmation_claims_then_settles(
        client: httpx.AsyncClient, actors: Actors, session: AsyncSession) -> None:
    s = await shop(session)
    users = [uuid.uuid4() for _ in range(3)]
    code = await network(session)
    ids = []
    for i, user in enumerate(users):
        clicked = await click(session, s.offer_id, user)
        r = await post(client, code, {"transaction_id": f"B-{i}", "click_id": str(clicked),
                                      "amount": 10_000, "status": "open"})
        ids.append(r.json()["cashback_id"])
    admin = actors.admin(*MANAGE)
    r = await client.post("/v1/admin/cashback/confirm", headers=admin, json={})
    assert_problem(r, 422, "cashback_confirm_invalid")
    r = await client.post("/v1/admin/cashback/confirm", headers=admin, json={"ids": ids[:2]})
    assert r.status_code == 200, r.text
    assert r.json()["confirmed"] == 2
    assert await session.scalar(text(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'cashback.settle_confirmed'"
    )) == 1
    # Claimed, not yet paid: a late rejection changes nothing.
    r = await post(client, code, {"transaction_id": "B-0", "amount": 10_000,
                                  "status": "declined"})
    assert (r.json()["outcome"], r.json()["status"]) == ("ignored", "confirmed")
    assert await balances(session, users[0]) == (1_000, 0)
    assert await service.settle(session) == 2
    assert await service.settle(session) == 0
    assert [await balances(session, u) for u in users] == [(0, 1_000), (0, 1_000), (1_000, 0)]
    r = await client.post("/v1/admin/cashback/confirm", headers=admin, json={"network": code})
    assert r.json()["ids"] == [ids[2]]
    assert await service.settle(session) == 1
    report = await verify(session)
    assert report.ok, [c for c in report.checks if not c.ok]


async def test_bulk_confirmation_through_the_group_committing_poster(fresh_db: Database) -> None:
    network_id = await service.prepare(fresh_db, 400, users=40)
    async with Poster(fresh_db.url, connections=2, pgbouncer=fresh_db.pgbouncer) as poster:
        assert await service.confirm_many(fresh_db, poster, network_id=network_id) == 400
        # Run again: nothing left to claim or settle, nothing paid twice.
        assert await service.confirm_many(fresh_db, poster, network_id=network_id) == 0
    async with unit_of_work(fresh_db) as session:
        rows = (await session.execute(text(
            "SELECT count(*) FILTER (WHERE status = 'confirmed' AND settled_at IS NOT NULL),"
            " count(*) FROM cashbacks WHERE network_id = :n"), {"n": network_id})).one()
        assert tuple(rows) == (400, 400)
        user_id = await session.scalar(text(
            "SELECT user_id FROM cashbacks WHERE network_id = :n LIMIT 1"), {"n": network_id})
        assert await balances(session, user_id) == (0, 10 * 100)
        transfers = await session.scalar(text(
            "SELECT count(*) FROM ledger_transfers WHERE kind = 'cashback'"))
        assert transfers == 400
