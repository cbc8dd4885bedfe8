"""The console's people pages through HTTP: the users list, the global search (each kind only
for an admin who may read it), admins, roles, departments and the audit log."""

from __future__ import annotations

import csv
import io
import re
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.access import service as access
from gullak.identity import service as identity
from gullak.access.schemas import AdminUpdateIn
from gullak.identity.schemas import ProfileIn, PushDeviceIn
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.orders import flows
from gullak.orders.pricing import Policy
from gullak.orders.schemas import ItemIn, OrderIn
from gullak.settings import Settings
from tests.helpers import admins
from tests.helpers.admins import serial
from tests.helpers.console import admin_browser, admin_signed_in, super_browser
from tests.helpers.offers import live_merchant
from tests.helpers.state import audit_rows, changed, fingerprint
from tests.helpers.users import SignedIn, sign_in
from tests.orders.support import fund, make_shop


async def _user(client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
                name: str | None = None) -> tuple[SignedIn, str]:
    """A user signed up through the app, with a name and an email of its own."""
    signed = await sign_in(client, connection)
    email = f"person{serial()}@example.com"
    await identity.update_profile(session, uuid.UUID(signed.user["id"]),
                                  ProfileIn(email=email, name=name or f"Person {serial()}"))
    return signed, email


# -- users list -----------------------------------------------------------------------------

async def test_the_users_list_filters_sorts_and_downloads(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    alice, alice_email = await _user(client, connection, session, "Alice Quartz")
    bob, _ = await _user(client, connection, session, "Bob Quartz")
    await identity.set_status(session, uuid.UUID(bob.user["id"]), "suspended", "chargebacks")
    browser = await admin_browser(client, session, settings, "users.read")

    r = await browser.get("/console/users", q="quartz")
    assert r.status_code == 200, r.text
    assert "Alice Quartz" in r.text and "Bob Quartz" in r.text
    assert f'/console/users/{alice.user["id"]}' in r.text
    r = await browser.get("/console/users", q="quartz", status="suspended")
    assert "Bob Quartz" in r.text and "Alice Quartz" not in r.text
    r = await browser.get("/console/users", q=alice.phone[-8:])
    assert "Alice Quartz" in r.text and "Bob Quartz" not in r.text

    oldest_first = await browser.get("/console/users", q="quartz", sort="created")
    assert oldest_first.text.index("Alice Quartz") < oldest_first.text.index("Bob Quartz")
    newest_first = await browser.get("/console/users", q="quartz", sort="-created")
    assert newest_first.text.index("Bob Quartz") < newest_first.text.index("Alice Quartz")

    r = await browser.get("/console/users", q="quartz", format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["Email"] for row in rows} >= {alice_email}
    assert {row["Name"] for row in rows} == {"Alice Quartz", "Bob Quartz"}

    assert (await browser.get("/console/users", status="vanished")).status_code == 422
    assert (await browser.get("/console/users", sort="phone")).status_code == 422
    assert (await browser.get("/console/users", cursor="not-a-cursor")).status_code == 422


async def test_the_users_list_needs_users_read(client: httpx.AsyncClient, session: AsyncSession,
                                               settings: Settings,
                                               connection: AsyncConnection) -> None:
    browser = await admin_browser(client, session, settings, "orders.read")
    r = await browser.get("/console/users")
    assert r.status_code == 403
    denied = await audit_rows(connection, actor_id=browser.subject_id,
                              action="denied:users.read")
    assert len(denied) == 1


# -- search ---------------------------------------------------------------------------------

async def _order_of(session: AsyncSession, user_id: uuid.UUID) -> tuple[uuid.UUID, str]:
    shop = await make_shop(session)
    await fund(session, user_id, "INR", 100_000)
    out, _ = await flows.place_order(session, Subject("user", user_id), OrderIn(
        merchant_id=shop.merchant_id, outlet_id=shop.outlet_id,
        items=[ItemIn(product_id=shop.tea, quantity=1)]), Policy())
    return out.id, out.number


async def test_search_finds_users_orders_merchants_and_transfers(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    someone, email = await _user(client, connection, session, "Searchable Person")
    user_id = uuid.UUID(someone.user["id"])
    order_id, number = await _order_of(session, user_id)
    merchant_name = f"Zephyr Kitchen {serial()}"
    merchant_id, _ = await live_merchant(session, merchant_name)
    transfer = await _transfer(session, user_id)
    browser = await super_browser(client, session, settings)

    local = someone.phone.removeprefix("+91")  # as an agent would type it
    for q in (someone.phone, local, email.upper()):
        r = await browser.get("/console/search", q=q)
        assert r.status_code == 200, r.text
        assert f"/console/users/{user_id}" in r.text and "Searchable Person" in r.text

    r = await browser.get("/console/search", q=number.lower())
    assert f"/console/orders/{order_id}" in r.text and number in r.text
    r = await browser.get("/console/search", q=merchant_name.lower())
    assert f"/console/merchants/{merchant_id}" in r.text and merchant_name in r.text
    r = await browser.get("/console/search", q=str(transfer))
    assert f"/console/ledger/transfers/{transfer}" in r.text

    r = await browser.get("/console/search", q="nothing-like-this")
    assert r.status_code == 200 and "Searchable Person" not in r.text
    assert "No users match" in r.text
    assert (await browser.get("/console/search")).status_code == 200


async def _transfer(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID:
    issuance = await ledger.platform_account(session, "INR", "issuance")
    wallet = await ledger.user_account(session, user_id, "INR")
    out = await ledger.transfer(session, TransferIn(
        debit_account_id=issuance.id, credit_account_id=wallet.id, asset_code="INR",
        amount=1, kind="earn", reference_type="test", reference_id="search"))
    return out.id


async def test_search_hides_what_the_admin_may_not_read(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    someone, _ = await _user(client, connection, session, "Hidden Person")
    user_id = uuid.UUID(someone.user["id"])
    order_id, number = await _order_of(session, user_id)
    support = await admin_browser(client, session, settings, "users.read")
    r = await support.get("/console/search", q=number)
    assert r.status_code == 200
    assert "<h2>Users</h2>" in r.text and "<h2>Orders</h2>" not in r.text
    assert str(order_id) not in r.text and "Transfers" not in r.text

    await support.post("/console/logout")
    finance = await admin_browser(client, session, settings, "orders.read")
    r = await finance.get("/console/search", q=someone.phone)
    assert "<h2>Orders</h2>" in r.text and "<h2>Users</h2>" not in r.text
    assert "Hidden Person" not in r.text and str(user_id) not in r.text
    r = await finance.get("/console/search", q=number)
    assert f"/console/orders/{order_id}" in r.text


# -- admins ---------------------------------------------------------------------------------

SECRET = re.compile(r"<dt>Authenticator secret</dt><dd>([A-Z2-7]+)</dd>")


async def test_an_admin_is_created_with_secrets_shown_once(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    await admins.put_role(session, "console_support", ["users.read"])
    browser = await admin_browser(client, session, settings, "admins.manage", "users.read")
    email = f"new{serial()}@example.com"
    r = await browser.post("/console/admins", {
        "email": email, "name": "Nandini Rao", "city": "Pune",
        "role:console_support": "on", "dept:Support": "on", "new_departments": "Escalations"})
    assert r.status_code == 200, r.text
    assert "Shown once" in r.text and "otpauth://totp/" in r.text
    secret = SECRET.search(r.text)
    assert secret, r.text
    password = re.search(r"<dt>Password</dt><dd>([^<]+)</dd>", r.text)
    assert password

    found = [a for a in await access.list_admins(session) if a.email == email]
    assert len(found) == 1
    created = found[0]
    assert created.roles == ["console_support"]
    assert created.departments == ["Escalations", "Support"]
    rows = await audit_rows(connection, action="admin.create", entity_id=str(created.id))
    assert rows and rows[0]["actor_id"] == browser.subject_id
    assert password.group(1) not in str(rows[0]["after"])

    # The new admin signs in with what the page showed.
    await browser.post("/console/logout")
    newcomer = admins.Admin(created.id, email, password.group(1),
                            secret.group(1))
    signed = await admin_signed_in(client, newcomer)
    assert (await signed.get("/console/users")).status_code == 200


async def test_creating_an_admin_needs_admins_manage(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    browser = await admin_browser(client, session, settings, "users.manage")
    before = await fingerprint(connection, exclude=("audit_log",))
    r = await browser.post("/console/admins", {"email": "nope@example.com", "name": "Nope"})
    assert r.status_code == 403
    assert changed(before, await fingerprint(connection, exclude=("audit_log",))) == []
    assert (await browser.get("/console/admins")).status_code == 403


async def test_an_admin_is_edited_and_audited(client: httpx.AsyncClient, session: AsyncSession,
                                              settings: Settings,
                                              connection: AsyncConnection) -> None:
    await admins.put_role(session, "console_a", ["users.read"])
    await admins.put_role(session, "console_b", ["orders.read"])
    other = await admins.make_admin(session, settings, ["console_a"])
    browser = await super_browser(client, session, settings)
    r = await browser.get(f"/console/admins/{other.id}")
    assert r.status_code == 200 and other.email in r.text
    before = await fingerprint(connection, exclude=("audit_log",))
    r = await browser.post(f"/console/admins/{other.id}", {
        "name": "Half Written", "status": "disabled", "role:no_such_role": "on"})
    assert r.status_code == 404
    assert changed(before, await fingerprint(connection, exclude=("audit_log",))) == []
    r = await browser.post(f"/console/admins/{other.id}", {
        "name": "Renamed Admin", "status": "disabled", "role:console_b": "on",
        "new_departments": "Finance"})
    assert r.status_code == 303, r.text
    after = await access.get_admin(session, other.id)
    assert (after.name, after.status, after.roles, after.departments) == (
        "Renamed Admin", "disabled", ["console_b"], ["Finance"])
    rows = await audit_rows(connection, action="admin.update", entity_id=str(other.id))
    assert rows[0]["before"]["roles"] == ["console_a"]
    assert rows[0]["after"]["roles"] == ["console_b"]
    listing = await browser.get("/console/admins")
    assert "Renamed Admin" in listing.text


# -- roles ----------------------------------------------------------------------------------

async def test_a_role_is_created_and_its_permissions_edited(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    browser = await super_browser(client, session, settings)
    name = f"auditors_{serial()}"
    r = await browser.post("/console/roles", {"name": name, "description": "Read the log",
                                              "perm:audit.read": "on"})
    assert r.status_code == 303, r.text
    assert (await access.get_role(session, name)).permissions == ["audit.read"]
    page = await browser.get(f"/console/roles/{name}")
    assert page.status_code == 200 and 'name="perm:audit.read" checked' in page.text

    r = await browser.post(f"/console/roles/{name}", {"perm:users.read": "on",
                                                      "perm:orders.read": "on"})
    assert r.status_code == 303
    assert (await access.get_role(session, name)).permissions == ["orders.read", "users.read"]
    rows = await audit_rows(connection, action="role.put", entity_id=name)
    assert [r["before"] and r["before"]["permissions"] for r in rows] == [None, ["audit.read"]]
    assert rows[-1]["after"]["permissions"] == ["orders.read", "users.read"]

    # A second role of the same name is refused, not merged.
    r = await browser.post("/console/roles", {"name": name, "perm:audit.read": "on"})
    assert r.status_code == 409
    assert (await access.get_role(session, name)).permissions == ["orders.read", "users.read"]
    r = await browser.post(f"/console/roles/{name}", {"perm:no.such": "on"})
    assert r.status_code == 422


async def test_a_role_grants_only_what_its_editor_holds(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    browser = await admin_browser(client, session, settings, "roles.manage", "users.read")
    name = f"sneaky_{serial()}"
    r = await browser.post("/console/roles", {"name": name, "perm:wallet.adjust": "on"})
    assert r.status_code == 403
    assert name not in {r.name for r in await access.list_roles(session)}
    r = await browser.post("/console/roles/super_admin", {"perm:users.read": "on"})
    assert r.status_code == 403
    assert (await browser.get("/console/roles/super_admin")).status_code == 200
    await browser.post("/console/logout")
    plain = await admin_browser(client, session, settings, "users.read")
    assert (await plain.get("/console/roles")).status_code == 403


# -- departments ----------------------------------------------------------------------------

async def test_departments_are_listed_with_members_and_created(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    browser = await admin_browser(client, session, settings, "admins.manage")
    name = f"Logistics {serial()}"
    r = await browser.post("/console/departments", {"name": name})
    assert r.status_code == 303, r.text
    member = await admins.make_admin(session, settings, name="Dept Member")
    await access.update_admin(session, member.id, AdminUpdateIn(departments=[name]))
    page = await browser.get("/console/departments")
    assert page.status_code == 200 and name in page.text
    assert f"/console/admins/{member.id}" in page.text
    assert (await browser.post("/console/departments", {"name": name})).status_code == 409
    assert (await browser.post("/console/departments", {"name": ""})).status_code == 422
    found = [d for d in await access.list_departments(session) if d.name == name]
    assert len(found) == 1 and [m[0] for m in found[0].members] == [member.id]
    assert await audit_rows(connection, action="department.create", entity_id=str(found[0].id))


# -- audit log ------------------------------------------------------------------------------

async def test_the_audit_log_filters_and_downloads(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    someone, _ = await _user(client, connection, session)
    user_id = someone.user["id"]
    browser = await admin_browser(client, session, settings, "audit.read", "users.manage",
                                  "users.read")
    r = await browser.post(f"/console/users/{user_id}/status",
                           {"status": "suspended", "reason": "audit filter test"})
    assert r.status_code == 303, r.text
    await browser.get("/console/admins")  # refused, and audited as denied

    r = await browser.get("/console/audit", entity_type="user", entity_id=user_id)
    assert r.status_code == 200 and "<td>user.status</td>" in r.text
    assert "denied:admins.manage" not in r.text
    r = await browser.get("/console/audit", actor_id=str(browser.subject_id), outcome="denied")
    assert "<td>denied:admins.manage</td>" in r.text and "<td>user.status</td>" not in r.text
    r = await browser.get("/console/audit", action="user.status", actor_type="admin",
                          since="2000-01-01", until="2999-12-31")
    assert user_id in r.text
    r = await browser.get("/console/audit", action="user.status", until="2000-01-01")
    assert user_id not in r.text

    r = await browser.get("/console/audit", entity_id=user_id, format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["Action"] for row in rows] == ["user.status"]
    assert '"status_reason": "audit filter test"' in rows[0]["After"]

    entry = (await audit_rows(connection, action="user.status", entity_id=user_id))[0]
    detail = await browser.get(f"/console/audit/{entry['id']}")
    assert detail.status_code == 200 and "audit filter test" in detail.text
    assert (await browser.get(f"/console/audit/{uuid.uuid4()}")).status_code == 404


@pytest.mark.parametrize("params", [{"since": "yesterday"}, {"actor_type": "robot"},
                                    {"actor_id": "42"}, {"outcome": "maybe"},
                                    {"sort": "action"}])
async def test_bad_audit_filters_are_refused(client: httpx.AsyncClient, session: AsyncSession,
                                             settings: Settings, params: dict[str, str]) -> None:
    browser = await admin_browser(client, session, settings, "audit.read")
    assert (await browser.get("/console/audit", **params)).status_code == 422


# -- every page -----------------------------------------------------------------------------

async def test_every_people_page_answers_an_admin_with_every_permission(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    someone, _ = await _user(client, connection, session)
    await identity.put_device(session, uuid.UUID(someone.user["id"]), "pixel-1",
                              PushDeviceIn(platform="android", name="Pixel", push_token="tok"))
    browser = await super_browser(client, session, settings)
    pages = ["/console/users", "/console/search?q=x", "/console/admins", "/console/roles",
             "/console/departments", "/console/audit", f"/console/admins/{browser.subject_id}",
             "/console/roles/super_admin"]
    for url in pages:
        r = await client.get(url)
        assert r.status_code == 200, (url, r.text)
        assert " style=" not in r.text and "<script>" not in r.text
    found = await connection.scalar(text("SELECT count(*) FROM audit_log WHERE outcome <> 'ok'"
                                         " AND actor_id = :a"), {"a": browser.subject_id})
    assert found == 0
