"""Merchant settlements: the statement explains the merchant account's movement line by line
and adds up to the net; nothing is settled twice; what comes after a settlement (a refund, a
returned payout, a negative net) is carried into the next; the payout is held, reviewed under
maker-checker and paid; bad input writes nothing; merchant users see their own alone. The
ledger verifies after every test (fresh_db)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.merchants import service as merchants
from gullak.merchants.schemas import Frequency, MerchantPatch, Status
from gullak.orders import flows
from gullak.payouts import jobs, settlements
from gullak.payouts.providers.sandbox import Sandbox
from gullak.settings import Settings
from tests.helpers.http import guarded_client
from tests.helpers.problems import assert_problem
from tests.orders.support import DOSA_PRICE
from tests.payouts.support import run_jobs
from tests.payouts.support_settlements import (
    COMPLETE,
    PLATFORM,
    RATE_BPS,
    add_method,
    as_admin,
    as_merchant,
    at_noon,
    buy,
    buyer,
    kinds,
    merchant_money,
    move,
    next_day,
    refund,
    rows,
    settle,
    settlements_app,
    shop,
)

COMMISSION = DOSA_PRICE * RATE_BPS // 10_000


@pytest.fixture
def app(settings: Settings, fresh_db: Database, sandbox: Sandbox) -> FastAPI:
    return settlements_app(settings, fresh_db)


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with guarded_client(app) as c:
        yield c


def assert_adds_up(settlement: dict[str, object]) -> None:
    lines = settlement["lines"]
    assert isinstance(lines, list)
    net = sum(line["amount"] for line in lines)
    assert net == settlement["net"] == sum(settlement["totals"].values())  # type: ignore[union-attr]
    assert settlement["carried_forward"] == net - settlement["payable"]  # type: ignore[operator]
    assert settlement["line_count"] == len(lines)


async def test_a_period_is_settled_held_reviewed_by_another_admin_and_paid(
        api: httpx.AsyncClient, fresh_db: Database, settings: Settings) -> None:
    today = at_noon()
    cafe = await shop(fresh_db)
    user = await buyer(fresh_db)
    done = [await buy(fresh_db, cafe, user, 1, *COMPLETE) for _ in range(2)]
    open_order = await buy(fresh_db, cafe, user, 1, "confirm")  # still being fulfilled
    await add_method(fresh_db, settings, cafe.merchant_id)
    assert await merchant_money(fresh_db, cafe.merchant_id) == (3 * DOSA_PRICE - 2 * COMMISSION,
                                                                0)

    s = await settle(api, cafe.merchant_id, today)
    assert_adds_up(s)
    assert kinds(s) == sorted([("order", DOSA_PRICE)] * 2 + [("commission", -COMMISSION)] * 2)
    assert {line["order_id"] for line in s["lines"]} == {str(o) for o in done}
    assert str(open_order) not in {line["order_id"] for line in s["lines"]}
    commissions = [line for line in s["lines"] if line["kind"] == "commission"]
    assert all(line["rate_bps"] == RATE_BPS for line in commissions)
    net = 2 * (DOSA_PRICE - COMMISSION)
    assert (s["status"], s["net"], s["payable"], s["payout_status"]) == (
        "paying", net, net, "review")
    # Held at once: the open order's money stays available on the account.
    assert await merchant_money(fresh_db, cafe.merchant_id) == (3 * DOSA_PRICE - 2 * COMMISSION,
                                                                net)
    queue = (await api.get("/v1/admin/withdrawals?status=review", headers=as_admin(2))).json()
    [w] = [w for w in queue["items"] if w["id"] == s["withdrawal_id"]]
    assert (w["purpose"], w["owner_type"], w["amount"], w["reference_id"]) == (
        "settlement", "merchant", net, s["id"])
    assert await rows(fresh_db, "SELECT created_by FROM withdrawals WHERE id = :w",
                      w=uuid.UUID(w["id"])) == [(uuid.UUID(int=1),)]

    # Maker-checker: the admin who ran the settlement cannot approve its payout.
    mine = await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(1),
                          json={"reason": "statement checked"})
    assert_problem(mine, 403, "maker_checker")
    other = await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(2),
                           json={"reason": "statement checked"})
    assert other.json()["status"] == "approved", other.text
    assert await run_jobs(fresh_db, settings) == ["succeeded"]
    assert await merchant_money(fresh_db, cafe.merchant_id) == (DOSA_PRICE, 0)

    # The next run follows the payout to its end, and the open order once it completes.
    day = next_day()
    await move(fresh_db, open_order, "ready", "complete")
    later = await settle(api, cafe.merchant_id, day)
    assert kinds(later) == [("commission", -COMMISSION), ("order", DOSA_PRICE)]
    assert all(line["carried"] is False for line in later["lines"])
    first = (await api.get(f"/v1/admin/settlements/{s['id']}", headers=as_admin(2))).json()
    assert (first["status"], first["payout_status"]) == ("paid", "paid")


async def test_nothing_is_settled_twice_and_a_refund_after_settlement_is_carried(
        api: httpx.AsyncClient, fresh_db: Database, settings: Settings) -> None:
    today = at_noon()
    cafe = await shop(fresh_db)
    user = await buyer(fresh_db)
    order = await buy(fresh_db, cafe, user, 2, *COMPLETE)
    await buy(fresh_db, cafe, user, 1, "confirm")  # keeps money on the account for refunds
    await add_method(fresh_db, settings, cafe.merchant_id)
    first = await settle(api, cafe.merchant_id, today)
    assert first["net"] == 2 * (DOSA_PRICE - COMMISSION)

    # The same period again is that settlement; an overlapping one settles nothing again.
    again = await settle(api, cafe.merchant_id, today, status=200)
    assert (again["id"], again["lines"]) == (first["id"], first["lines"])
    wider = await settle(api, cafe.merchant_id, today - dt.timedelta(days=3), today)
    assert (wider["lines"], wider["net"], wider["status"]) == ([], 0, "nothing_to_pay")

    # Refunded after its settlement, on the settled day: the next run carries it.
    await refund(fresh_db, order, 5_000)
    s = await settle(api, cafe.merchant_id, next_day())
    assert_adds_up(s)
    assert kinds(s) == [("commission_refund", 500), ("refund", -5_000)]
    assert all(line["carried"] for line in s["lines"])
    assert (s["status"], s["net"], s["payable"], s["carried_forward"]) == (
        "nothing_to_pay", -4_500, 0, -4_500)

    # A negative net is the first line of the next settlement, once.
    day = next_day()
    await buy(fresh_db, cafe, user, 1, *COMPLETE)
    s3 = await settle(api, cafe.merchant_id, day)
    assert_adds_up(s3)
    assert kinds(s3) == [("carry", -4_500), ("commission", -COMMISSION), ("order", DOSA_PRICE)]
    assert s3["net"] == DOSA_PRICE - COMMISSION - 4_500 and s3["status"] == "paying"
    s4 = await settle(api, cafe.merchant_id, next_day())
    assert s4["lines"] == []

    sources = await rows(fresh_db, "SELECT source, count(*) FROM settlement_lines"
                         " WHERE merchant_id = :m GROUP BY source HAVING count(*) > 1",
                         m=cafe.merchant_id)
    assert sources == []
    async with fresh_db.engine.begin() as conn:  # the database itself refuses a second time
        with pytest.raises(IntegrityError):
            await conn.execute(text(
                "INSERT INTO settlement_lines (id, settlement_id, merchant_id, source, kind,"
                " amount, description, occurred_at, due_at, carried)"
                " SELECT gen_random_uuid(), settlement_id, merchant_id, source, kind, amount,"
                " description, occurred_at, due_at, carried FROM settlement_lines"
                " WHERE kind = 'refund' AND merchant_id = :m"), {"m": cafe.merchant_id})


async def test_no_usable_method_leaves_it_unpaid_and_the_next_run_pays(
        api: httpx.AsyncClient, fresh_db: Database, settings: Settings) -> None:
    today = at_noon()
    cafe = await shop(fresh_db)
    user = await buyer(fresh_db)
    await buy(fresh_db, cafe, user, 1, *COMPLETE)
    s = await settle(api, cafe.merchant_id, today)
    assert (s["status"], s["withdrawal_id"], s["payable"]) == (
        "unpaid", None, DOSA_PRICE - COMMISSION)
    assert s["reason"] == settlements.NO_METHOD
    assert await merchant_money(fresh_db, cafe.merchant_id) == (DOSA_PRICE - COMMISSION, 0)

    await add_method(fresh_db, settings, cafe.merchant_id)
    later = await settle(api, cafe.merchant_id, next_day(), admin=3)
    # Nothing new is paid twice: the earlier amount is owed by the earlier settlement.
    assert (later["status"], later["payable"]) == ("nothing_to_pay", 0)
    retried = (await api.get(f"/v1/admin/settlements/{s['id']}", headers=as_admin(2))).json()
    assert (retried["status"], retried["payout_status"], retried["reason"]) == (
        "paying", "review", None)
    # Its maker is still the admin who ran it.
    assert await rows(fresh_db, "SELECT created_by FROM withdrawals") == [(uuid.UUID(int=1),)]
    assert await merchant_money(fresh_db, cafe.merchant_id) == (DOSA_PRICE - COMMISSION,
                                                                DOSA_PRICE - COMMISSION)


async def test_a_rejected_payout_comes_back_in_the_next_settlement(
        api: httpx.AsyncClient, fresh_db: Database, settings: Settings) -> None:
    today = at_noon()
    cafe = await shop(fresh_db)
    user = await buyer(fresh_db)
    await buy(fresh_db, cafe, user, 1, *COMPLETE)
    await add_method(fresh_db, settings, cafe.merchant_id)
    s = await settle(api, cafe.merchant_id, today)
    rejected = await api.post(f"/v1/admin/withdrawals/{s['withdrawal_id']}/reject",
                              headers=as_admin(2), json={"reason": "bank details doubtful"})
    assert rejected.json()["status"] == "rejected"
    later = await settle(api, cafe.merchant_id, next_day())
    assert kinds(later) == [("payout_returned", s["payable"])]
    assert (later["status"], later["payable"]) == ("paying", s["payable"])
    first = (await api.get(f"/v1/admin/settlements/{s['id']}", headers=as_admin(2))).json()
    assert first["status"] == "returned" and "rejected" in first["reason"]


async def test_a_payout_lowered_in_review_then_bounced_and_rejected_comes_back_whole(
        api: httpx.AsyncClient, fresh_db: Database, settings: Settings,
        sandbox: Sandbox) -> None:
    today = at_noon()
    cafe = await shop(fresh_db)
    user = await buyer(fresh_db)
    await buy(fresh_db, cafe, user, 1, *COMPLETE)
    await add_method(fresh_db, settings, cafe.merchant_id)
    s = await settle(api, cafe.merchant_id, today)
    w = f"/v1/admin/withdrawals/{s['withdrawal_id']}"
    lowered = await api.patch(w, headers=as_admin(3), json={"amount": 15_000,
                                                            "reason": "disputed order held"})
    assert lowered.json()["amount"] == 15_000, lowered.text
    await api.post(w + "/approve", headers=as_admin(2), json={"reason": "statement checked"})
    assert await run_jobs(fresh_db, settings) == ["succeeded"]
    first = await settle(api, cafe.merchant_id, next_day())
    assert kinds(first) == [("payout_returned", s["payable"] - 15_000)]
    # Below the least payout: carried on.
    assert (first["payable"], first["carried_forward"]) == (0, s["payable"] - 15_000)

    ref = (await api.get(w, headers=as_admin(2))).json()["disbursements"][0]["provider_ref"]
    bounced = await api.post(f"/v1/admin/payouts/sandbox/{ref}", params={"outcome": "reversed"},
                             headers=as_admin(2))
    assert bounced.status_code == 200, bounced.text
    assert await run_jobs(fresh_db, settings) == ["reversed"]
    await api.post(w + "/reject", headers=as_admin(2), json={"reason": "account closed"})
    second = await settle(api, cafe.merchant_id, next_day())
    assert kinds(second) == [("carry", s["payable"] - 15_000), ("payout_returned", 15_000)]
    assert (second["status"], second["payable"]) == ("paying", s["payable"])
    again = (await api.get(f"/v1/admin/settlements/{s['id']}", headers=as_admin(2))).json()
    assert again["status"] == "returned"
    # Everything the first settlement owed came back once, and no more.
    returned = await rows(fresh_db, "SELECT sum(amount) FROM settlement_lines"
                          " WHERE kind = 'payout_returned' AND reference_id = :s", s=s["id"])
    assert returned == [(s["payable"],)]


async def test_a_cancelled_order_is_settled_with_its_refund_to_nothing(
        api: httpx.AsyncClient, fresh_db: Database) -> None:
    today = at_noon()
    cafe = await shop(fresh_db)
    user = await buyer(fresh_db)
    order = await buy(fresh_db, cafe, user, 1, "confirm")
    async with unit_of_work(fresh_db) as session:
        await flows.cancel(session, order, PLATFORM, "out of batter")
    s = await settle(api, cafe.merchant_id, today)
    assert kinds(s) == [("order", DOSA_PRICE), ("refund", -DOSA_PRICE)]
    assert (s["net"], s["status"], s["withdrawal_id"]) == (0, "nothing_to_pay", None)


async def test_statements_as_csv_and_json(api: httpx.AsyncClient, fresh_db: Database) -> None:
    today = at_noon()
    cafe = await shop(fresh_db)
    user = await buyer(fresh_db)
    for quantity in (1, 3):
        await buy(fresh_db, cafe, user, quantity, *COMPLETE)
    s = await settle(api, cafe.merchant_id, today)
    for path, headers in ((f"/v1/admin/settlements/{s['id']}", as_admin(2)),
                          (f"/v1/merchant/settlements/{s['id']}", as_merchant(cafe.merchant_id))):
        answer = await api.get(path + "/statement.csv", headers=headers)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(
            "text/csv"), answer.text
        table = list(csv.reader(io.StringIO(answer.text)))
        assert tuple(table[0]) == settlements.CSV_COLUMNS
        assert len(table) == 1 + s["line_count"] == 5
        assert sum(int(row[2]) for row in table[1:]) == s["net"]
        statement = (await api.get(path, headers=headers)).json()
        assert_adds_up(statement)
        assert statement["totals"] == {"order": 4 * DOSA_PRICE, "commission": -4 * COMMISSION}


async def test_bad_input_is_refused_and_writes_nothing(api: httpx.AsyncClient,
                                                       fresh_db: Database) -> None:
    today = at_noon()
    cafe = await shop(fresh_db)
    url = f"/v1/admin/merchants/{cafe.merchant_id}/settlements"

    def period(first: dt.date, last: dt.date) -> dict[str, str]:
        return {"period_start": first.isoformat(), "period_end": last.isoformat()}

    day = dt.timedelta(days=1)
    for body in (period(today, today - day), period(today - 31 * day, today),
                 period(today, today + day)):
        answer = await api.post(url, headers=as_admin(), json=body)
        assert_problem(answer, 422, "invalid_settlement_period", "period_end")
    assert_problem(await api.post(f"/v1/admin/merchants/{uuid.uuid4()}/settlements",
                                  headers=as_admin(), json=period(today, today)),
                   404, "merchant_not_found")
    nul = {"period_start": "2026-01-01\x00", "period_end": today.isoformat()}
    assert (await api.post(url, headers=as_admin(), json=nul)).status_code == 422
    assert (await api.get("/v1/admin/settlements?cursor=a%00b",
                          headers=as_admin())).status_code == 422
    assert_problem(await api.post(url, headers=as_admin(permissions="payouts.read"),
                                  json=period(today, today)), 403, "forbidden")
    assert_problem(await api.get(f"/v1/admin/settlements/{uuid.uuid4()}", headers=as_admin()),
                   404, "settlement_not_found")
    for table in ("settlements", "settlement_lines", "withdrawals"):
        assert await rows(fresh_db, f"SELECT count(*) FROM {table}") == [(0,)], table


async def test_merchant_users_see_their_own_settlements_only(api: httpx.AsyncClient,
                                                            fresh_db: Database) -> None:
    today = at_noon()
    mine, theirs = await shop(fresh_db), await shop(fresh_db)
    user = await buyer(fresh_db)
    for cafe in (mine, theirs):
        await buy(fresh_db, cafe, user, 1, *COMPLETE)
    own = await settle(api, mine.merchant_id, today)
    other = await settle(api, theirs.merchant_id, today)
    me = as_merchant(mine.merchant_id)
    listed = (await api.get("/v1/merchant/settlements", headers=me)).json()
    assert [s["id"] for s in listed["items"]] == [own["id"]]
    assert (await api.get(f"/v1/merchant/settlements/{own['id']}", headers=me)).json()[
        "lines"] == own["lines"]
    for path in (f"/v1/merchant/settlements/{other['id']}",
                 f"/v1/merchant/settlements/{other['id']}/statement.csv"):
        assert_problem(await api.get(path, headers=me), 404, "settlement_not_found")
    assert_problem(await api.get("/v1/merchant/settlements", headers=as_admin()), 403,
                   "forbidden")
    both = (await api.get("/v1/admin/settlements?limit=1", headers=as_admin())).json()
    assert [s["id"] for s in both["items"]] == [other["id"]]  # newest first
    rest = (await api.get(f"/v1/admin/settlements?limit=1&cursor={both['next_cursor']}",
                          headers=as_admin())).json()
    assert [s["id"] for s in rest["items"]] == [own["id"]] and rest["next_cursor"] is None
    only = (await api.get(f"/v1/admin/settlements?merchant_id={mine.merchant_id}"
                          "&status=unpaid", headers=as_admin())).json()
    assert [s["id"] for s in only["items"]] == [own["id"]]


def test_the_schedule_follows_each_merchants_frequency() -> None:
    wednesday, monday = dt.date(2026, 12, 9), dt.date(2026, 12, 7)  # ISO week 50
    assert settlements.period_due("daily", wednesday) == (dt.date(2026, 12, 8),) * 2
    for frequency in ("weekly", "biweekly", "monthly"):
        assert settlements.period_due(frequency, wednesday) is None
    assert settlements.period_due("weekly", monday) == (dt.date(2026, 11, 30),
                                                        dt.date(2026, 12, 6))
    assert settlements.period_due("biweekly", monday) == (dt.date(2026, 11, 23),
                                                          dt.date(2026, 12, 6))
    assert settlements.period_due("biweekly", dt.date(2026, 12, 14)) is None  # an odd week
    assert settlements.period_due("monthly", dt.date(2027, 1, 1)) == (dt.date(2026, 12, 1),
                                                                      dt.date(2026, 12, 31))
    assert settlements.period_due("monthly", dt.date(2027, 3, 1)) == (dt.date(2027, 2, 1),
                                                                      dt.date(2027, 2, 28))


async def test_the_daily_job_settles_each_merchant_once(api: httpx.AsyncClient,
                                                        fresh_db: Database,
                                                        settings: Settings) -> None:
    at_noon(weekday=2)  # a Wednesday: the orders fall in the week the Monday run settles
    daily, weekly, paused = [await shop(fresh_db) for _ in range(3)]
    user = await buyer(fresh_db)
    for cafe in (daily, weekly, paused):
        await buy(fresh_db, cafe, user, 1, *COMPLETE)
        await add_method(fresh_db, settings, cafe.merchant_id)
    async with unit_of_work(fresh_db) as session:
        for cafe, frequency in ((daily, Frequency.daily), (weekly, Frequency.weekly),
                                (paused, Frequency.daily)):
            await merchants.update_merchant(session, cafe.merchant_id, MerchantPatch(
                settlement_frequency=frequency), None)
        await merchants.set_status(session, paused.merchant_id, Status.suspended,
                                   "paused for the test", None)
    clock.advance(dt.timedelta(days=5))
    monday = clock.now().date()
    sunday = monday - dt.timedelta(days=1)
    assert await jobs.settle_due(fresh_db, settings, monday) == 2
    made = await rows(fresh_db, "SELECT merchant_id, period_start, period_end, net, status"
                      " FROM settlements ORDER BY merchant_id")
    assert sorted(made) == sorted([
        (daily.merchant_id, sunday, sunday, DOSA_PRICE - COMMISSION, "paying"),
        (weekly.merchant_id, monday - dt.timedelta(days=7), sunday, DOSA_PRICE - COMMISSION,
         "paying")])
    # Its payouts are made by the job's own subject, which no admin is.
    assert await rows(fresh_db, "SELECT created_by, created_by_kind FROM withdrawals") == [
        (settlements.SETTLEMENT_ACTOR.id, "service")] * 2
    lines = await rows(fresh_db, "SELECT count(*) FROM settlement_lines")
    assert await jobs.settle_due(fresh_db, settings, monday) == 0
    assert await rows(fresh_db, "SELECT count(*) FROM settlements") == [(2,)]
    assert await rows(fresh_db, "SELECT count(*) FROM settlement_lines") == lines
