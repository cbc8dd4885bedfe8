"""The console's ledger explorer and database page: every page answers a super admin on an
empty database; an account's entries carry the balance after each, consistent with its
balance (one shard or sixteen, across pages); a transfer shows both its sides and the rest
of its transaction; holds and lots show and filter; the ledger's checks are queued from the
page, and their job's result is kept and shown."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak import worker
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.kit.browse import Browse
from gullak.ledger import jobs
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountOut, HoldIn, TransferIn
from gullak.ledger.verify import verify
from gullak.settings import Settings
from tests.helpers.console import admin_browser, super_browser
from tests.helpers.http import http_client
from tests.helpers.ledger import Book, make_book

PAGES = ["/console/ledger", "/console/ledger/accounts", "/console/ledger/holds",
         "/console/ledger/lots", "/console/orders", "/console/settlements", "/console/giftcards",
         "/console/giftcards/designs", "/console/giftcards/vouchers", "/console/system",
         "/console/system/checks"]
TABLES = ["/console/ledger/accounts", "/console/ledger/holds", "/console/ledger/lots",
          "/console/orders", "/console/settlements", "/console/giftcards"]


def rows_of(response: httpx.Response) -> list[dict[str, str]]:
    """A CSV download's rows (a negative amount is a plain number, not taken for a formula)."""
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def assert_page(response: httpx.Response) -> None:
    """A page the console's policy lets a browser show: no inline script or style."""
    assert response.status_code == 200, response.text[:500]
    html = response.text
    assert "<script>" not in html and 'style="' not in html and " onclick=" not in html


async def test_every_money_page_answers_a_super_admin_on_an_empty_database(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    browser = await super_browser(client, session, settings)
    for url in PAGES:
        assert_page(await browser.get(url))
    for url in TABLES:
        assert rows_of(await browser.get(url, format="csv")) == []


# Ids no row has; fixed, so every test process collects the same test names.
UNKNOWN = "01900000-0000-7000-8000-00000000000"


@pytest.mark.parametrize("url", [
    "/console/ledger/accounts?owner_type=robot", "/console/ledger/accounts?owner_id=nope",
    "/console/ledger/accounts?asset_code=%00", "/console/ledger/holds?status=lost",
    "/console/ledger/holds?sort=-amount", "/console/ledger/lots?cursor=%%%",
    "/console/ledger/accounts/not-an-id", f"/console/ledger/transfers/{UNKNOWN}1",
    f"/console/ledger/accounts/{UNKNOWN}2",
    "/console/orders?number=%27%20OR%201%3D1", "/console/orders?status=lost",
    "/console/settlements?status=x", "/console/giftcards?batch_id=1",
    f"/console/orders/{UNKNOWN}3", f"/console/settlements/{UNKNOWN}4",
    f"/console/giftcards/cards/{UNKNOWN}5"])
async def test_bad_parameters_are_refused_not_failed(client: httpx.AsyncClient,
                                                     session: AsyncSession, settings: Settings,
                                                     url: str) -> None:
    browser = await super_browser(client, session, settings)
    r = await browser.get(url)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert r.headers["content-security-policy"]


async def test_each_page_needs_its_permission(app: FastAPI, client: httpx.AsyncClient,
                                              session: AsyncSession, settings: Settings) -> None:
    browser = await admin_browser(client, session, settings, "users.read")
    for url in PAGES:
        assert (await browser.get(url)).status_code == 403, url
    async with http_client(app) as other:
        reader = await admin_browser(other, session, settings, "ledger.read")
        assert (await reader.get("/console/ledger")).status_code == 200
        assert (await reader.get("/console/orders")).status_code == 403


async def _spend(book: Book, account: AccountOut, to: AccountOut, amount: int) -> None:
    await ledger.transfer(book.session, TransferIn(
        debit_account_id=account.id, credit_account_id=to.id, asset_code=account.asset_code,
        amount=amount, kind="spend"))


def assert_chained(entries: list[dict[str, str]], balance: int) -> None:
    """Newest first: the first balance after is the balance, and each one is the one before
    it plus the entry's amount; the oldest starts from zero."""
    afters = [int(e["Balance after"]) for e in entries]
    amounts = [int(e["Amount"]) for e in entries]
    assert afters[0] == balance
    for newer, older in zip(range(len(entries)), range(1, len(entries))):
        assert afters[older] + amounts[newer] == afters[newer]
    assert afters[-1] - amounts[-1] == 0


async def test_entries_carry_the_balance_after_each(client: httpx.AsyncClient,
                                                    session: AsyncSession,
                                                    settings: Settings) -> None:
    book = await make_book(session)
    alice, bob = await book.user(), await book.user()
    await book.fund(alice, 100)
    await book.fund(alice, 50)
    await _spend(book, alice, bob, 30)
    await book.fund(bob, 7)
    browser = await super_browser(client, session, settings)

    page = await browser.get(f"/console/ledger/accounts/{alice.id}")
    assert_page(page)
    assert "120" in page.text and str(bob.id) in page.text
    entries = rows_of(await browser.get(f"/console/ledger/accounts/{alice.id}", format="csv"))
    assert [(e["Kind"], e["Amount"], e["Balance after"]) for e in entries] == [
        ("spend", "-30", "120"), ("earn", "50", "150"), ("earn", "100", "100")]
    assert_chained(entries, 120)
    oldest = rows_of(await browser.get(f"/console/ledger/accounts/{alice.id}", format="csv",
                                       sort="id"))
    assert oldest == entries[::-1]

    # The issuance account has sixteen balance rows: its balance after is the account's.
    issued = rows_of(await browser.get(f"/console/ledger/accounts/{book.issuance.id}",
                                       format="csv"))
    assert len(issued) == 3
    assert_chained(issued, (await ledger.account_row(session, book.issuance.id)).balance)
    assert int(issued[0]["Balance after"]) == -157


async def test_entries_stay_chained_across_pages(session: AsyncSession) -> None:
    book = await make_book(session)
    alice, bob = await book.user(), await book.user()
    for n in range(1, 8):
        await book.fund(alice, n * 10)
    await _spend(book, alice, bob, 5)
    for account, balance in ((alice, 275), (book.issuance, -280)):
        seen, cursor = [], None
        while True:
            found = await ledger.entries(session, account.id, Browse(cursor=cursor, limit=3))
            seen += found.rows
            cursor = found.next_cursor
            if cursor is None:
                break
        assert len(seen) == (8 if account is alice else 7)
        assert_chained([{"Balance after": str(e.balance_after), "Amount": str(e.amount)}
                        for e in seen], balance)


async def test_a_transfer_shows_both_sides_and_its_transaction(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    book = await make_book(session)
    alice, bob, carol = await book.user(), await book.user(), await book.user()
    await book.fund(alice, 100)
    other = await ledger.transfer(session, TransferIn(
        debit_account_id=alice.id, credit_account_id=carol.id, asset_code="COIN", amount=1,
        kind="spend"))
    batch = await ledger.post(session, [
        TransferIn(debit_account_id=alice.id, credit_account_id=bob.id, asset_code="COIN",
                   amount=40, kind="spend", reference_type="order", reference_id="ord-1",
                   metadata={"note": "split"}),
        TransferIn(debit_account_id=bob.id, credit_account_id=carol.id, asset_code="COIN",
                   amount=15, kind="share")])
    first, second = batch.transfers
    browser = await super_browser(client, session, settings)

    page = await browser.get(f"/console/ledger/transfers/{first.id}")
    assert_page(page)
    assert str(alice.id) in page.text and str(bob.id) in page.text  # both sides
    assert f"/console/ledger/transfers/{second.id}" in page.text  # its sibling
    assert str(other.id) not in page.text  # not of its transaction
    assert "ord-1" in page.text and "split" in page.text
    assert "2 transfers" in page.text


async def test_holds_and_lots_show_and_filter(client: httpx.AsyncClient, session: AsyncSession,
                                              settings: Settings) -> None:
    book = await make_book(session)
    promo = await book.user("PROMO")
    await book.fund(promo, 80)
    hold = await ledger.place_hold(session, HoldIn(
        account_id=promo.id, asset_code="PROMO", amount=30,
        expires_at=clock.now() + dt.timedelta(minutes=10),
        reference_type="order", reference_id=str(uuid.uuid4())))
    browser = await super_browser(client, session, settings)

    pending = rows_of(await browser.get("/console/ledger/holds", format="csv", status="pending"))
    assert [(h["Hold"], h["Amount"], h["Status"]) for h in pending] == [
        (str(hold.id)[-12:], "30", "pending")]
    assert rows_of(await browser.get("/console/ledger/holds", format="csv",
                                     status="released")) == []
    assert_page(await browser.get("/console/ledger/holds", account_id=str(promo.id)))

    lots = rows_of(await browser.get("/console/ledger/lots", format="csv", state="open",
                                     asset_code="promo"))
    assert [(x["Account"], x["Granted"], x["Left"], x["Reserved"]) for x in lots] == [
        (str(promo.id)[-12:], "80", "80", "30")]
    assert rows_of(await browser.get("/console/ledger/lots", format="csv", state="used")) == []
    page = await browser.get(f"/console/ledger/accounts/{promo.id}")
    assert_page(page)
    assert "Expiring by" in page.text


async def test_the_verify_button_queues_one_job_and_is_audited(
        app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    async with http_client(app) as other:
        reader = await admin_browser(other, session, settings, "ledger.read")
        page = await reader.get("/console/ledger")
        assert "Verify the ledger now" not in page.text
        assert (await reader.post("/console/ledger/checks")).status_code == 403
    assert await _jobs(connection) == 0

    admin = await admin_browser(client, session, settings, "ledger.read", "ledger.admin")
    assert "Verify the ledger now" in (await admin.get("/console/ledger")).text
    r = await admin.post("/console/ledger/checks")
    assert r.status_code == 303 and r.headers["location"] == "/console/ledger"
    assert await _jobs(connection) == 1
    assert "a run is queued" in (await admin.get("/console/ledger")).text
    again = await admin.post("/console/ledger/checks")
    assert again.status_code == 303
    assert await _jobs(connection) == 1  # one at a time
    assert "queued already" in (await admin.get("/console/ledger")).text
    audited = await connection.scalar(text(
        "SELECT count(*) FROM audit_log WHERE actor_id = :a AND action = 'ledger.verify.request'"),
        {"a": admin.subject_id})
    assert audited == 2


async def _jobs(connection: AsyncConnection) -> int:
    return int(await connection.scalar(text(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'ledger.verify'")) or 0)


async def test_the_job_keeps_the_result(fresh_db: Database,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    async with unit_of_work(fresh_db) as session:
        book = await make_book(session)
        await book.fund(await book.user(), 5)
    monkeypatch.setattr(worker, "_db", fresh_db)
    requester = uuid.uuid4()
    assert await jobs.verify(requested_by_kind="admin", requested_by_id=str(requester)) is True
    async with unit_of_work(fresh_db) as session:
        [last] = await ledger.recent_checks(session)
    assert last.ok and last.transfers == 1 and last.requested_by_id == requester
    assert {c.name for c in last.results} >= {"every asset sums to zero"}
    assert all(c.failures == 0 for c in last.results)


async def test_the_last_result_shows_on_the_page(client: httpx.AsyncClient,
                                                 session: AsyncSession,
                                                 settings: Settings) -> None:
    book = await make_book(session)
    await book.fund(await book.user(), 5)
    browser = await super_browser(client, session, settings)
    assert "have not run" in (await browser.get("/console/ledger")).text
    report = await verify(session)
    report.checks[0].failures, report.checks[0].sample = 2, [{"account_id": uuid.uuid4()}]
    await ledger.record_check(session, report, started_at=clock.now())
    page = await browser.get("/console/ledger")
    assert_page(page)
    assert "failed" in page.text and report.checks[0].name in page.text
    assert "account_id" in page.text
    assert "COIN" in page.text and "PROMO" in page.text


async def test_accounts_filter_by_owner_and_asset(client: httpx.AsyncClient,
                                                  session: AsyncSession,
                                                  settings: Settings) -> None:
    book = await make_book(session)
    alice = await book.user()
    await book.fund(alice, 12)
    browser = await super_browser(client, session, settings)
    mine = rows_of(await browser.get("/console/ledger/accounts", format="csv",
                                     owner_id=str(alice.owner_id)))
    assert [(a["Account"], a["Asset"], a["Balance"]) for a in mine] == [
        (str(alice.id), "COIN", "12")]
    platform = rows_of(await browser.get("/console/ledger/accounts", format="csv",
                                         owner_type="platform", asset_code="COIN"))
    assert {a["Purpose"] for a in platform} == {"issuance"}
    assert rows_of(await browser.get("/console/ledger/accounts", format="csv",
                                     owner_type="user", asset_code="INR")) == []
    empty = await book.user("INR")  # opened, never moved
    page = await browser.get(f"/console/ledger/accounts/{empty.id}")
    assert_page(page)
    assert "Nothing here." in page.text
