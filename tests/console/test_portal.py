"""The merchant portal through HTTP, as a merchant's users use it: every page scoped to their
own merchant (another merchant's object is not found), writes through the services with the
merchant API's permissions, audited, and refused without the form's CSRF token."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import clock
from gullak.kit.security import Subject
from gullak.merchants import service as merchants
from gullak.merchants.schemas import MerchantUserIn, Role
from gullak.offers import service as offers
from gullak.orders import flows
from gullak.orders.pricing import Policy
from gullak.orders.schemas import ItemIn, OrderIn
from gullak.payouts import settlements
from gullak.settings import Settings
from tests.helpers.console import Browser, merchant_browser
from tests.helpers.merchants import PASSWORD, audit_entries, new_merchant
from tests.helpers.offers import live_merchant, make_offer
from tests.orders.support import Shop, fund, make_shop

NO_FEES = Policy(tax_bps=0, delivery_fee=0, free_delivery_from=None)
PLATFORM = Subject("service", uuid.UUID(int=77), frozenset({"orders.refund"}))


async def count(connection: AsyncConnection, query: str, **params: Any) -> int:
    return int((await connection.execute(text(query), params)).scalar_one())


async def buy(session: AsyncSession, shop: Shop, *actions: str) -> uuid.UUID:
    """An order of one dosa paid from a funded wallet, moved on by the platform."""
    user = uuid.uuid4()
    await fund(session, user, "INR", 100_000)
    order, _ = await flows.place_order(session, Subject("user", user), OrderIn(
        merchant_id=shop.merchant_id, outlet_id=shop.outlet_id,
        items=[ItemIn(product_id=shop.dosa, quantity=1)]), NO_FEES)
    for action in actions:
        await flows.advance(session, order.id, action, PLATFORM)
    return order.id


def offer_form(**overrides: Any) -> dict[str, Any]:
    now = clock.now()
    fields: dict[str, Any] = {
        "type": "discount_percent", "title": "Ten percent off dosas",
        "discount_kind": "percent", "discount_value": "1000",
        "valid_from": (now - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "valid_until": (now + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"),
        "per_user_limit": "1", "min_order_value": "20000", "tags": "food, dosa",
        "weekday_mon": "1", "weekday_sat": "1", "hours": "12:00-15:00, 19:00-23:00",
        "segment_all": "1"}
    fields.update(overrides)
    return fields


def outlet_form(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": "Indiranagar", "address": "12 100 Feet Road", "city": "Bengaluru",
        "latitude": "12.9719", "longitude": "77.6412", "timezone": "Asia/Kolkata",
        "features": "wifi, parking", "active": "1",
        "mon_open_1": "09:00", "mon_close_1": "14:00", "mon_open_2": "17:00",
        "mon_close_2": "23:00", "sun_open_1": "10:00", "sun_close_1": "24:00"}
    fields.update(overrides)
    return fields


def created_id(response: httpx.Response, kind: str) -> uuid.UUID:
    assert response.status_code == 303, response.text
    found = re.fullmatch(rf"/merchant/{kind}/([0-9a-f-]{{36}})", response.headers["location"])
    assert found, response.headers["location"]
    return uuid.UUID(found.group(1))


async def test_every_page_opens_for_an_owner_of_a_new_merchant(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    merchant_id, _ = await live_merchant(session, outlets=0)
    browser = await merchant_browser(client, session, merchant_id)
    for path in ("/merchant", "/merchant/outlets", "/merchant/outlets/new", "/merchant/products",
                 "/merchant/products/new", "/merchant/offers", "/merchant/offers/new",
                 "/merchant/orders", "/merchant/redemptions", "/merchant/reviews",
                 "/merchant/settlements", "/merchant/users"):
        r = await browser.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        assert r.headers["content-security-policy"].startswith("default-src 'self'")
        content = r.text.split('<div id="messages">', 1)[1]
        assert not re.search(r"\s(style|on[a-z]+)=|<script", content), path
    for path in ("/merchant/orders?status=nope", "/merchant/offers?sort=-title",
                 "/merchant/redemptions?offer_id=not-an-id", "/merchant/orders?cursor=xyz",
                 f"/merchant/offers/{uuid.uuid4()}", f"/merchant/outlets/{uuid.uuid4()}"):
        r = await browser.get(path)
        assert 400 <= r.status_code < 500, (path, r.status_code)


async def test_a_merchant_user_creates_an_offer_submits_it_and_pauses_it(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection) -> None:
    merchant_id, outlets = await live_merchant(session, outlets=2)
    browser = await merchant_browser(client, session, merchant_id, Role.manager)
    form = await browser.get("/merchant/offers/new")
    assert "Create offer" in form.text and f'name="outlet_{outlets[0]}"' in form.text

    r = await browser.post("/merchant/offers", offer_form(**{f"outlet_{outlets[1]}": "1"}))
    offer_id = created_id(r, "offers")
    offer = await offers.get_offer(session, offer_id, merchant_id)
    assert (offer.status, offer.title, offer.min_order_value) == ("draft", offer.title, 20_000)
    assert offer.discount_value == 1000 and offer.tags == ["food", "dosa"]
    assert [d.value for d in offer.weekdays or []] == ["mon", "sat"]
    assert [(h.start, h.end) for h in offer.hours or []] == [("12:00", "15:00"),
                                                             ("19:00", "23:00")]
    assert offer.outlet_ids == [outlets[1]] and offer.created_by == browser.subject_id
    page = await browser.get(f"/merchant/offers/{offer_id}")
    assert "Submit for approval" in page.text and "Pause" not in page.text

    r = await browser.post(f"/merchant/offers/{offer_id}/submit")
    assert r.status_code == 303
    assert (await offers.get_offer(session, offer_id)).status == "pending"
    assert "Submitted for approval." in (await browser.get(r.headers["location"])).text

    await offers.transition(session, offer_id, "approve", None)  # the platform's review
    assert ">Pause<" in (await browser.get(f"/merchant/offers/{offer_id}")).text
    r = await browser.post(f"/merchant/offers/{offer_id}/pause")
    assert r.status_code == 303
    assert (await offers.get_offer(session, offer_id)).status == "paused"
    r = await browser.post(f"/merchant/offers/{offer_id}/resume")
    assert (await offers.get_offer(session, offer_id)).status == "active"
    actions = [e["action"] for e in await audit_entries(connection, offer_id)]
    assert actions[:2] == ["offer.create", "offer.submit"] and "offer.pause" in actions
    assert all(e["actor_id"] == browser.subject_id for e in await audit_entries(
        connection, offer_id) if e["action"] != "offer.approve")
    listing = await browser.get("/merchant/offers", status="active")
    assert "Ten percent off dosas" in listing.text


async def test_a_draft_offer_is_edited_and_bad_terms_change_nothing(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection) -> None:
    merchant_id, _ = await live_merchant(session)
    browser = await merchant_browser(client, session, merchant_id)
    offer = await make_offer(session, merchant_id, status="draft")
    form = await browser.get(f"/merchant/offers/{offer.id}/edit")
    assert "Ten percent off pizzas" in form.text
    r = await browser.post(f"/merchant/offers/{offer.id}/edit",
                           offer_form(title="Fifteen off", discount_value="1500", tags=""))
    assert r.status_code == 303
    edited = await offers.get_offer(session, offer.id)
    assert (edited.title, edited.discount_value, edited.tags) == ("Fifteen off", 1500, [])

    before = await count(connection, "SELECT count(*) FROM offers")
    for bad in ({"discount_value": "ten"}, {"valid_until": "soon"}, {"type": "bribe"},
                {"hours": "noon to three"}, {"title": "x\x00y"}):
        r = await browser.post("/merchant/offers", offer_form(**bad))
        assert r.status_code == 422, (bad, r.status_code)
    assert await count(connection, "SELECT count(*) FROM offers") == before


async def test_staff_see_offers_but_may_not_create_or_pause_them(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection) -> None:
    merchant_id, _ = await live_merchant(session)
    offer = await make_offer(session, merchant_id)
    browser = await merchant_browser(client, session, merchant_id, Role.staff)
    page = await browser.get(f"/merchant/offers/{offer.id}")
    assert page.status_code == 200 and ">Pause<" not in page.text
    assert "Create offer" not in (await browser.get("/merchant/offers")).text
    before = await count(connection, "SELECT count(*) FROM offers")
    assert (await browser.post("/merchant/offers", offer_form())).status_code == 403
    assert (await browser.post(f"/merchant/offers/{offer.id}/pause")).status_code == 403
    assert await count(connection, "SELECT count(*) FROM offers") == before
    assert (await offers.get_offer(session, offer.id)).status == "active"


async def test_another_merchants_orders_and_offers_are_not_found(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    mine, theirs = await make_shop(session), await make_shop(session)
    my_order, their_order = await buy(session, mine), await buy(session, theirs)
    their_offer = await make_offer(session, theirs.merchant_id)
    browser = await merchant_browser(client, session, mine.merchant_id)

    listing = await browser.get("/merchant/orders")
    assert str(my_order) in listing.text and str(their_order) not in listing.text
    assert (await browser.get(f"/merchant/orders/{my_order}")).status_code == 200
    for path in (f"/merchant/orders/{their_order}", f"/merchant/offers/{their_offer.id}",
                 f"/merchant/offers/{their_offer.id}/edit"):
        r = await browser.get(path)
        assert r.status_code == 404, path
        assert str(theirs.merchant_id) not in r.text
    assert (await browser.post(f"/merchant/orders/{their_order}/advance",
                               {"action": "confirm"})).status_code == 404
    assert (await browser.post(f"/merchant/offers/{their_offer.id}/pause")).status_code == 404
    assert (await offers.get_offer(session, their_offer.id)).status == "active"
    their_status = await session.scalar(text("SELECT status FROM orders WHERE id = :o"),
                                        {"o": their_order})
    assert their_status == "paid"


async def test_orders_are_filtered_and_moved_on_by_the_merchant(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection) -> None:
    shop = await make_shop(session)
    paid, confirmed = await buy(session, shop), await buy(session, shop, "confirm")
    browser = await merchant_browser(client, session, shop.merchant_id, Role.staff)
    listing = await browser.get("/merchant/orders", status="paid")
    assert str(paid) in listing.text and str(confirmed) not in listing.text
    csv = await browser.get("/merchant/orders", status="confirmed", format="csv")
    assert csv.headers["content-type"].startswith("text/csv") and len(csv.text.splitlines()) == 2

    page = await browser.get(f"/merchant/orders/{paid}")
    assert ">Accept<" in page.text and "Cancel order" in page.text and ">Shipped<" not in page.text
    r = await browser.post(f"/merchant/orders/{paid}/advance", {"action": "confirm"})
    assert r.status_code == 303
    r = await browser.post(f"/merchant/orders/{paid}/advance", {"action": "ship"})
    assert r.status_code == 409  # a pickup order is not shipped; nothing changes
    r = await browser.post(f"/merchant/orders/{paid}/advance", {"action": "ready"})
    assert r.status_code == 303
    status = await session.scalar(text("SELECT status FROM orders WHERE id = :o"), {"o": paid})
    assert status == "ready"
    entries = await audit_entries(connection, paid)
    assert [(e["action"], e["actor_id"]) for e in entries] == [
        ("order.confirm", browser.subject_id), ("order.ready", browser.subject_id)]
    assert (await browser.post(f"/merchant/orders/{paid}/advance",
                               {"action": "teleport"})).status_code == 422


async def test_a_staff_member_cannot_manage_users(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection) -> None:
    merchant_id, _ = await live_merchant(session)
    staff = await merchant_browser(client, session, merchant_id, Role.staff)
    users = "SELECT count(*) FROM merchant_users WHERE merchant_id = :m"
    before = await count(connection, users, m=merchant_id)

    assert (await staff.get("/merchant/users")).status_code == 403
    r = await staff.post("/merchant/users", {"email": "new@example.com", "name": "New",
                                             "role": "owner", "password": "a long passphrase 1"})
    assert r.status_code == 403
    r = await staff.post(f"/merchant/users/{staff.subject_id}", {"role": "owner"})
    assert r.status_code == 403
    assert await count(connection, users, m=merchant_id) == before
    roles = await count(connection, "SELECT count(*) FROM merchant_users WHERE id = :u AND"
                        " role = 'staff'", u=staff.subject_id)
    assert roles == 1
    assert await count(connection, "SELECT count(*) FROM audit_log WHERE actor_id = :a AND"
                       " action = 'denied:merchant.users.manage'", a=staff.subject_id) == 3


async def test_an_owner_adds_a_user_and_changes_roles(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection) -> None:
    merchant_id, _ = await live_merchant(session)
    owner = await merchant_browser(client, session, merchant_id, Role.owner)
    r = await owner.post("/merchant/users", {"email": "Cashier@Example.com", "name": "Cashier",
                                             "role": "staff",
                                             "password": "correct horse battery staple"})
    assert r.status_code == 303
    page = await owner.get("/merchant/users")
    assert "cashier@example.com" in page.text.lower()
    added = (await connection.execute(text(
        "SELECT id, role FROM merchant_users WHERE lower(email) = 'cashier@example.com'"))).one()
    assert added.role == "staff"
    r = await owner.post(f"/merchant/users/{added.id}", {"role": "manager", "status": "active"})
    assert r.status_code == 303
    assert await count(connection, "SELECT count(*) FROM merchant_users WHERE id = :u AND"
                       " role = 'manager'", u=added.id) == 1
    # The last owner stays an owner.
    r = await owner.post(f"/merchant/users/{owner.subject_id}", {"role": "staff"})
    assert r.status_code == 409
    assert [e["action"] for e in await audit_entries(connection, added.id)] == [
        "merchant_user.create", "merchant_user.update"]
    other = await new_merchant(session, "Another Cafe")
    theirs = await merchants.create_merchant_user(session, other.id, MerchantUserIn(
        email="theirs@example.com", name="Theirs", role=Role.owner, password=PASSWORD), None)
    r = await owner.post(f"/merchant/users/{theirs.id}", {"status": "disabled"})
    assert r.status_code == 404
    assert await count(connection, "SELECT count(*) FROM merchant_users WHERE id = :u AND"
                       " status = 'active'", u=theirs.id) == 1


async def test_outlets_are_created_and_edited_with_their_hours(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection) -> None:
    merchant_id, _ = await live_merchant(session, outlets=0)
    browser = await merchant_browser(client, session, merchant_id, Role.manager)
    r = await browser.post("/merchant/outlets", outlet_form())
    outlet_id = created_id(r, "outlets")
    row = (await connection.execute(text(
        "SELECT merchant_id, name, city, hours, features, active FROM merchant_outlets"
        " WHERE id = :o"), {"o": outlet_id})).one()
    assert (row.merchant_id, row.name, row.city, row.active) == (
        merchant_id, "Indiranagar", "Bengaluru", True)
    assert row.hours["mon"] == [{"open": "09:00", "close": "14:00"},
                                {"open": "17:00", "close": "23:00"}]
    assert row.hours["sun"] == [{"open": "10:00", "close": "24:00"}] and "tue" not in row.hours
    assert sorted(row.features) == ["parking", "wifi"]

    page = await browser.get(f"/merchant/outlets/{outlet_id}")
    assert 'value="17:00"' in page.text and "Indiranagar" in page.text
    edit = outlet_form(name="Indiranagar 2", active="", mon_open_2="", mon_close_2="",
                       **{f"{d}_open_1": "08:00" for d in ("tue", "wed")},
                       **{f"{d}_close_1": "20:00" for d in ("tue", "wed")})
    r = await browser.post(f"/merchant/outlets/{outlet_id}", edit)
    assert r.status_code == 303
    row = (await connection.execute(text(
        "SELECT name, hours, active FROM merchant_outlets WHERE id = :o"), {"o": outlet_id})).one()
    assert (row.name, row.active) == ("Indiranagar 2", False)
    assert row.hours["mon"] == [{"open": "09:00", "close": "14:00"}]
    assert row.hours["tue"] == row.hours["wed"] == [{"open": "08:00", "close": "20:00"}]
    assert [e["action"] for e in await audit_entries(connection, outlet_id)] == [
        "outlet.create", "outlet.update"]
    listing = await browser.get("/merchant/outlets")
    assert "Indiranagar 2" in listing.text

    r = await browser.post(f"/merchant/outlets/{outlet_id}", outlet_form(mon_close_1="",
                                                                         latitude="north"))
    assert r.status_code == 422
    name = await session.scalar(text("SELECT name FROM merchant_outlets WHERE id = :o"),
                                {"o": outlet_id})
    assert name == "Indiranagar 2"
    their_outlet = (await live_merchant(session))[1][0]
    assert (await browser.get(f"/merchant/outlets/{their_outlet}")).status_code == 404
    r = await browser.post(f"/merchant/outlets/{their_outlet}", outlet_form(name="Mine now"))
    assert r.status_code == 404


async def test_products_are_added_and_their_stock_set(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection) -> None:
    shop = await make_shop(session)
    browser = await merchant_browser(client, session, shop.merchant_id, Role.manager)
    r = await browser.post("/merchant/products", {"sku": "IDLI", "name": "Idli", "price": "4000",
                                                  "stock": "12", "tags": "breakfast"})
    product_id = created_id(r, "products")
    page = await browser.get(f"/merchant/products/{product_id}")
    assert "₹40.00" in page.text and ">12<" in page.text
    r = await browser.post(f"/merchant/products/{product_id}/stock", {"on_hand": "30"})
    assert r.status_code == 303
    on_hand = await session.scalar(text("SELECT on_hand FROM inventory WHERE product_id = :p"),
                                   {"p": product_id})
    assert on_hand == 30
    r = await browser.post(f"/merchant/products/{product_id}", {
        "name": "Idli (2)", "price": "4500", "status": "inactive", "tags": ""})
    assert r.status_code == 303
    row = (await connection.execute(text(
        "SELECT name, price, status FROM products WHERE id = :p"), {"p": product_id})).one()
    assert tuple(row) == ("Idli (2)", 4500, "inactive")
    listing = await browser.get("/merchant/products", status="inactive")
    assert "IDLI" in listing.text and "DOSA" not in listing.text
    r = await browser.post(f"/merchant/products/{product_id}/stock", {"on_hand": "-1"})
    assert r.status_code == 422
    their = await make_shop(session)
    assert (await browser.get(f"/merchant/products/{their.dosa}")).status_code == 404
    r = await browser.post(f"/merchant/products/{their.dosa}/stock", {"on_hand": "0"})
    assert r.status_code == 404
    assert await session.scalar(text("SELECT on_hand FROM inventory WHERE product_id = :p"),
                                {"p": their.dosa}) == 10


async def test_a_settlement_and_its_statement_download(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    shop = await make_shop(session)
    await buy(session, shop, "confirm", "ready", "complete")
    today = clock.now().date()
    settled, _ = await settlements.run_settlement(session, settings, shop.merchant_id, today,
                                                  today, PLATFORM)
    other = await make_shop(session)
    theirs, _ = await settlements.run_settlement(session, settings, other.merchant_id, today,
                                                 today, PLATFORM)
    browser = await merchant_browser(client, session, shop.merchant_id, Role.staff)

    listing = await browser.get("/merchant/settlements")
    assert settled.code in listing.text and theirs.code not in listing.text
    page = await browser.get(f"/merchant/settlements/{settled.id}")
    assert page.status_code == 200 and "Download statement" in page.text
    r = await browser.get(f"/merchant/settlements/{settled.id}/statement.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert f'filename="{settled.code}.csv"' in r.headers["content-disposition"]
    assert r.text == settlements.statement_csv(settled)
    assert r.text.splitlines()[0].startswith("line,kind,amount,currency")
    for path in (f"/merchant/settlements/{theirs.id}",
                 f"/merchant/settlements/{theirs.id}/statement.csv"):
        assert (await browser.get(path)).status_code == 404


async def test_reviews_get_a_response(client: httpx.AsyncClient, session: AsyncSession,
                                      connection: AsyncConnection) -> None:
    merchant_id, _ = await live_merchant(session)
    review_id = uuid.uuid4()
    await session.execute(text(
        "INSERT INTO merchant_reviews (id, merchant_id, user_id, order_id, rating, comment)"
        " VALUES (:id, :m, :u, 'ORD-1', 2, 'Cold dosa')"),
        {"id": review_id, "m": merchant_id, "u": uuid.uuid4()})
    staff = await merchant_browser(client, session, merchant_id, Role.staff)
    page = await staff.get("/merchant/reviews", answered="no")
    assert "Cold dosa" in page.text and "Publish response" in page.text
    r = await staff.post(f"/merchant/reviews/{review_id}/response",
                         {"response": "Sorry, next one is on us."})
    assert r.status_code == 303
    assert "Cold dosa" not in (await staff.get("/merchant/reviews", answered="no")).text
    assert "next one is on us" in (await staff.get("/merchant/reviews", answered="yes")).text
    assert [e["action"] for e in await audit_entries(connection, review_id)] == [
        "review.respond"]
    assert (await staff.post(f"/merchant/reviews/{review_id}/response",
                             {"response": ""})).status_code == 422


@pytest.mark.parametrize("path,fields", [
    ("/merchant/offers", offer_form()),
    ("/merchant/outlets", outlet_form()),
    ("/merchant/users", {"email": "x@example.com", "name": "X", "role": "owner",
                         "password": "correct horse battery staple"}),
])
async def test_a_post_without_its_csrf_token_is_refused(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        path: str, fields: dict[str, Any]) -> None:
    merchant_id, _ = await live_merchant(session, outlets=0)
    browser: Browser = await merchant_browser(client, session, merchant_id)
    tables = ("offers", "merchant_outlets", "merchant_users")
    before = [await count(connection, f"SELECT count(*) FROM {t}") for t in tables]
    assert (await browser.post(path, fields, csrf=False)).status_code == 403
    assert (await browser.post(path, {**fields, "csrf": "forged"}, csrf=False)).status_code == 403
    assert [await count(connection, f"SELECT count(*) FROM {t}") for t in tables] == before


async def test_the_overview_submits_documents_for_review(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    merchant = await new_merchant(session, "Pending Cafe")
    browser = await merchant_browser(client, session, merchant.id)
    page = await browser.get("/merchant")
    assert "Pending Cafe" in page.text and "Submit for review" in page.text
    r = await browser.post("/merchant/submit")
    assert r.status_code == 409  # no document yet
    r = await browser.post("/merchant/documents", {
        "document_type": "shop_license", "file_url": "https://files.example/licence.pdf"})
    assert r.status_code == 303
    r = await browser.post("/merchant/submit")
    assert r.status_code == 303
    status = await session.scalar(text("SELECT status FROM merchants WHERE id = :m"),
                                  {"m": merchant.id})
    assert status == "documents_submitted"
    assert "Submit for review" not in (await browser.get("/merchant")).text
