"""The console's orders, settlements and gift cards: tables that filter and download, detail
pages with what each is made of, and the back office's moves, each refused (and changing
nothing) without its permission and done through the domain's own command with it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.giftcards import service as giftcards
from gullak.kit import clock
from gullak.kit.security import Subject
from gullak.orders import flows
from gullak.orders.pricing import Policy
from gullak.orders.schemas import OrderIn, OrderOut
from gullak.settings import Settings
from tests.helpers.console import Browser, admin_browser
from tests.helpers.http import http_client
from tests.orders.support import Shop, ensure_assets, fund, make_shop, order_body


def rows_of(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text[:500]
    return list(csv.DictReader(io.StringIO(response.text)))


async def paid_order(session: AsyncSession, shop: Shop, user: uuid.UUID) -> OrderOut:
    """One dosa (210.00 with tax), paid from the user's INR wallet."""
    await fund(session, user, "INR", 100_000)
    out, _ = await flows.place_order(session, Subject("user", user), OrderIn(
        **order_body(shop, (shop.dosa, 1), tenders=[{"asset_code": "INR"}])), Policy())
    return out


async def order_row(connection: AsyncConnection, order_id: uuid.UUID) -> tuple[str, int]:
    row = (await connection.execute(text("SELECT status, refunded FROM orders WHERE id = :i"),
                                    {"i": order_id})).one()
    return row.status, row.refunded


async def audited(connection: AsyncConnection, browser: Browser, action: str) -> int:
    return int(await connection.scalar(text(
        "SELECT count(*) FROM audit_log WHERE actor_id = :a AND action = :action"),
        {"a": browser.subject_id, "action": action}) or 0)


# -- orders -----------------------------------------------------------------------------------

async def test_orders_filter_sort_and_download(client: httpx.AsyncClient,
                                               session: AsyncSession,
                                               settings: Settings) -> None:
    shop = await make_shop(session)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    first = await paid_order(session, shop, alice)
    second = await paid_order(session, shop, bob)
    await flows.advance(session, second.id, "cancel", Subject("user", bob), "changed my mind")
    browser = await admin_browser(client, session, settings, "orders.read")

    page = await browser.get("/console/orders")
    assert page.status_code == 200
    assert first.number in page.text and second.number in page.text
    assert [r["Number"] for r in rows_of(await browser.get("/console/orders", format="csv"))
            ] == [second.number, first.number]  # newest first
    assert [r["Number"] for r in rows_of(await browser.get(
        "/console/orders", format="csv", sort="created"))] == [first.number, second.number]
    paid = rows_of(await browser.get("/console/orders", format="csv", status="paid"))
    assert [(r["Number"], r["Total"], r["Status"]) for r in paid] == [
        (first.number, "210.00", "paid")]
    assert [r["Number"] for r in rows_of(await browser.get(
        "/console/orders", format="csv", user_id=str(bob)))] == [second.number]
    assert [r["Number"] for r in rows_of(await browser.get(
        "/console/orders", format="csv", number=first.number.lower()))] == [first.number]
    assert rows_of(await browser.get("/console/orders", format="csv",
                                     merchant_id=str(uuid.uuid4()))) == []


async def test_an_order_shows_items_tenders_and_history(client: httpx.AsyncClient,
                                                        session: AsyncSession,
                                                        settings: Settings) -> None:
    shop = await make_shop(session)
    order = await paid_order(session, shop, uuid.uuid4())
    browser = await admin_browser(client, session, settings, "orders.read")
    page = await browser.get(f"/console/orders/{order.id}")
    assert page.status_code == 200
    assert order.number in page.text and "Masala dosa" in page.text
    assert "210.00" in page.text and "wallet" in page.text and "created" in page.text
    # A reader is shown no moves.
    assert "/advance" not in page.text and "/refunds" not in page.text


async def test_moves_and_refunds_need_their_permissions(
        app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    shop = await make_shop(session)
    order = await paid_order(session, shop, uuid.uuid4())
    reader = await admin_browser(client, session, settings, "orders.read")
    r = await reader.post(f"/console/orders/{order.id}/advance", {"action": "cancel"})
    assert r.status_code == 403
    r = await reader.post(f"/console/orders/{order.id}/refunds",
                          {"amount": 100, "reason": "cold"})
    assert r.status_code == 403
    assert await order_row(connection, order.id) == ("paid", 0)

    async with http_client(app) as other:
        manager = await admin_browser(other, session, settings, "orders.read", "orders.manage")
        page = await manager.get(f"/console/orders/{order.id}")
        assert 'value="cancel"' in page.text and 'value="complete"' not in page.text
        assert "/refunds" not in page.text
        r = await manager.post(f"/console/orders/{order.id}/advance", {"action": "complete"})
        assert r.status_code == 409  # not from paid
        for action in ("confirm", "ready", "complete"):
            r = await manager.post(f"/console/orders/{order.id}/advance", {"action": action})
            assert r.status_code == 303, r.text[:300]
        assert await order_row(connection, order.id) == ("completed", 0)
        assert await audited(connection, manager, "order.confirm") == 1
        r = await manager.post(f"/console/orders/{order.id}/refunds",
                               {"amount": 100, "reason": "cold"})
        assert r.status_code == 403
    assert await order_row(connection, order.id) == ("completed", 0)


async def test_a_refund_goes_through_the_orders_flow(
        app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    shop = await make_shop(session)
    order = await paid_order(session, shop, uuid.uuid4())
    for action in ("confirm", "ready", "complete"):
        await flows.advance(session, order.id, action, Subject("admin", uuid.uuid4(),
                                                               frozenset({"orders.manage"})))
    browser = await admin_browser(client, session, settings, "orders.read", "orders.refund")
    page = await browser.get(f"/console/orders/{order.id}")
    assert f"/console/orders/{order.id}/refunds" in page.text
    r = await browser.post(f"/console/orders/{order.id}/refunds",
                           {"amount": "ten", "reason": "cold"})
    assert r.status_code == 422 and "amount" in r.text
    r = await browser.post(f"/console/orders/{order.id}/refunds", {"amount": 5_000})
    assert r.status_code == 422 and "reason" in r.text
    assert await order_row(connection, order.id) == ("completed", 0)
    r = await browser.post(f"/console/orders/{order.id}/refunds",
                           {"amount": 5_000, "reason": "cold dosa"})
    assert r.status_code == 303
    assert await order_row(connection, order.id) == ("partially_refunded", 5_000)
    assert await audited(connection, browser, "order.refund") == 1
    page = await browser.get(f"/console/orders/{order.id}")
    assert "cold dosa" in page.text and "50.00" in page.text


# -- settlements ------------------------------------------------------------------------------

async def test_a_settlement_is_run_and_read(app: FastAPI, client: httpx.AsyncClient,
                                            session: AsyncSession, settings: Settings,
                                            connection: AsyncConnection) -> None:
    shop = await make_shop(session)
    today = clock.now().date()
    period = {"merchant_id": str(shop.merchant_id), "period_start": str(today),
              "period_end": str(today)}
    reader = await admin_browser(client, session, settings, "payouts.read")
    assert "period_start" not in (await reader.get("/console/settlements")).text
    assert (await reader.post("/console/settlements", period)).status_code == 403
    assert await connection.scalar(text("SELECT count(*) FROM settlements")) == 0

    async with http_client(app) as other:
        settler = await admin_browser(other, session, settings, "payouts.read",
                                      "payouts.settle")
        bad = await settler.post("/console/settlements", {**period, "period_end": "soon"})
        assert bad.status_code == 422
        late = await settler.post("/console/settlements", {
            **period, "period_start": str(today - dt.timedelta(days=40))})
        assert late.status_code == 422
        r = await settler.post("/console/settlements", period)
        assert r.status_code == 303
        settlement_id = r.headers["location"].rsplit("/", 1)[1]
        again = await settler.post("/console/settlements", period)
        assert again.headers["location"].endswith(settlement_id)  # the same period: the same
        assert await audited(connection, settler, "payouts.settlement.run") == 2
        code = await connection.scalar(text("SELECT code FROM settlements WHERE id = :i"),
                                       {"i": settlement_id})
        page = await settler.get(f"/console/settlements/{settlement_id}")
        assert page.status_code == 200 and code in page.text
        listed = rows_of(await settler.get("/console/settlements", format="csv",
                                           merchant_id=str(shop.merchant_id)))
        assert [(s["Settlement"], s["Status"]) for s in listed] == [(code, "nothing_to_pay")]
        statement = await settler.get(f"/console/settlements/{settlement_id}/statement.csv")
        assert statement.status_code == 200 and statement.text.startswith("line,kind,amount")


# -- gift cards -------------------------------------------------------------------------------

async def test_cards_show_masked_and_void_needs_its_permission(
        app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    await ensure_assets(session)
    card, code, pin = await giftcards.issue(
        session, amount=50_000, expires_at=clock.now() + dt.timedelta(days=30),
        funding_account_id=await giftcards.funding_account(session), source="admin")
    reader = await admin_browser(client, session, settings, "giftcards.read")
    listed = rows_of(await reader.get("/console/giftcards", format="csv", status="active"))
    assert [(c["Balance"], c["Status"]) for c in listed] == [("500.00", "active")]
    page = await reader.get(f"/console/giftcards/cards/{card.id}")
    assert page.status_code == 200 and "500.00" in page.text
    assert code not in page.text and pin not in page.text and "/void" not in page.text
    r = await reader.post(f"/console/giftcards/cards/{card.id}/void", {"reason": "lost"})
    assert r.status_code == 403
    assert await connection.scalar(text("SELECT status FROM gift_cards WHERE id = :i"),
                                   {"i": card.id}) == "active"

    async with http_client(app) as other:
        manager = await admin_browser(other, session, settings, "giftcards.read",
                                      "giftcards.manage")
        assert (await manager.post(f"/console/giftcards/cards/{card.id}/void",
                                   {"reason": ""})).status_code == 422
        r = await manager.post(f"/console/giftcards/cards/{card.id}/void", {"reason": "lost"})
        assert r.status_code == 303
        assert await audited(connection, manager, "gift_card.void") == 1
    assert await connection.scalar(text("SELECT status FROM gift_cards WHERE id = :i"),
                                   {"i": card.id}) == "void"


async def test_a_voucher_is_made_from_the_form(client: httpx.AsyncClient, session: AsyncSession,
                                               settings: Settings,
                                               connection: AsyncConnection) -> None:
    await ensure_assets(session)
    browser = await admin_browser(client, session, settings, "giftcards.read",
                                  "giftcards.manage")
    fields = {"code": "WELCOME50", "name": "Welcome", "asset_code": "rez", "amount": 50,
              "max_uses": "", "valid_from": "2026-01-01T00:00",
              "valid_until": "2026-01-01T00:00"}
    r = await browser.post("/console/giftcards/vouchers", fields)
    assert r.status_code == 422  # it would end as it starts
    r = await browser.post("/console/giftcards/vouchers",
                           {**fields, "valid_until": "2027-01-31T23:59"})
    assert r.status_code == 303
    page = await browser.get("/console/giftcards/vouchers")
    assert "WELCOME50" in page.text
    assert await connection.scalar(text(
        "SELECT amount FROM vouchers WHERE code = 'WELCOME50'")) == 50
