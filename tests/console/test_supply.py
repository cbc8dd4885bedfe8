"""The console's supply pages through HTTP: merchants and their parts, the catalog and offers.
Lists filter, sort, page and download; detail pages show the data; every action changes state
through the domain's service and is audited; a missing permission is a 403 that changes
nothing."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.catalog import service as catalog
from gullak.catalog.schemas import CategoryIn, ProductIn
from gullak.kit import clock
from gullak.kit.browse import Browse
from gullak.merchants import service as merchants
from gullak.merchants.schemas import BankAccountIn, DocumentIn
from gullak.offers import service as offers
from gullak.settings import Settings
from tests.helpers import merchants as shops
from tests.helpers import offers as offer_factory
from tests.helpers.catalog import ensure_assets
from tests.helpers.console import Browser, admin_browser, super_browser


async def one(connection: AsyncConnection, sql: str, **params: Any) -> Any:
    return await connection.scalar(text(sql), params)


async def audited(connection: AsyncConnection, action: str, entity_id: Any,
                  actor_id: uuid.UUID) -> bool:
    return bool(await one(connection, "SELECT count(*) FROM audit_log WHERE action = :a"
                          " AND entity_id = :e AND actor_id = :who",
                          a=action, e=str(entity_id), who=actor_id))


async def denied(connection: AsyncConnection, permission: str, browser: Browser) -> bool:
    return bool(await one(connection, "SELECT count(*) FROM audit_log WHERE action = :a"
                          " AND actor_id = :who AND outcome = 'denied'",
                          a=f"denied:{permission}", who=browser.subject_id))


async def switch(browser: Browser, session: AsyncSession, settings: Settings,
                 *permissions: str) -> Browser:
    """Sign the client out and in again as another admin (one session a client)."""
    assert (await browser.post("/console/logout")).status_code == 303
    return await admin_browser(browser.client, session, settings, *permissions)


def rows_of(body: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body)))


def later(**delta: float) -> str:
    return (clock.now() + dt.timedelta(**delta)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")


# -- merchants --------------------------------------------------------------------------------

async def test_the_merchant_list_filters_sorts_and_downloads(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    await shops.live_merchant(session, "Zeta Brews", city="Pune")
    await shops.new_merchant(session, "Alpha Brews", city="Pune")
    await shops.new_merchant(session, "Mumbai Masala", city="Mumbai")
    browser = await admin_browser(client, session, settings, "merchants.read")

    r = await browser.get("/console/merchants", city="pune", sort="name")
    assert r.status_code == 200
    assert "Alpha Brews" in r.text and "Zeta Brews" in r.text and "Mumbai Masala" not in r.text
    assert r.text.index("Alpha Brews") < r.text.index("Zeta Brews")
    r = await browser.get("/console/merchants", status="live", q="brew")
    assert "Zeta Brews" in r.text and "Alpha Brews" not in r.text
    assert "New merchant" not in r.text  # merchants.manage is not held

    r = await browser.get("/console/merchants", city="Pune", sort="-name", format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = rows_of(r.text)
    assert table[0][0] == "Name" and [row[0] for row in table[1:]] == ["Zeta Brews",
                                                                      "Alpha Brews"]
    for bad in ({"status": "sleeping"}, {"sort": "gstin"}, {"cursor": "not-a-cursor"}):
        r = await browser.get("/console/merchants", **bad)
        assert 400 <= r.status_code < 500, bad
    # Cursors are opaque, not unforgeable: a row id or a uuid value that is no text was a 500.
    for sort, forged in (("name", ["name", "Alpha Brews", 5]),
                         ("name", ["name", "Alpha Brews", ["x"]]),
                         ("-id", ["-id", 7, str(uuid.uuid4())]),
                         ("-created_at", ["-created_at", 7, str(uuid.uuid4())])):
        cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        r = await browser.get("/console/merchants", sort=sort, cursor=cursor)
        assert r.status_code == 422, (forged, r.status_code)


async def test_merchants_page_by_cursor_in_any_order(session: AsyncSession) -> None:
    made = {(await shops.new_merchant(session, f"Cursor Cafe {i}", city="Agra")).id
            for i in range(5)}
    for sort in ("name", "-created_at", "status", "-id"):
        seen: list[uuid.UUID] = []
        cursor = None
        while True:
            page = await merchants.browse_merchants(session, Browse(sort, cursor, 2), city="agra")
            assert len(page.rows) <= 2
            seen += [m.id for m in page.rows]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) and set(seen) == made, sort


async def test_an_admin_creates_and_edits_a_merchant(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    browser = await admin_browser(client, session, settings, "merchants.read",
                                  "merchants.manage")
    r = await browser.post("/console/merchants", {
        "name": "Kolkata Kathi", "city": "kolkata", "tags": "rolls, street food",
        "package_tier": "gold", "settlement_frequency": "daily", "commission_bps": "250"})
    assert r.status_code == 303, r.text
    merchant_id = uuid.UUID(r.headers["location"].rsplit("/", 1)[1])
    assert await one(connection, "SELECT city || '/' || package_tier || '/' || commission_bps"
                     " FROM merchants WHERE id = :m", m=merchant_id) == "Kolkata/gold/250"
    assert await audited(connection, "merchant.create", merchant_id, browser.subject_id)

    page = await browser.get(f"/console/merchants/{merchant_id}/edit")
    assert page.status_code == 200 and 'value="rolls, street food"' in page.text
    r = await browser.post(f"/console/merchants/{merchant_id}", {
        "name": "Kolkata Kathi Rolls", "city": "Kolkata", "tags": "rolls",
        "package_tier": "silver", "settlement_frequency": "weekly", "commission_bps": "300"})
    assert r.status_code == 303, r.text
    assert await one(connection, "SELECT name || '/' || commission_bps FROM merchants"
                     " WHERE id = :m", m=merchant_id) == "Kolkata Kathi Rolls/300"
    assert await audited(connection, "merchant.update", merchant_id, browser.subject_id)

    profile = await browser.get(f"/console/merchants/{merchant_id}")
    assert "Kolkata Kathi Rolls" in profile.text and "300 bps" in profile.text
    # A bad field is a 422 page and changes nothing.
    r = await browser.post(f"/console/merchants/{merchant_id}", {
        "name": "Renamed", "package_tier": "silver", "settlement_frequency": "weekly",
        "commission_bps": "twelve"})
    assert r.status_code == 422
    assert await one(connection, "SELECT name FROM merchants WHERE id = :m",
                     m=merchant_id) == "Kolkata Kathi Rolls"


async def test_a_status_change_needs_merchants_review(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    merchant = await shops.live_merchant(session, "Suspect Sweets")
    reader = await admin_browser(client, session, settings, "merchants.read", "merchants.manage")
    page = await reader.get(f"/console/merchants/{merchant.id}")
    assert page.status_code == 200 and "Change status" not in page.text
    r = await reader.post(f"/console/merchants/{merchant.id}/status",
                          {"status": "suspended", "reason": "complaints"})
    assert r.status_code == 403
    assert await denied(connection, "merchants.review", reader)
    assert await one(connection, "SELECT status FROM merchants WHERE id = :m",
                     m=merchant.id) == "live"

    reviewer = await switch(reader, session, settings, "merchants.read", "merchants.review")
    page = await reviewer.get(f"/console/merchants/{merchant.id}")
    assert "Change status" in page.text and 'value="suspended"' in page.text
    r = await reviewer.post(f"/console/merchants/{merchant.id}/status", {"status": "suspended"})
    assert r.status_code == 422  # suspending needs a reason
    r = await reviewer.post(f"/console/merchants/{merchant.id}/status",
                            {"status": "suspended", "reason": "Food safety complaints"})
    assert r.status_code == 303
    assert await one(connection, "SELECT status || '/' || status_reason FROM merchants"
                     " WHERE id = :m", m=merchant.id) == "suspended/Food safety complaints"
    assert await audited(connection, "merchant.status.suspended", merchant.id,
                         reviewer.subject_id)


async def test_outlets_are_added_and_edited_with_their_hours(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    merchant = await shops.new_merchant(session, "Hours Hotel")
    browser = await admin_browser(client, session, settings, "merchants.read",
                                  "merchants.manage")
    form = {"name": "Juhu", "address": "1 Beach Road", "city": "Mumbai", "latitude": "19.1",
            "longitude": "72.83", "timezone": "Asia/Kolkata", "active": "1",
            "hours_mon": "09:00-13:00, 17:00-22:00", "hours_sat": "10:00-02:00",
            "features": "wifi, parking"}
    r = await browser.post(f"/console/merchants/{merchant.id}/outlets", form)
    assert r.status_code == 303, r.text
    [outlet] = await merchants.list_outlets(session, merchant.id)
    assert [(h.open, h.close) for h in outlet.hours["mon"]] == [("09:00", "13:00"),
                                                              ("17:00", "22:00")]
    assert "tue" not in outlet.hours and outlet.features == ["wifi", "parking"]
    assert await audited(connection, "outlet.create", outlet.id, browser.subject_id)

    listing = await browser.get(f"/console/merchants/{merchant.id}/outlets")
    assert "Juhu" in listing.text and "09:00-13:00, 17:00-22:00" in listing.text
    edit = await browser.get(f"/console/merchants/{merchant.id}/outlets/{outlet.id}")
    assert 'value="09:00-13:00, 17:00-22:00"' in edit.text

    r = await browser.post(f"/console/merchants/{merchant.id}/outlets/{outlet.id}",
                           {**form, "hours_mon": "08:00-20:00", "active": ""})
    assert r.status_code == 303
    session.expire_all()
    [outlet] = await merchants.list_outlets(session, merchant.id)
    assert [(h.open, h.close) for h in outlet.hours["mon"]] == [("08:00", "20:00")]
    assert outlet.active is False
    assert await audited(connection, "outlet.update", outlet.id, browser.subject_id)
    r = await browser.post(f"/console/merchants/{merchant.id}/outlets/{outlet.id}",
                           {**form, "hours_mon": "all day"})
    assert r.status_code == 422
    session.expire_all()
    [outlet] = await merchants.list_outlets(session, merchant.id)
    assert outlet.hours["mon"][0].open == "08:00"

    other = await shops.new_merchant(session, "Another Hotel")
    r = await browser.get(f"/console/merchants/{other.id}/outlets/{outlet.id}")
    assert r.status_code == 404


async def test_merchant_users_are_added_and_their_roles_changed(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    merchant = await shops.new_merchant(session, "Team Tea")
    reader = await admin_browser(client, session, settings, "merchants.read")
    r = await reader.post(f"/console/merchants/{merchant.id}/users", {
        "name": "Asha", "email": "asha@example.com", "role": "owner",
        "password": shops.PASSWORD})
    assert r.status_code == 403
    assert await one(connection, "SELECT count(*) FROM merchant_users WHERE merchant_id = :m",
                     m=merchant.id) == 0

    browser = await switch(reader, session, settings, "merchants.read", "merchants.manage")
    for name, role in (("Asha", "owner"), ("Ravi", "staff")):
        r = await browser.post(f"/console/merchants/{merchant.id}/users", {
            "name": name, "email": f"{name.lower()}@example.com", "role": role,
            "password": shops.PASSWORD})
        assert r.status_code == 303, r.text
    ravi = await one(connection, "SELECT id FROM merchant_users WHERE email = 'ravi@example.com'")
    r = await browser.post(f"/console/merchants/{merchant.id}/users/{ravi}", {"role": "manager"})
    assert r.status_code == 303
    r = await browser.post(f"/console/merchants/{merchant.id}/users/{ravi}",
                           {"status": "disabled"})
    assert r.status_code == 303
    assert await one(connection, "SELECT role || '/' || status FROM merchant_users"
                     " WHERE id = :u", u=ravi) == "manager/disabled"
    assert await one(connection, "SELECT count(*) FROM audit_log WHERE actor_id = :w AND"
                     " action LIKE 'merchant_user.%'", w=browser.subject_id) >= 4
    page = await browser.get(f"/console/merchants/{merchant.id}/users")
    assert "ravi@example.com" in page.text and "Enable" in page.text


async def test_documents_are_verified_or_rejected(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    merchant = await shops.new_merchant(session, "Paper Plates")
    licence = await merchants.add_document(session, merchant.id, DocumentIn(
        document_type="shop_license", number="SL-991", file_url="https://files.example/l.pdf"),
        None)
    pan = await merchants.add_document(session, merchant.id, DocumentIn(
        document_type="address_proof", file_url="https://files.example/p.pdf"), None)
    manager = await admin_browser(client, session, settings, "merchants.read",
                                  "merchants.manage")
    page = await manager.get(f"/console/merchants/{merchant.id}/documents")
    assert "SL-991" in page.text and "Verify" not in page.text
    r = await manager.post(f"/console/merchants/{merchant.id}/documents/{licence.id}/review",
                           {"verdict": "verified"})
    assert r.status_code == 403

    reviewer = await switch(manager, session, settings, "merchants.read", "merchants.review")
    r = await reviewer.post(f"/console/merchants/{merchant.id}/documents/{licence.id}/review",
                            {"verdict": "verified"})
    assert r.status_code == 303
    r = await reviewer.post(f"/console/merchants/{merchant.id}/documents/{pan.id}/review",
                            {"verdict": "rejected", "reason": "Blurred scan"})
    assert r.status_code == 303
    states = dict((await connection.execute(text(
        "SELECT document_type, status FROM merchant_documents WHERE merchant_id = :m"),
        {"m": merchant.id})).all())
    assert states == {"shop_license": "verified", "address_proof": "rejected"}
    assert await audited(connection, "merchant_document.verified", licence.id,
                         reviewer.subject_id)
    assert await audited(connection, "merchant_document.rejected", pan.id, reviewer.subject_id)


async def test_a_bank_account_is_added_and_its_verification_queued(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    merchant = await shops.new_merchant(session, "Bank Bakery")
    browser = await admin_browser(client, session, settings, "merchants.read",
                                  "merchants.manage")
    jobs = "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'merchants.verify_bank_account'"
    before = await one(connection, jobs)
    r = await browser.post(f"/console/merchants/{merchant.id}/bank-accounts", {
        "account_holder": "Bank Bakery Pvt Ltd", "account_number": "123456789012",
        "ifsc": "HDFC0001234", "primary": "1"})
    assert r.status_code == 303, r.text
    assert await one(connection, jobs) == before + 1
    page = await browser.get(f"/console/merchants/{merchant.id}/bank-accounts")
    assert "Bank Bakery Pvt Ltd" in page.text and "123456789012" not in page.text
    assert "9012" in page.text

    account = await merchants.add_bank_account(session, settings, merchant.id, BankAccountIn(
        account_holder="Second", account_number="999988887777", ifsc="HDFC0001234",
        primary=False), None)
    await connection.execute(text("UPDATE merchant_bank_accounts SET status = 'failed',"
                                  " failure_reason = 'name mismatch' WHERE id = :a"),
                             {"a": account.id})
    r = await browser.post(
        f"/console/merchants/{merchant.id}/bank-accounts/{account.id}/verify")
    assert r.status_code == 303
    assert await one(connection, "SELECT status FROM merchant_bank_accounts WHERE id = :a",
                     a=account.id) == "pending"
    assert await audited(connection, "merchant_bank_account.reverify", account.id,
                         browser.subject_id)
    assert await one(connection, jobs) == before + 2


async def test_commissions_are_added_and_removed(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    merchant = await shops.new_merchant(session, "Rate Restaurant")
    food = await catalog.create_category(session, CategoryIn(name="Food", slug="food-rates"),
                                         None)
    reader = await admin_browser(client, session, settings, "merchants.read")
    page = await reader.get(f"/console/merchants/{merchant.id}/commissions")
    assert page.status_code == 200 and "Add rate" not in page.text
    r = await reader.post(f"/console/merchants/{merchant.id}/commissions", {
        "rate_bps": "450", "valid_from": later(days=-1)})
    assert r.status_code == 403
    browser = await switch(reader, session, settings, "merchants.read", "merchants.manage")
    r = await browser.post(f"/console/merchants/{merchant.id}/commissions", {
        "category_id": str(food.id), "rate_bps": "450", "valid_from": later(days=-1),
        "valid_until": ""})
    assert r.status_code == 303, r.text
    commission = await one(connection, "SELECT id FROM merchant_commissions"
                           " WHERE merchant_id = :m AND rate_bps = 450", m=merchant.id)
    assert commission is not None
    page = await browser.get(f"/console/merchants/{merchant.id}/commissions")
    assert "Food" in page.text and "450" in page.text
    assert await merchants.commission_rate(session, merchant.id, food.id) == 450

    r = await browser.post(f"/console/merchants/{merchant.id}/commissions/{commission}/delete")
    assert r.status_code == 303
    assert await one(connection, "SELECT count(*) FROM merchant_commissions"
                     " WHERE merchant_id = :m", m=merchant.id) == 0
    for action in ("merchant_commission.create", "merchant_commission.delete"):
        assert await audited(connection, action, commission, browser.subject_id), action


async def test_every_tab_of_a_merchant_answers(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    merchant = await shops.live_merchant(session, "Tabbed Tandoor", gstin=shops.GSTIN,
                                         pan="AABCB1234F")
    browser = await super_browser(client, session, settings)
    for tab in ("", "/outlets", "/users", "/documents", "/bank-accounts", "/commissions",
                "/reviews", "/edit", "/outlets/new"):
        r = await browser.get(f"/console/merchants/{merchant.id}{tab}")
        assert r.status_code == 200, (tab, r.text[:2000])
        assert "Tabbed Tandoor" in r.text
    profile = await browser.get(f"/console/merchants/{merchant.id}")
    assert shops.GSTIN in profile.text and "shop_license" not in profile.text
    documents = await browser.get(f"/console/merchants/{merchant.id}/documents")
    assert "shop_license" in documents.text
    assert (await browser.get(f"/console/merchants/{uuid.uuid4()}")).status_code == 404
    assert (await browser.get("/console/merchants/not-an-id")).status_code == 422
    nobody = await switch(browser, session, settings)
    assert (await nobody.get(f"/console/merchants/{merchant.id}")).status_code == 403


# -- catalog ----------------------------------------------------------------------------------

async def test_categories_are_created_edited_and_deleted(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    outsider = await admin_browser(client, session, settings, "catalog.products")
    assert (await outsider.get("/console/catalog")).status_code == 403
    r = await outsider.post("/console/catalog/categories", {"name": "X", "slug": "x-cat",
                                                            "type": "both", "active": "1"})
    assert r.status_code == 403
    assert await one(connection, "SELECT count(*) FROM categories WHERE slug = 'x-cat'") == 0

    browser = await switch(outsider, session, settings, "catalog.manage")
    r = await browser.post("/console/catalog/categories", {
        "name": "Gadgets", "slug": "gadgets-test", "type": "product", "display_order": "3",
        "active": "1"})
    assert r.status_code == 303, r.text
    parent = await one(connection, "SELECT id FROM categories WHERE slug = 'gadgets-test'")
    r = await browser.post("/console/catalog/categories", {
        "name": "Phones", "slug": "phones-test", "parent_id": str(parent), "type": "product",
        "active": "1"})
    assert r.status_code == 303
    child = await one(connection, "SELECT id FROM categories WHERE slug = 'phones-test'")
    tree = await browser.get("/console/catalog")
    assert tree.status_code == 200 and "— <a" in tree.text
    assert tree.text.index(">Gadgets</a>") < tree.text.index(">Phones</a>")

    r = await browser.post(f"/console/catalog/categories/{child}", {
        "name": "Mobile phones", "slug": "phones-test", "parent_id": str(parent),
        "type": "product", "display_order": "0"})  # no "active": unticked
    assert r.status_code == 303
    assert await one(connection, "SELECT name || '/' || active FROM categories WHERE id = :c",
                     c=child) == "Mobile phones/false"
    r = await browser.post(f"/console/catalog/categories/{parent}/delete")
    assert r.status_code == 409  # it has a subcategory
    r = await browser.post(f"/console/catalog/categories/{child}/delete")
    assert r.status_code == 303
    assert await one(connection, "SELECT count(*) FROM categories WHERE id = :c", c=child) == 0
    for action in ("category.create", "category.update", "category.delete"):
        assert await one(connection, "SELECT count(*) FROM audit_log WHERE actor_id = :w"
                         " AND action = :a", w=browser.subject_id, a=action), action


async def test_products_are_browsed_across_merchants(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    await ensure_assets(session)
    food = await catalog.create_category(session, CategoryIn(name="Snacks", slug="snacks-t",
                                                             type="product"), None)
    chips = await catalog.create_category(session, CategoryIn(
        name="Chips", slug="chips-t", parent_id=food.id, type="product"), None)
    one_shop = await shops.new_merchant(session, "Crunch Corner")
    other = await shops.new_merchant(session, "Soda Stop")
    crisps = await catalog.create_product(session, one_shop.id, ProductIn(
        sku="CR-1", name="Salted crisps", price=4000, category_id=chips.id, stock=12), None)
    await catalog.create_product(session, one_shop.id, ProductIn(
        sku="CR-2", name="Masala peanuts", price=2500, status="inactive"), None)
    await catalog.create_product(session, other.id, ProductIn(
        sku="SO-1", name="Lemon soda", price=3000), None)

    manager = await admin_browser(client, session, settings, "catalog.manage")
    assert (await manager.get("/console/catalog/products")).status_code == 403
    browser = await switch(manager, session, settings, "catalog.products")
    r = await browser.get("/console/catalog/products", merchant=str(one_shop.id))
    assert "Salted crisps" in r.text and "Masala peanuts" in r.text
    assert "Lemon soda" not in r.text and "Crunch Corner" in r.text
    r = await browser.get("/console/catalog/products", category=str(food.id))
    assert "Salted crisps" in r.text and "Masala peanuts" not in r.text
    r = await browser.get("/console/catalog/products", status="active", sort="-price",
                          format="csv")
    names = [row[0] for row in rows_of(r.text)[1:]]
    assert names.index("Salted crisps") < names.index("Lemon soda")
    assert "Masala peanuts" not in names
    assert (await browser.get("/console/catalog/products", merchant="nope")).status_code == 422

    detail = await browser.get(f"/console/catalog/products/{crisps.id}")
    assert detail.status_code == 200
    assert "CR-1" in detail.text and "Chips" in detail.text and "12" in detail.text


async def test_an_admin_creates_a_product_and_imports_a_feed(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    await ensure_assets(session)
    merchant = await shops.new_merchant(session, "Feed Fresh")
    browser = await admin_browser(client, session, settings, "catalog.products")
    form = await browser.get("/console/catalog/products/new", merchant=str(merchant.id))
    assert form.status_code == 200 and str(merchant.id) in form.text
    r = await browser.post("/console/catalog/products", {
        "merchant_id": str(merchant.id), "sku": "FF-1", "name": "Mango box", "price": "45000",
        "asset_code": "INR", "stock": "7", "status": "active", "tags": "fruit, summer"})
    assert r.status_code == 303, r.text
    product_id = r.headers["location"].rsplit("/", 1)[1]
    assert await one(connection, "SELECT name || '/' || price FROM products WHERE id = :p",
                     p=uuid.UUID(product_id)) == "Mango box/45000"
    assert await audited(connection, "product.create", product_id, browser.subject_id)
    r = await browser.post("/console/catalog/products", {
        "merchant_id": str(merchant.id), "sku": "FF-2", "name": "Bad", "price": "4.50",
        "asset_code": "INR"})
    assert r.status_code == 422
    assert await one(connection, "SELECT count(*) FROM products WHERE merchant_id = :m",
                     m=merchant.id) == 1

    r = await browser.post(f"/console/catalog/merchants/{merchant.id}/feed", {
        "format": "csv", "default_asset": "INR",
        "body": "sku,name,price,stock\r\nFF-3,Guava crate,30000,4\r\nFF-4,,100,1\r\n"})
    assert r.status_code == 303, r.text
    assert await one(connection, "SELECT count(*) FROM products WHERE merchant_id = :m",
                     m=merchant.id) == 2  # FF-1 stays (not a full feed); FF-4 failed
    page = await browser.get(f"/console/catalog/merchants/{merchant.id}/feed")
    assert page.status_code == 200 and "row 2" in page.text


async def test_events_are_written_scheduled_and_cancelled(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    browser = await admin_browser(client, session, settings, "events.manage")
    r = await browser.post("/console/catalog/events", {
        "title": "Diwali sale", "slug": "diwali-test", "kind": "flash_sale",
        "starts_at": later(days=2), "ends_at": later(days=4), "cities": "Pune, Mumbai",
        "segment_all": "1", "discount_percent": "20"})
    assert r.status_code == 303, r.text
    event_id = uuid.UUID(r.headers["location"].rsplit("/", 1)[1])
    r = await browser.post(f"/console/catalog/events/{event_id}", {
        "title": "Diwali mega sale", "starts_at": later(days=2), "ends_at": later(days=5),
        "cities": "Pune", "segment_vip": "1"})
    assert r.status_code == 303, r.text
    r = await browser.post(f"/console/catalog/events/{event_id}/schedule")
    assert r.status_code == 303
    row = (await connection.execute(text(
        "SELECT title, status, cities, segments FROM catalog_events WHERE id = :e"),
        {"e": event_id})).one()
    assert tuple(row) == ("Diwali mega sale", "scheduled", ["Pune"], ["vip"])
    listing = await browser.get("/console/catalog/events", status="scheduled")
    assert "Diwali mega sale" in listing.text
    r = await browser.post(f"/console/catalog/events/{event_id}/cancel", {"reason": ""})
    assert r.status_code == 422
    r = await browser.post(f"/console/catalog/events/{event_id}/cancel",
                           {"reason": "Moved online"})
    assert r.status_code == 303
    assert await one(connection, "SELECT status FROM catalog_events WHERE id = :e",
                     e=event_id) == "cancelled"
    assert await one(connection, "SELECT count(*) FROM audit_log WHERE actor_id = :w"
                     " AND entity_id = :e", w=browser.subject_id, e=str(event_id)) == 4


# -- offers -----------------------------------------------------------------------------------

async def test_the_offer_list_filters_and_downloads(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    shop, _ = await offer_factory.live_merchant(session, "Pizza Planet")
    other, _ = await offer_factory.live_merchant(session, "Burger Barn")
    await offer_factory.make_offer(session, shop, title="Pizza party")
    await offer_factory.make_offer(session, shop, status="pending", title="Pending pasta")
    await offer_factory.make_offer(session, other, status="paused", type="bogo",
                                   discount_kind=None, discount_value=None, bogo_buy=1,
                                   bogo_get=1, title="Burger twins")
    browser = await admin_browser(client, session, settings, "offers.read")
    r = await browser.get("/console/offers", merchant=str(shop))
    assert "Pizza party" in r.text and "Pending pasta" in r.text
    assert "Burger twins" not in r.text and "Pizza Planet" in r.text
    r = await browser.get("/console/offers", type="bogo")
    assert "Burger twins" in r.text and "Buy 1 get 1" in r.text and "Pizza party" not in r.text
    r = await browser.get("/console/offers", status="active", format="csv")
    table = rows_of(r.text)
    assert table[0][:2] == ["Offer", "Merchant"]
    assert ["Pizza party", "Pizza Planet"] in [row[:2] for row in table]
    assert all(row[4] == "active" for row in table[1:])
    assert (await browser.get("/console/offers", status="lost")).status_code == 422
    assert "New offer" not in (await browser.get("/console/offers")).text


async def test_offers_page_by_cursor(session: AsyncSession) -> None:
    shop, _ = await offer_factory.live_merchant(session)
    made = {(await offer_factory.make_offer(session, shop, status="draft",
                                            title=f"Draft {i}")).id for i in range(5)}
    for sort in ("title", "-valid_until", "redemptions_count"):
        seen, cursor = [], None
        while True:
            page = await offers.browse_offers(session, Browse(sort, cursor, 2), merchant_id=shop)
            seen += [o.id for o in page.rows]
            if (cursor := page.next_cursor) is None:
                break
        assert len(seen) == 5 and set(seen) == made, sort


async def test_an_offer_shows_its_figures_and_links_to_its_review(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    shop, _ = await offer_factory.live_merchant(session, "Dosa Den")
    pending = await offer_factory.make_offer(session, shop, status="pending",
                                             title="Crispy dosa deal", coupon_code="DOSA20")
    reviewer = await admin_browser(client, session, settings, "offers.read", "offers.review")
    r = await reviewer.get(f"/console/offers/{pending.id}")
    assert r.status_code == 200
    assert "Crispy dosa deal" in r.text and "DOSA20" in r.text and "10% off" in r.text
    assert f"/console/queues/offers/{pending.id}" in r.text
    assert "Redemptions" in r.text and "Pause" not in r.text and "Edit terms" not in r.text
    reader = await switch(reviewer, session, settings, "offers.read")
    r = await reader.get(f"/console/offers/{pending.id}")
    assert f"/console/queues/offers/{pending.id}" not in r.text
    assert (await reader.get(f"/console/offers/{uuid.uuid4()}")).status_code == 404


async def test_offers_are_paused_resumed_and_ended(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    shop, _ = await offer_factory.live_merchant(session)
    offer = await offer_factory.make_offer(session, shop)
    status = "SELECT status FROM offers WHERE id = :o"
    reader = await admin_browser(client, session, settings, "offers.read")
    r = await reader.post(f"/console/offers/{offer.id}/pause")
    assert r.status_code == 403 and await one(connection, status, o=offer.id) == "active"
    assert await denied(connection, "offers.manage", reader)

    browser = await switch(reader, session, settings, "offers.read", "offers.manage")
    page = await browser.get(f"/console/offers/{offer.id}")
    assert ">Pause<" in page.text and ">Resume<" not in page.text
    for action, after in (("pause", "paused"), ("resume", "active"), ("expire", "expired")):
        r = await browser.post(f"/console/offers/{offer.id}/{action}")
        assert r.status_code == 303, (action, r.text)
        assert await one(connection, status, o=offer.id) == after
        assert await audited(connection, f"offer.{action}", offer.id, browser.subject_id)
    r = await browser.post(f"/console/offers/{offer.id}/resume")
    assert r.status_code == 409 and await one(connection, status, o=offer.id) == "expired"
    assert (await browser.post(f"/console/offers/{offer.id}/approve")).status_code == 404


async def test_an_admin_writes_an_offer_for_a_merchant(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    shop, outlets = await offer_factory.live_merchant(session, outlets=2)
    browser = await admin_browser(client, session, settings, "offers.read", "offers.manage")
    form = await browser.get("/console/offers/new", merchant=str(shop))
    assert form.status_code == 200 and f"outlet_{outlets[0]}" in form.text
    fields = {"merchant_id": str(shop), "type": "cashback", "title": "Weekend cashback",
              "cashback_kind": "fixed", "cashback_value": "5000", "min_order_value": "20000",
              "valid_from": later(hours=-1), "valid_until": later(days=10),
              "day_sat": "1", "day_sun": "1", "segment_all": "1", "cities": "Mumbai",
              "per_user_limit": "2", f"outlet_{outlets[1]}": "1"}
    r = await browser.post("/console/offers", fields)
    assert r.status_code == 303, r.text
    offer_id = uuid.UUID(r.headers["location"].rsplit("/", 1)[1])
    out = await offers.get_offer(session, offer_id)
    assert (out.status.value, out.cashback_value, out.min_order_value) == ("draft", 5000, 20000)
    assert [d.value for d in out.weekdays or ()] == ["sat", "sun"]
    assert out.outlet_ids == [outlets[1]] and out.cities == ["mumbai"]
    assert await audited(connection, "offer.create", offer_id, browser.subject_id)

    edit = await browser.get(f"/console/offers/{offer_id}/edit")
    assert 'value="Weekend cashback"' in edit.text
    r = await browser.post(f"/console/offers/{offer_id}",
                           {**fields, "title": "Weekend cashback plus", "day_sat": ""})
    assert r.status_code == 303, r.text
    r = await browser.post(f"/console/offers/{offer_id}/promotion", {
        "is_featured": "1", "boosted_until": later(days=3), "display_priority": "50"})
    assert r.status_code == 303, r.text
    row = (await connection.execute(text(
        "SELECT title, weekdays, is_featured, display_priority FROM offers WHERE id = :o"),
        {"o": offer_id})).one()
    assert tuple(row) == ("Weekend cashback plus", ["sun"], True, 50)
    r = await browser.post(f"/console/offers/{offer_id}", {**fields, "cashback_value": "5.5"})
    assert r.status_code == 422
    assert await one(connection, "SELECT cashback_value FROM offers WHERE id = :o",
                     o=offer_id) == 5000


async def test_supply_pages_answer_on_an_empty_database(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    browser = await super_browser(client, session, settings)
    for url in ("/console/merchants", "/console/merchants/new", "/console/catalog",
                "/console/catalog/categories/new", "/console/catalog/products",
                "/console/catalog/products/new", "/console/catalog/events",
                "/console/catalog/events/new", "/console/offers", "/console/offers/new"):
        r = await browser.get(url)
        assert r.status_code == 200, (url, r.text[:2000])
        assert "style=" not in r.text and "<script>" not in r.text
