"""The merchant portal: merchant users sign in, manage their own merchant only (another
merchant's anything is not found, and the attempt changes nothing), within their role."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import clock
from gullak.merchants import reviews, service
from gullak.merchants.schemas import (
    BankAccountIn,
    CommissionIn,
    DocumentIn,
    MerchantUserIn,
    Role,
    Status,
    UserReviewIn,
)
from gullak.settings import Settings
from tests.helpers.merchants import (
    PASSWORD,
    Actor,
    audit_entries,
    daily,
    live_merchant,
    new_merchant,
    outlet_in,
    staff_of,
)
from tests.helpers.problems import assert_problem
from tests.helpers.state import fingerprint

PORTAL = "/v1/merchant"


def outlet_body(**fields: Any) -> dict[str, Any]:
    return outlet_in(**fields).model_dump()


async def test_login_me_and_logout(client: httpx.AsyncClient, connection: AsyncConnection,
                                   session: AsyncSession) -> None:
    merchant = await new_merchant(session)
    owner = await staff_of(client, session, merchant.id, Role.owner)
    r = await client.get(f"{PORTAL}/me", headers=owner.headers)
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["merchant"]["id"] == str(merchant.id) and me["user"]["role"] == "owner"
    assert f"merchant:{merchant.id}" in me["permissions"]
    assert "merchant.users.manage" in me["permissions"]
    assert me["user"]["last_login_at"] is not None
    assert (await client.post("/v1/auth/logout", headers=owner.headers)).status_code == 204
    assert_problem(await client.get(f"{PORTAL}/me", headers=owner.headers), 401,
                   "invalid_credentials")


async def test_wrong_passwords_are_refused_alike_and_counted(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession) -> None:
    merchant = await new_merchant(session)
    owner = await staff_of(client, session, merchant.id)
    email = (await service.get_merchant_user(session, owner.id)).email
    for body in ({"email": email, "password": "wrong password!"},
                 {"email": "nobody@example.com", "password": PASSWORD}):
        assert_problem(await client.post(f"{PORTAL}/auth/login", json=body), 401,
                       "invalid_credentials")
    failures = (await connection.execute(text(
        "SELECT key, sum(hits) FROM rate_limits WHERE key LIKE 'sign-in:merchant_user:%'"
        " GROUP BY key"))).all()
    # Each refusal counts under its login and address, both under the address; the good
    # sign-in of staff_of is no failure.
    assert sorted(int(n) for _, n in failures) == [1, 1, 2]
    for _ in range(8):
        await client.post(f"{PORTAL}/auth/login", json={"email": email, "password": "nope"})
    assert_problem(await client.post(f"{PORTAL}/auth/login",
                                     json={"email": email, "password": PASSWORD}),
                   429, "rate_limited")


async def test_an_admin_token_is_not_a_merchant_user(client: httpx.AsyncClient,
                                                     admin: Actor) -> None:
    assert_problem(await client.get(f"{PORTAL}/outlets", headers=admin.headers), 403,
                   "forbidden")


async def test_outlets_of_ones_own_merchant(client: httpx.AsyncClient,
                                            connection: AsyncConnection,
                                            session: AsyncSession) -> None:
    merchant = await new_merchant(session)
    manager = await staff_of(client, session, merchant.id, Role.manager)
    r = await client.post(f"{PORTAL}/outlets", json=outlet_body(city=" navi  mumbai "),
                          headers=manager.headers)
    assert r.status_code == 201, r.text
    outlet = r.json()
    assert outlet["merchant_id"] == str(merchant.id) and outlet["city"] == "Navi Mumbai"
    r = await client.put(f"{PORTAL}/outlets/{outlet['id']}",
                         json=outlet_body(name="Bandra West", features=["WiFi", "wifi"]),
                         headers=manager.headers)
    assert (r.json()["name"], r.json()["features"]) == ("Bandra West", ["wifi"])
    listed = (await client.get(f"{PORTAL}/outlets", headers=manager.headers)).json()
    assert [o["id"] for o in listed] == [outlet["id"]]
    [create, update] = await audit_entries(connection, outlet["id"])
    assert (create["action"], create["actor_type"]) == ("outlet.create", "merchant_user")
    assert (update["before"]["name"], update["after"]["name"]) == ("Bandra", "Bandra West")


INVALID_OUTLETS = [
    ({"latitude": 91.0}, "invalid_coordinates", "latitude"),
    ({"longitude": -180.5}, "invalid_coordinates", "longitude"),
    ({"timezone": "Asia/Bombay2"}, "invalid_timezone", "timezone"),
    ({"hours": {"mon": [{"open": "10:00", "close": "10:00"}]}}, "invalid_hours", "hours"),
    ({"hours": {"mon": [{"open": "25:00", "close": "10:00"}]}}, "invalid_hours", "hours"),
    ({"hours": {"funday": [{"open": "09:00", "close": "10:00"}]}}, "invalid_hours", "hours"),
    ({"hours": {"mon": [{"open": "09:00", "close": "14:00"},
                        {"open": "12:00", "close": "18:00"}]}}, "invalid_hours", "hours"),
]


async def test_invalid_outlets_are_refused_and_change_nothing(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession) -> None:
    merchant = await new_merchant(session)
    manager = await staff_of(client, session, merchant.id, Role.manager)
    existing = await service.add_outlet(session, merchant.id, outlet_in(), None)
    before = await fingerprint(connection)
    for fields, code, field in INVALID_OUTLETS:
        body = outlet_body() | fields
        assert_problem(await client.post(f"{PORTAL}/outlets", json=body,
                                         headers=manager.headers), 422, code, field)
        assert_problem(await client.put(f"{PORTAL}/outlets/{existing.id}", json=body,
                                        headers=manager.headers), 422, code, field)
    assert await fingerprint(connection) == before


async def test_another_merchants_anything_is_not_found_and_unchanged(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        settings: Settings) -> None:
    mine = await live_merchant(session, "Mine")
    theirs = await live_merchant(session, "Theirs")
    owner = await staff_of(client, session, mine.id, Role.owner)
    their_outlet = await service.add_outlet(session, theirs.id, outlet_in(), None)
    their_user = await service.create_merchant_user(session, theirs.id, MerchantUserIn(
        email="their.staff@example.com", name="Them", role=Role.staff, password=PASSWORD), None)
    their_document = await service.add_document(session, theirs.id, DocumentIn(
        document_type="other", file_url="https://files.example/x.pdf"), None)
    their_account = await service.add_bank_account(session, settings, theirs.id, BankAccountIn(
        account_holder="Them", account_number="123456789012", ifsc="HDFC0001234"), None)
    their_commission = await service.add_commission(session, theirs.id, CommissionIn(
        rate_bps=500, valid_from="2026-01-01T00:00:00Z"), None)
    their_review = await reviews.create_review(session, uuid.uuid4(), theirs.id,
                                               UserReviewIn(order_id="o-1", rating=2))
    h = owner.headers
    before = await fingerprint(connection)
    attempts = [
        ("PUT", f"{PORTAL}/outlets/{their_outlet.id}", outlet_body(), "outlet_not_found"),
        ("PATCH", f"{PORTAL}/users/{their_user.id}", {"status": "disabled"},
         "merchant_user_not_found"),
        ("PUT", f"{PORTAL}/reviews/{their_review.id}/response", {"response": "Sorry!"},
         "review_not_found"),
    ]
    for method, path, body, code in attempts:
        assert_problem(await client.request(method, path, json=body, headers=h), 404, code)
    assert await fingerprint(connection) == before
    # Nothing of theirs shows in any of my lists.
    for path in ("outlets", "users", "documents", "bank-accounts", "commissions", "reviews"):
        r = await client.get(f"{PORTAL}/{path}", headers=h)
        assert r.status_code == 200, (path, r.text)
        ids = {item["id"] for item in r.json()}
        assert not ids & {str(their_outlet.id), str(their_user.id), str(their_document.id),
                          str(their_account.id), str(their_commission.id),
                          str(their_review.id)}, path


async def test_roles_limit_what_merchant_users_do(client: httpx.AsyncClient,
                                                  connection: AsyncConnection,
                                                  session: AsyncSession) -> None:
    merchant = await new_merchant(session)
    staff = await staff_of(client, session, merchant.id, Role.staff)
    before = await fingerprint(connection, exclude=("audit_log",))
    for call in (client.post(f"{PORTAL}/outlets", json=outlet_body(), headers=staff.headers),
                 client.get(f"{PORTAL}/users", headers=staff.headers),
                 client.get(f"{PORTAL}/bank-accounts", headers=staff.headers),
                 client.patch(f"{PORTAL}/profile", json={"description": "x"},
                              headers=staff.headers)):
        assert_problem(await call, 403, "forbidden")
    assert await fingerprint(connection, exclude=("audit_log",)) == before
    assert (await client.get(f"{PORTAL}/outlets", headers=staff.headers)).status_code == 200


async def test_a_suspended_merchants_staff_read_and_fulfil_but_change_nothing_else(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession) -> None:
    """Suspended for fraud, a merchant must not go on refunding, adding owners or moving its
    settlements to another bank account until the back office lifts the suspension."""
    merchant = await live_merchant(session, "Suspect Shop")
    owner = await staff_of(client, session, merchant.id)
    await service.set_status(session, merchant.id, Status.suspended, "fraud check", None)
    before = await fingerprint(connection, exclude=("audit_log",))
    for call in (client.post(f"{PORTAL}/outlets", json=outlet_body(), headers=owner.headers),
                 client.post(f"{PORTAL}/users", headers=owner.headers, json={
                     "email": f"accomplice{uuid.uuid4().hex[:6]}@example.com", "name": "A",
                     "password": PASSWORD, "role": "owner"}),
                 client.post(f"{PORTAL}/bank-accounts", headers=owner.headers, json={
                     "account_holder": "Someone Else", "account_number": "50100999999999",
                     "ifsc": "HDFC0001234"}),
                 client.patch(f"{PORTAL}/profile", json={"description": "x"},
                              headers=owner.headers),
                 client.post(f"{PORTAL}/orders/{uuid.uuid4()}/refunds", headers=owner.headers,
                             json={"amount": 100, "reason": "x"}),
                 client.post(f"{PORTAL}/offers", headers=owner.headers, json={
                     "type": "discount_percent", "title": "t", "discount_kind": "percent",
                     "discount_value": 5, "valid_from": "2030-01-01T00:00:00Z",
                     "valid_until": "2030-02-01T00:00:00Z"})):
        assert_problem(await call, 403, "forbidden")
    assert await fingerprint(connection, exclude=("audit_log",)) == before
    assert (await client.get(f"{PORTAL}/me", headers=owner.headers)).status_code == 200
    assert (await client.get(f"{PORTAL}/outlets", headers=owner.headers)).status_code == 200
    assert (await client.get(f"{PORTAL}/orders", headers=owner.headers)).status_code == 200
    # Live again, the owner acts again.
    await service.set_status(session, merchant.id, Status.live, "cleared", None)
    r = await client.post(f"{PORTAL}/outlets", json=outlet_body(), headers=owner.headers)
    assert r.status_code == 201, r.text


async def test_profile_edits_are_limited_to_the_public_face(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession) -> None:
    merchant = await new_merchant(session)
    manager = await staff_of(client, session, merchant.id, Role.manager)
    before = await fingerprint(connection)
    r = await client.patch(f"{PORTAL}/profile", json={"description": "x", "commission_bps": 0},
                           headers=manager.headers)
    assert_problem(r, 403, "field_not_allowed", "commission_bps")
    assert await fingerprint(connection) == before
    r = await client.patch(f"{PORTAL}/profile", json={"description": "Fresh coffee.",
                                                      "tags": ["Coffee"]},
                           headers=manager.headers)
    assert (r.json()["description"], r.json()["tags"]) == ("Fresh coffee.", ["coffee"])


async def test_owners_manage_users_and_keep_one_owner(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession) -> None:
    merchant = await new_merchant(session)
    owner = await staff_of(client, session, merchant.id, Role.owner)
    r = await client.post(f"{PORTAL}/users", headers=owner.headers, json={
        "email": "Cashier@Example.com", "name": "Cashier", "role": "staff",
        "password": "short"})
    assert_problem(r, 422, "weak_password", "password")
    r = await client.post(f"{PORTAL}/users", headers=owner.headers, json={
        "email": "Cashier@Example.com", "name": "Cashier", "role": "staff",
        "password": PASSWORD})
    assert r.status_code == 201, r.text
    cashier = r.json()
    r = await client.post(f"{PORTAL}/users", headers=owner.headers, json={
        "email": "cashier@example.com", "name": "Again", "role": "staff", "password": PASSWORD})
    assert_problem(r, 409, "email_taken", "email")
    # The only owner cannot step down or switch itself off.
    before = await fingerprint(connection)
    for body in ({"role": "manager"}, {"status": "disabled"}):
        assert_problem(await client.patch(f"{PORTAL}/users/{owner.id}", json=body,
                                          headers=owner.headers), 409, "last_owner")
    assert await fingerprint(connection) == before
    # A disabled user's sessions end at once.
    r = await client.post(f"{PORTAL}/auth/login",
                          json={"email": "cashier@example.com", "password": PASSWORD})
    cashier_headers = {"authorization": f"Bearer {r.json()['access_token']}"}
    assert (await client.get(f"{PORTAL}/outlets", headers=cashier_headers)).status_code == 200
    r = await client.patch(f"{PORTAL}/users/{cashier['id']}", json={"status": "disabled"},
                           headers=owner.headers)
    assert r.json()["status"] == "disabled"
    assert_problem(await client.get(f"{PORTAL}/outlets", headers=cashier_headers), 401,
                   "invalid_credentials")
    assert_problem(await client.post(f"{PORTAL}/auth/login", json={
        "email": "cashier@example.com", "password": PASSWORD}), 401, "invalid_credentials")
    assert await service.merchant_user_permissions(session, uuid.UUID(cashier["id"])) is None


async def test_admin_adds_an_owner_who_can_sign_in(client: httpx.AsyncClient,
                                                   session: AsyncSession,
                                                   admin: Actor) -> None:
    merchant = await new_merchant(session)
    r = await client.post(f"/v1/admin/merchants/{merchant.id}/users", headers=admin.headers,
                          json={"email": "boss@example.com", "name": "Boss", "role": "owner",
                                "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = await client.post(f"{PORTAL}/auth/login",
                          json={"email": "BOSS@example.com ", "password": PASSWORD})
    assert r.status_code == 200, r.text


async def test_public_outlets_say_whether_they_are_open(client: httpx.AsyncClient,
                                                        session: AsyncSession) -> None:
    merchant = await live_merchant(session)
    await service.add_outlet(session, merchant.id, outlet_in(name="Day", hours=daily()), None)
    await service.add_outlet(session, merchant.id, outlet_in(
        name="Night", hours=daily("20:00", "04:00")), None)
    await service.add_outlet(session, merchant.id, outlet_in(name="Closed", active=False), None)
    # Tuesday 2026-11-24, 23:30 in Mumbai.
    clock.freeze(dt.datetime(2026, 11, 24, 18, 0, tzinfo=dt.UTC))
    r = await client.get(f"/v1/merchants/{merchant.id}/outlets")
    assert {o["name"]: o["open_now"] for o in r.json()} == {"Day": False, "Night": True}
    pending = await new_merchant(session, "Not Yet")
    assert_problem(await client.get(f"/v1/merchants/{pending.id}/outlets"), 404,
                   "merchant_not_found")
