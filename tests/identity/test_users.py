"""Users over HTTP: signing up and in, profile, account states, passwords and TOTP, sessions,
devices, addresses, linked identities, KYC and the wallet. Every refusal is a problem+json
with a stable code and leaves the database as it was."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import uuid
from typing import Any

import bcrypt
import httpx
import jwt
import pyotp
import pytest
from cryptography.exceptions import InvalidTag
from fastapi import FastAPI
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.identity import service
from gullak.kit import clock
from gullak.kit.crypto import Keyring
from gullak.ledger import service as ledger
from gullak.ledger.models import Asset
from gullak.ledger.schemas import AssetIn, TransferIn
from gullak.settings import Settings
from tests.helpers.identity import AUDIENCE, IdentityProvider, rewind_clock, rsa_key, session_id
from tests.helpers.problems import assert_problem
from tests.helpers.state import count, snapshot
from tests.helpers.users import SignedIn, bearer, last_code, new_phone, sign_in

pytestmark = pytest.mark.usefixtures("quick_argon2")

REFERRAL_CODE = re.compile(r"^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{8}$")
COOLDOWN = dt.timedelta(seconds=31)


async def otp_verify(client: httpx.AsyncClient, connection: AsyncConnection, phone: str,
                     *, written: str | None = None, **extra: Any) -> httpx.Response:
    """Ask for a code for `phone` (spelled `written`, if given) and answer it; the verify
    response, whatever it is."""
    r = await client.post("/v1/auth/otp", json={"phone": written or phone})
    assert r.status_code == 202, r.text
    code = await last_code(connection, phone)
    return await client.post("/v1/auth/otp/verify",
                             json={"phone": written or phone, "code": code, **extra})


async def user_row(connection: AsyncConnection, user_id: str) -> Any:
    return (await connection.execute(text("SELECT * FROM users WHERE id = :id"),
                                     {"id": user_id})).one()


async def give_password(client: httpx.AsyncClient, user: SignedIn, username: str,
                        password: str) -> None:
    r = await client.patch("/v1/me", headers=user.headers, json={"username": username})
    assert r.status_code == 200, r.text
    r = await client.put("/v1/me/password", headers=user.headers,
                         json={"new_password": password})
    assert r.status_code == 204, r.text


async def password_login(client: httpx.AsyncClient, login: str, password: str,
                         **extra: Any) -> httpx.Response:
    return await client.post("/v1/auth/password",
                             json={"login": login, "password": password, **extra})


def without_request(problem: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in problem.items() if k not in ("instance", "request_id")}


# -- signing up -------------------------------------------------------------------------------

async def test_first_sign_in_opens_the_account_and_later_ones_reuse_it(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    rewind_clock()
    phone = new_phone()
    r = await otp_verify(client, connection, phone)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["created"] is True and first["user"]["phone"] == phone
    assert first["user"]["status"] == "active"
    assert REFERRAL_CODE.match(first["user"]["referral_code"])
    clock.advance(COOLDOWN)
    # The same number written the local way is the same person.
    r = await otp_verify(client, connection, phone, written=phone.removeprefix("+91"))
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["created"] is False and again["user"]["id"] == first["user"]["id"]
    assert again["session_id"] != first["session_id"]
    assert await count(connection, "SELECT count(*) FROM users WHERE phone = :p", p=phone) == 1


async def test_referral_codes_are_unique_and_link_the_referrer(
        client: httpx.AsyncClient, connection: AsyncConnection, alice: SignedIn,
        bob: SignedIn) -> None:
    codes = {alice.user["referral_code"], bob.user["referral_code"]}
    assert len(codes) == 2 and all(REFERRAL_CODE.match(c) for c in codes)
    r = await otp_verify(client, connection, new_phone(),
                         referral_code=alice.user["referral_code"].lower())
    assert r.status_code == 200, r.text
    assert r.json()["created"] is True
    assert r.json()["user"]["referred_by_id"] == alice.user["id"]
    duplicates = await count(connection, "SELECT count(*) - count(DISTINCT referral_code)"
                                         " FROM users")
    assert duplicates == 0


async def test_signing_in_again_with_a_code_does_not_change_the_referrer(
        client: httpx.AsyncClient, connection: AsyncConnection, alice: SignedIn) -> None:
    rewind_clock()
    phone = new_phone()
    r = await otp_verify(client, connection, phone)
    assert r.json()["user"]["referred_by_id"] is None
    clock.advance(COOLDOWN)
    r = await otp_verify(client, connection, phone, referral_code=alice.user["referral_code"])
    assert r.status_code == 200 and r.json()["created"] is False
    assert r.json()["user"]["referred_by_id"] is None


async def test_unknown_referral_code_is_refused_and_consumes_nothing(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    phone = new_phone()
    assert (await client.post("/v1/auth/otp", json={"phone": phone})).status_code == 202
    code = await last_code(connection, phone)
    before = await snapshot(connection)
    r = await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": code,
                                                       "referral_code": "ZZZZ2222"})
    assert_problem(r, 422, "unknown_referral_code", "referral_code")
    assert await snapshot(connection) == before  # not even an attempt on the code
    r = await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": code})
    assert r.status_code == 200 and r.json()["created"] is True
    assert r.json()["user"]["referred_by_id"] is None


@pytest.mark.parametrize("phone", ["12345", "+1 555", "phone-number", "98765abcde", "",
                                   "+91 98765 4321", "+911123456789"],
                         ids=["short", "foreign stub", "letters", "digits and letters",
                              "empty", "one digit short", "landline"])
async def test_invalid_phone_is_refused(client: httpx.AsyncClient, connection: AsyncConnection,
                                        phone: str) -> None:
    before = await snapshot(connection)
    assert_problem(await client.post("/v1/auth/otp", json={"phone": phone}), 422, "invalid_phone",
                   "phone")
    r = await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": "123456"})
    assert_problem(r, 422, "invalid_phone", "phone")
    assert await snapshot(connection) == before


async def test_malformed_sign_in_bodies_are_refused(client: httpx.AsyncClient,
                                                    connection: AsyncConnection) -> None:
    phone = new_phone()
    before = await snapshot(connection)
    for body, field in (({"phone": phone, "code": "12345"}, "code"),
                        ({"phone": phone, "code": "12a456"}, "code"),
                        ({"phone": phone}, "code"),
                        ({"phone": phone, "code": "123456", "admin": True}, "admin"),
                        ({"phone": phone, "code": 123456}, "code")):
        assert_problem(await client.post("/v1/auth/otp/verify", json=body), 422, "validation_error",
                       field)
    assert_problem(await client.post("/v1/auth/otp", json={"phone": phone, "purpose": "spam"}), 422,
                   "validation_error", "purpose")
    r = await client.post("/v1/auth/otp", content=b"{not json",
                          headers={"content-type": "application/json"})
    assert_problem(r, 400, "malformed_json")
    assert await snapshot(connection) == before


# -- profile ----------------------------------------------------------------------------------

async def test_profile_update(client: httpx.AsyncClient, alice: SignedIn) -> None:
    h = alice.headers
    r = await client.patch("/v1/me", headers=h, json={
        "name": "Alice Rao", "gender": "female", "date_of_birth": "1990-04-01",
        "language": "hi-IN", "avatar_url": "https://cdn.example.com/a.png",
        "email": "Alice.Rao@Example.COM", "username": "alice.rao",
        "preferences": {"push": False}})
    assert r.status_code == 200, r.text
    r = await client.patch("/v1/me", headers=h, json={"preferences": {"sms": True},
                                                      "name": "Alice R."})
    assert r.status_code == 200, r.text
    me = (await client.get("/v1/me", headers=h)).json()
    assert me["name"] == "Alice R." and me["gender"] == "female"
    assert me["date_of_birth"] == "1990-04-01" and me["language"] == "hi-IN"
    assert me["avatar_url"] == "https://cdn.example.com/a.png"
    assert me["email"] == "Alice.Rao@example.com"  # the domain is case-insensitive
    assert me["username"] == "alice.rao" and me["phone"] == alice.phone
    assert me["preferences"] == {"push": False, "sms": True}


@pytest.mark.parametrize("body, code, field", [
    ({"email": "not-an-email"}, "invalid_email", "email"),
    ({"email": "alice@localhost"}, "invalid_email", "email"),
    ({"email": "alice@@example.com"}, "invalid_email", "email"),
    ({"email": "alice example@example.com"}, "invalid_email", "email"),
    ({"gender": "robot"}, "validation_error", "gender"),
    ({"language": "english"}, "validation_error", "language"),
    ({"avatar_url": "http://example.com/a.png"}, "validation_error", "avatar_url"),
    ({"username": "a"}, "validation_error", "username"),
    ({"username": "alice rao"}, "validation_error", "username"),
    ({"date_of_birth": "1990-02-30"}, "validation_error", "date_of_birth"),
    ({"status": "active"}, "validation_error", "status"),
    ({"referral_code": "AAAAAAAA"}, "validation_error", "referral_code"),
])
async def test_bad_profile_input_is_refused(client: httpx.AsyncClient,
                                            connection: AsyncConnection, alice: SignedIn,
                                            body: dict[str, Any], code: str, field: str) -> None:
    before = await snapshot(connection)
    assert_problem(await client.patch("/v1/me", headers=alice.headers, json=body), 422, code, field)
    assert await snapshot(connection) == before


def freeze_on_a_plain_day() -> dt.date:
    # A fixed past day, so "130 years ago" is an ordinary date (no 29 February).
    clock.freeze(dt.datetime(2025, 6, 15, 9, 30, tzinfo=dt.UTC))
    return dt.date(2025, 6, 15)


async def test_implausible_birth_dates_are_refused(client: httpx.AsyncClient,
                                                   connection: AsyncConnection) -> None:
    today = freeze_on_a_plain_day()
    user = await sign_in(client, connection)
    before = await snapshot(connection)
    for born in (today + dt.timedelta(days=1), today.replace(year=today.year + 20),
                 today.replace(year=today.year - 140), dt.date(1, 1, 1)):
        r = await client.patch("/v1/me", headers=user.headers,
                               json={"date_of_birth": born.isoformat()})
        assert_problem(r, 422, "invalid_date", "date_of_birth")
    assert await snapshot(connection) == before
    for born in (today, today.replace(year=today.year - 30),
                 today.replace(year=today.year - 130)):
        r = await client.patch("/v1/me", headers=user.headers,
                               json={"date_of_birth": born.isoformat()})
        assert r.status_code == 200 and r.json()["date_of_birth"] == born.isoformat()


async def test_birth_dates_more_than_130_years_ago_are_refused_to_the_day(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    today = freeze_on_a_plain_day()
    user = await sign_in(client, connection)
    before = await snapshot(connection)
    for born in (today.replace(year=today.year - 130) - dt.timedelta(days=1),
                 dt.date(today.year - 130, 1, 1)):
        r = await client.patch("/v1/me", headers=user.headers,
                               json={"date_of_birth": born.isoformat()})
        assert_problem(r, 422, "invalid_date", "date_of_birth")
    assert await snapshot(connection) == before


async def test_email_and_username_belong_to_one_account(
        client: httpx.AsyncClient, connection: AsyncConnection, alice: SignedIn,
        bob: SignedIn) -> None:
    r = await client.patch("/v1/me", headers=alice.headers,
                           json={"email": "Alice@Example.com", "username": "alice_1"})
    assert r.status_code == 200, r.text
    # Saving one's own values again is no conflict.
    r = await client.patch("/v1/me", headers=alice.headers,
                           json={"email": "alice@example.com", "username": "Alice_1"})
    assert r.status_code == 200, r.text
    before = await snapshot(connection)
    for body, field in (({"email": "alice@example.com"}, "email"),
                        ({"email": "ALICE@EXAMPLE.COM"}, "email"),
                        ({"username": "ALICE_1"}, "username"),
                        ({"name": "Bob", "username": "alice_1"}, "username")):
        r = await client.patch("/v1/me", headers=bob.headers, json=body)
        problem = assert_problem(r, 409, "already_taken", field)
        assert alice.phone not in r.text and alice.user["id"] not in problem["detail"]
    assert await snapshot(connection) == before


# -- account states ---------------------------------------------------------------------------

async def test_deactivation_ends_sessions_and_refuses_sign_in(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    rewind_clock()
    user = await sign_in(client, connection)
    await give_password(client, user, "deactivating", "long-enough-password")
    before = await snapshot(connection)
    assert_problem(await client.post("/v1/me/deactivate", headers=user.headers, json={}), 422,
                   "validation_error", "reason")
    assert_problem(await client.post("/v1/me/deactivate", headers=user.headers,
                                     json={"reason": "   "}), 422, "validation_error", "reason")
    assert await snapshot(connection) == before
    r = await client.post("/v1/me/deactivate", headers=user.headers,
                          json={"reason": "taking a break"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "deactivated" and r.json()["status_reason"] == "taking a break"

    assert_problem(await client.get("/v1/me", headers=user.headers), 401, "invalid_credentials")
    r = await client.post("/v1/auth/refresh", json={"refresh_token": user.refresh})
    assert_problem(r, 401, "invalid_token", "refresh_token")
    assert await count(connection, "SELECT count(*) FROM auth_sessions WHERE subject_id = :u"
                                   " AND status = 'active'", u=user.user["id"]) == 0

    clock.advance(COOLDOWN)
    assert (await client.post("/v1/auth/otp", json={"phone": user.phone})).status_code == 202
    code = await last_code(connection, user.phone)
    before = await snapshot(connection, exclude=("rate_limits",))
    r = await client.post("/v1/auth/otp/verify", json={"phone": user.phone, "code": code})
    assert_problem(r, 403, "account_unavailable")
    r = await password_login(client, "deactivating", "long-enough-password")
    assert_problem(r, 403, "account_unavailable")
    assert await snapshot(connection, exclude=("rate_limits",)) == before


async def test_deleting_an_account_drops_contact_details_and_frees_the_phone(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    rewind_clock()
    user = await sign_in(client, connection)
    r = await client.patch("/v1/me", headers=user.headers, json={
        "name": "Leaving Soon", "email": "leaving@example.com", "username": "leaving"})
    assert r.status_code == 200
    r = await client.delete("/v1/me", headers=user.headers)
    assert r.status_code == 204
    assert_problem(await client.get("/v1/me", headers=user.headers), 401, "invalid_credentials")
    assert_problem(await client.post("/v1/auth/refresh", json={"refresh_token": user.refresh}), 401,
                   "invalid_token", "refresh_token")

    row = await user_row(connection, user.user["id"])  # the id stays for money records
    assert row.deleted_at is not None and row.status == "deactivated"
    assert (row.phone, row.email, row.username, row.name, row.password_hash, row.totp_secret) \
        == (None, None, None, None, None, None)

    # Its referral code refers nobody any more.
    phone = new_phone()
    r = await otp_verify(client, connection, phone, referral_code=user.user["referral_code"])
    assert_problem(r, 422, "unknown_referral_code", "referral_code")
    # The phone, email and username can belong to a new account.
    clock.advance(COOLDOWN)
    r = await otp_verify(client, connection, user.phone)
    assert r.status_code == 200, r.text
    assert r.json()["created"] is True and r.json()["user"]["id"] != user.user["id"]
    r = await client.patch("/v1/me", headers=bearer(r.json()["access_token"]),
                           json={"email": "leaving@example.com", "username": "leaving"})
    assert r.status_code == 200, r.text


async def test_deleting_an_account_drops_its_addresses_devices_and_linked_identities(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        google: IdentityProvider, alice: SignedIn) -> None:
    h = alice.headers
    assert (await client.post("/v1/me/addresses", headers=h, json={
        "line1": "4 Residency Road", "city": "Bengaluru"})).status_code == 201
    assert (await client.put("/v1/me/devices/phone-1", headers=h, json={
        "platform": "android", "push_token": "fcm:alice-token"})).status_code == 200
    assert (await client.post("/v1/me/social-accounts", headers=h, json={
        "provider": "google", "token": google.token("g-alice", email="alice@gmail.com")})
    ).status_code == 201
    assert (await client.delete("/v1/me", headers=h)).status_code == 204
    user_id = alice.user["id"]
    for table in ("addresses", "devices", "social_accounts"):
        left = await count(connection, f"SELECT count(*) FROM {table} WHERE user_id = :u",
                           u=user_id)
        assert left == 0, f"{table} of a deleted account are kept"
    assert await service.push_targets(session, uuid.UUID(user_id)) == []


async def test_a_deleted_accounts_google_identity_can_be_linked_again(
        client: httpx.AsyncClient, google: IdentityProvider, alice: SignedIn,
        bob: SignedIn) -> None:
    token = google.token("g-shared", email="shared@gmail.com")
    r = await client.post("/v1/me/social-accounts", headers=alice.headers,
                          json={"provider": "google", "token": token})
    assert r.status_code == 201
    assert (await client.delete("/v1/me", headers=alice.headers)).status_code == 204
    r = await client.post("/v1/me/social-accounts", headers=bob.headers,
                          json={"provider": "google", "token": token})
    assert r.status_code == 201, r.text


# -- passwords --------------------------------------------------------------------------------

async def test_setting_and_changing_a_password(client: httpx.AsyncClient,
                                               connection: AsyncConnection,
                                               alice: SignedIn) -> None:
    h = alice.headers
    r = await client.patch("/v1/me", headers=h, json={"username": "alice_pw"})
    assert r.status_code == 200
    before = await snapshot(connection)
    for weak in ("short", "123456789", ""):
        r = await client.put("/v1/me/password", headers=h, json={"new_password": weak})
        assert_problem(r, 422, "weak_password", "new_password")
    assert await snapshot(connection) == before
    r = await client.put("/v1/me/password", headers=h, json={"new_password": "twelve-chars"})
    assert r.status_code == 204
    row = await user_row(connection, alice.user["id"])
    assert row.password_hash.startswith("$argon2id$") and "twelve-chars" not in row.password_hash

    before = await snapshot(connection)
    for current in (None, "wrong-password"):
        body = {"new_password": "another-long-one"}
        if current is not None:
            body["current_password"] = current
        r = await client.put("/v1/me/password", headers=h, json=body)
        assert_problem(r, 401, "invalid_credentials", "current_password")
    assert await snapshot(connection) == before

    r = await client.put("/v1/me/password", headers=h, json={
        "new_password": "another-long-one", "current_password": "twelve-chars"})
    assert r.status_code == 204
    assert_problem(await password_login(client, "alice_pw", "twelve-chars"), 401,
                   "invalid_credentials")
    assert (await password_login(client, "alice_pw", "another-long-one")).status_code == 200


async def test_password_login_by_username_and_by_email(
        client: httpx.AsyncClient, connection: AsyncConnection, alice: SignedIn,
        bob: SignedIn) -> None:
    r = await client.patch("/v1/me", headers=alice.headers,
                           json={"username": "Priya.K", "email": "Priya@Example.com"})
    assert r.status_code == 200
    assert (await client.put("/v1/me/password", headers=alice.headers,
                             json={"new_password": "priya-password-1"})).status_code == 204
    for login in ("priya.k", "PRIYA.K", "priya@example.com", " Priya@Example.com "):
        r = await password_login(client, login, "priya-password-1",
                                 device={"device_name": "Laptop", "device_type": "web"})
        assert r.status_code == 200, (login, r.text)
        body = r.json()
        assert body["created"] is False and body["user"]["id"] == alice.user["id"]
        assert body["user"]["last_login_at"] is not None
        assert (await client.get("/v1/me", headers=bearer(body["access_token"]))
                ).status_code == 200

    # An OTP-only account has no password to match.
    r = await client.patch("/v1/me", headers=bob.headers, json={"username": "bob_otp"})
    assert r.status_code == 200
    before = await snapshot(connection, exclude=("rate_limits",))
    wrong = assert_problem(await password_login(client, "priya.k", "priya-password-2"), 401,
                           "invalid_credentials")
    unknown = assert_problem(await password_login(client, "nobody.here", "priya-password-1"), 401,
                             "invalid_credentials")
    no_password = assert_problem(await password_login(client, "bob_otp", "priya-password-1"), 401,
                                 "invalid_credentials")
    # The same answer whether the account exists or not.
    assert without_request(wrong) == without_request(unknown) == without_request(no_password)
    assert await snapshot(connection, exclude=("rate_limits",)) == before


async def test_a_bcrypt_hash_still_logs_in_and_is_replaced_by_argon2(
        client: httpx.AsyncClient, connection: AsyncConnection, alice: SignedIn) -> None:
    r = await client.patch("/v1/me", headers=alice.headers, json={"username": "old_timer"})
    assert r.status_code == 200
    old = bcrypt.hashpw(b"from-the-old-system", bcrypt.gensalt(rounds=4)).decode()
    await connection.execute(text("UPDATE users SET password_hash = :h WHERE id = :id"),
                             {"h": old, "id": alice.user["id"]})
    assert_problem(await password_login(client, "old_timer", "not-the-password"), 401,
                   "invalid_credentials")
    assert (await user_row(connection, alice.user["id"])).password_hash == old
    r = await password_login(client, "old_timer", "from-the-old-system")
    assert r.status_code == 200, r.text
    new = (await user_row(connection, alice.user["id"])).password_hash
    assert new.startswith("$argon2id$")
    assert (await password_login(client, "old_timer", "from-the-old-system")).status_code == 200


async def test_password_attempts_per_login_are_limited(
        client: httpx.AsyncClient, connection: AsyncConnection, alice: SignedIn) -> None:
    rewind_clock()
    r = await client.patch("/v1/me", headers=alice.headers, json={"username": "guessed"})
    assert r.status_code == 200
    # A cheap bcrypt hash keeps the wrong guesses quick.
    cheap = bcrypt.hashpw(b"the-real-password", bcrypt.gensalt(rounds=4)).decode()
    await connection.execute(text("UPDATE users SET password_hash = :h WHERE id = :id"),
                             {"h": cheap, "id": alice.user["id"]})
    free = service.PER_LOGIN.free
    for i in range(free):
        assert_problem(await password_login(client, "guessed", f"guess-{i}"), 401,
                       "invalid_credentials")
    before = await snapshot(connection, exclude=("rate_limits",))
    problem = assert_problem(await password_login(client, "GUESSED", "the-real-password"), 429,
                             "rate_limited")
    assert problem["retry_after"] == service.PER_LOGIN.delay(free) == 1
    assert await snapshot(connection, exclude=("rate_limits",)) == before
    clock.advance(dt.timedelta(seconds=problem["retry_after"]))
    assert (await password_login(client, "guessed", "the-real-password")).status_code == 200


async def test_a_password_change_ends_the_other_sessions(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    """A session stolen before the change (another phone, a leaked refresh token) must not
    outlive it; the session that made the change goes on."""
    phone = new_phone()
    stolen = await sign_in(client, connection, phone)
    clock.advance(COOLDOWN)
    own = await sign_in(client, connection, phone)
    assert (await client.get("/v1/me", headers=stolen.headers)).status_code == 200
    await give_password(client, own, f"owner_{uuid.uuid4().hex[:8]}", "a-new-long-password-1")
    assert_problem(await client.get("/v1/me", headers=stolen.headers), 401,
                   "invalid_credentials")
    assert_problem(await client.post("/v1/auth/refresh",
                                     json={"refresh_token": stolen.refresh}), 401, "invalid_token")
    assert (await client.get("/v1/me", headers=own.headers)).status_code == 200
    r = await client.post("/v1/auth/refresh", json={"refresh_token": own.refresh})
    assert r.status_code == 200, r.text
    r = await client.get("/v1/me/sessions", headers=bearer(r.json()["access_token"]))
    assert [s["id"] for s in r.json()] == [session_id(own)]


# -- TOTP -------------------------------------------------------------------------------------

def other_code(secret: str) -> str:
    """A six-digit code valid at no step near now."""
    totp = pyotp.TOTP(secret)
    near = {totp.at(clock.now() + dt.timedelta(seconds=s)) for s in range(-90, 91, 30)}
    return next(c for c in (f"{i:06d}" for i in range(1_000_000)) if c not in near)


async def enrol_totp(client: httpx.AsyncClient, user: SignedIn) -> str:
    r = await client.post("/v1/me/totp", headers=user.headers)
    assert r.status_code == 200, r.text
    secret: str = r.json()["secret"]
    r = await client.post("/v1/me/totp/confirm", headers=user.headers,
                          json={"code": pyotp.TOTP(secret).at(clock.now())})
    assert r.status_code == 204, r.text
    return secret


async def test_totp_enrolment_then_password_login_needs_the_code(
        client: httpx.AsyncClient, connection: AsyncConnection, settings: Settings,
        alice: SignedIn) -> None:
    await give_password(client, alice, "alice_totp", "alice-password-1")
    r = await client.post("/v1/me/totp", headers=alice.headers)
    assert r.status_code == 200
    secret = r.json()["secret"]
    assert r.json()["provisioning_uri"].startswith("otpauth://totp/")
    assert "issuer=Gullak" in r.json()["provisioning_uri"]
    stored = (await user_row(connection, alice.user["id"])).totp_secret
    assert secret not in stored
    assert Keyring([settings.secret("encryption_key")]).open(
        stored, context="users.totp_secret") == secret

    before = await snapshot(connection)
    r = await client.post("/v1/me/totp/confirm", headers=alice.headers,
                          json={"code": other_code(secret)})
    assert_problem(r, 422, "invalid_totp", "code")
    assert await snapshot(connection) == before
    # Not enabled until confirmed: the password alone still works.
    assert (await password_login(client, "alice_totp", "alice-password-1")).status_code == 200
    r = await client.post("/v1/me/totp/confirm", headers=alice.headers,
                          json={"code": pyotp.TOTP(secret).at(clock.now())})
    assert r.status_code == 204
    assert (await client.get("/v1/me", headers=alice.headers)).json()["totp_enabled"] is True

    before = await snapshot(connection, exclude=("rate_limits",))
    assert_problem(await password_login(client, "alice_totp", "alice-password-1"), 401,
                   "totp_required", "totp_code")
    assert_problem(await password_login(client, "alice_totp", "alice-password-1",
                                        totp_code=other_code(secret)), 401, "invalid_credentials",
                   "totp_code")
    assert await snapshot(connection, exclude=("rate_limits",)) == before
    clock.advance(dt.timedelta(seconds=30))  # the code that confirmed is spent
    r = await password_login(client, "alice_totp", "alice-password-1",
                             totp_code=pyotp.TOTP(secret).at(clock.now()))
    assert r.status_code == 200, r.text

    # Switching it off needs a valid code too.
    r = await client.post("/v1/me/totp/disable", headers=alice.headers,
                          json={"code": other_code(secret)})
    assert_problem(r, 422, "invalid_totp", "code")
    clock.advance(dt.timedelta(seconds=30))
    r = await client.post("/v1/me/totp/disable", headers=alice.headers,
                          json={"code": pyotp.TOTP(secret).at(clock.now())})
    assert r.status_code == 204
    assert (await password_login(client, "alice_totp", "alice-password-1")).status_code == 200


async def test_an_authenticator_code_is_good_once(
        client: httpx.AsyncClient, connection: AsyncConnection, alice: SignedIn) -> None:
    await give_password(client, alice, "alice_once", "alice-password-3")
    secret = await enrol_totp(client, alice)
    totp = pyotp.TOTP(secret)
    # The code that confirmed the enrolment is spent.
    assert_problem(await password_login(client, "alice_once", "alice-password-3",
                                        totp_code=totp.at(clock.now())), 401,
                   "invalid_credentials", "totp_code")
    clock.advance(dt.timedelta(seconds=30))
    code = totp.at(clock.now())
    r = await password_login(client, "alice_once", "alice-password-3", totp_code=code)
    assert r.status_code == 200, r.text
    before = await snapshot(connection, exclude=("rate_limits",))
    for again in (code, totp.at(clock.now() - dt.timedelta(seconds=30))):
        assert_problem(await password_login(client, "alice_once", "alice-password-3",
                                            totp_code=again), 401, "invalid_credentials",
                       "totp_code")
    assert await snapshot(connection, exclude=("rate_limits",)) == before


async def test_enrolling_again_does_not_switch_the_second_factor_off(
        client: httpx.AsyncClient, alice: SignedIn) -> None:
    """Only a valid code may turn TOTP off (/totp/disable); starting a new enrolment with a
    stolen access token must not be a way around it."""
    await give_password(client, alice, "alice_again", "alice-password-2")
    await enrol_totp(client, alice)
    # Switching factors needs the current code: a new enrolment is refused while one is on.
    assert_problem(await client.post("/v1/me/totp", headers=alice.headers), 409,
                   "totp_already_enabled")
    assert_problem(await password_login(client, "alice_again", "alice-password-2"), 401,
                   "totp_required", "totp_code")


# -- sessions ---------------------------------------------------------------------------------

async def test_sessions_list_logout_and_logout_everywhere(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    rewind_clock()
    phone = new_phone()
    phone_session = await sign_in(client, connection, phone, device={
        "device_id": "d-1", "device_type": "android", "device_name": "Pixel 7",
        "app_version": "5.2.0"})
    clock.advance(COOLDOWN)
    laptop = await sign_in(client, connection, phone, device={"device_name": "Laptop"})

    r = await client.get("/v1/me/sessions", headers=laptop.headers)
    assert r.status_code == 200
    listed = {s["id"]: s for s in r.json()}
    assert set(listed) == {session_id(phone_session), session_id(laptop)}
    assert listed[session_id(laptop)]["current"] is True
    assert listed[session_id(phone_session)]["current"] is False
    assert listed[session_id(phone_session)]["device_name"] == "Pixel 7"
    assert listed[session_id(phone_session)]["app_version"] == "5.2.0"
    assert listed[session_id(phone_session)]["ip"] == "127.0.0.1"

    # Rotating a refresh token keeps the session (one entry, same id).
    r = await client.post("/v1/auth/refresh", json={"refresh_token": phone_session.refresh})
    assert r.status_code == 200
    rotated = r.json()
    r = await client.get("/v1/me/sessions", headers=laptop.headers)
    assert sorted(s["id"] for s in r.json()) == sorted(listed)

    # Ending the phone's session from the laptop.
    r = await client.delete(f"/v1/me/sessions/{session_id(phone_session)}",
                            headers=laptop.headers)
    assert r.status_code == 204
    assert_problem(await client.get("/v1/me", headers=bearer(rotated["access_token"])), 401,
                   "invalid_credentials")
    r = await client.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert_problem(r, 401, "invalid_token", "refresh_token")
    before = await snapshot(connection)
    r = await client.delete(f"/v1/me/sessions/{session_id(phone_session)}",
                            headers=laptop.headers)
    assert_problem(r, 404, "not_found")
    assert await snapshot(connection) == before
    r = await client.get("/v1/me/sessions", headers=laptop.headers)
    assert [s["id"] for s in r.json()] == [session_id(laptop)]

    # Logout ends this session only.
    clock.advance(COOLDOWN)
    tablet = await sign_in(client, connection, phone)
    assert (await client.post("/v1/auth/logout", headers=laptop.headers)).status_code == 204
    assert_problem(await client.get("/v1/me", headers=laptop.headers), 401, "invalid_credentials")
    assert_problem(await client.post("/v1/auth/refresh", json={"refresh_token": laptop.refresh}),
                   401, "invalid_token")
    assert (await client.get("/v1/me", headers=tablet.headers)).status_code == 200

    # Logout everywhere ends all of them.
    clock.advance(COOLDOWN)
    watch = await sign_in(client, connection, phone)
    assert (await client.post("/v1/auth/logout-all", headers=tablet.headers)).status_code == 204
    for signed in (tablet, watch):
        assert_problem(await client.get("/v1/me", headers=signed.headers), 401,
                       "invalid_credentials")
        r = await client.post("/v1/auth/refresh", json={"refresh_token": signed.refresh})
        assert_problem(r, 401, "invalid_token")
    assert await count(connection, "SELECT count(*) FROM auth_sessions WHERE subject_id = :u"
                                   " AND status = 'active'", u=watch.user["id"]) == 0


# -- devices ----------------------------------------------------------------------------------

async def test_devices_and_push_tokens(client: httpx.AsyncClient, connection: AsyncConnection,
                                       session: AsyncSession, alice: SignedIn) -> None:
    h = alice.headers
    tokens = ["fcm:first-device-token", "apns:second-device-token"]
    r = await client.put("/v1/me/devices/phone-1", headers=h, json={
        "platform": "android", "name": "Pixel", "app_version": "5.2.0",
        "push_token": tokens[0]})
    assert r.status_code == 200, r.text
    assert r.json()["has_push_token"] is True and "push_token" not in r.json()
    r = await client.put("/v1/me/devices/phone-1", headers=h, json={
        "platform": "android", "name": "Pixel 8", "app_version": "5.3.0",
        "push_token": tokens[0]})
    assert r.status_code == 200 and r.json()["name"] == "Pixel 8"
    r = await client.put("/v1/me/devices/tablet-1", headers=h, json={
        "platform": "ios", "push_token": tokens[1], "push_enabled": False})
    assert r.status_code == 200

    r = await client.get("/v1/me/devices", headers=h)
    assert r.status_code == 200
    listed = {d["device_id"]: d for d in r.json()}
    assert set(listed) == {"phone-1", "tablet-1"}
    assert listed["phone-1"]["app_version"] == "5.3.0"
    assert all(d["has_push_token"] is True for d in listed.values())
    assert not any(t in r.text for t in tokens)
    # Stored, and notified only where enabled.
    assert await service.push_targets(session, uuid.UUID(alice.user["id"])) == [tokens[0]]

    before = await snapshot(connection)
    r = await client.put("/v1/me/devices/phone-2", headers=h, json={"platform": "windows"})
    assert_problem(r, 422, "validation_error", "platform")
    r = await client.put("/v1/me/devices/phone-2", headers=h, json={
        "platform": "ios", "push_token": ""})
    assert_problem(r, 422, "validation_error", "push_token")
    assert await snapshot(connection) == before

    assert (await client.delete("/v1/me/devices/phone-1", headers=h)).status_code == 204
    r = await client.get("/v1/me/devices", headers=h)
    assert [d["device_id"] for d in r.json()] == ["tablet-1"]
    before = await snapshot(connection)
    assert_problem(await client.delete("/v1/me/devices/phone-1", headers=h), 404, "not_found")
    assert await snapshot(connection) == before


# -- addresses --------------------------------------------------------------------------------

async def defaults(connection: AsyncConnection, user_id: str) -> list[str]:
    return [str(i) for i in (await connection.scalars(text(
        "SELECT id FROM addresses WHERE user_id = :u AND is_default"), {"u": user_id})).all()]


async def test_addresses_have_one_default(client: httpx.AsyncClient,
                                          connection: AsyncConnection, alice: SignedIn) -> None:
    h = alice.headers
    home = {"label": "home", "line1": "12 MG Road", "city": "Bengaluru", "state": "KA",
            "postal_code": "560001", "details": {"floor": 3}}
    r = await client.post("/v1/me/addresses", headers=h, json=home)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["is_default"] is True and first["country"] == "IN"
    assert first["details"] == {"floor": 3}
    r = await client.post("/v1/me/addresses", headers=h, json={
        "line1": "Tech Park", "city": "Pune"})
    second = r.json()
    assert r.status_code == 201 and second["is_default"] is False
    assert await defaults(connection, alice.user["id"]) == [first["id"]]

    r = await client.post("/v1/me/addresses", headers=h, json={
        "line1": "Beach Road", "city": "Goa", "is_default": True})
    third = r.json()
    assert r.status_code == 201 and third["is_default"] is True
    assert await defaults(connection, alice.user["id"]) == [third["id"]]

    r = await client.put(f"/v1/me/addresses/{second['id']}", headers=h, json={
        "line1": "Tech Park, Tower B", "city": "Pune", "is_default": True})
    assert r.status_code == 200 and r.json()["line1"] == "Tech Park, Tower B"
    assert await defaults(connection, alice.user["id"]) == [second["id"]]
    r = await client.get("/v1/me/addresses", headers=h)
    assert [a["id"] for a in r.json()][0] == second["id"]  # the default comes first
    assert sum(a["is_default"] for a in r.json()) == 1

    assert (await client.delete(f"/v1/me/addresses/{first['id']}", headers=h)).status_code == 204
    r = await client.get("/v1/me/addresses", headers=h)
    assert {a["id"] for a in r.json()} == {second["id"], third["id"]}
    before = await snapshot(connection)
    assert_problem(await client.delete(f"/v1/me/addresses/{first['id']}", headers=h), 404,
                   "not_found")
    assert_problem(await client.put(f"/v1/me/addresses/{first['id']}", headers=h, json=home), 404,
                   "not_found")
    assert_problem(await client.delete("/v1/me/addresses/not-a-uuid", headers=h), 422,
                   "validation_error", "address_id")
    assert await snapshot(connection) == before


@pytest.mark.parametrize("coordinates, code, field", [
    ({"latitude": 12.97}, "invalid_coordinates", "latitude"),
    ({"longitude": 77.59}, "invalid_coordinates", "latitude"),
    ({"latitude": 90.01, "longitude": 77.59}, "validation_error", "latitude"),
    ({"latitude": -91, "longitude": 77.59}, "validation_error", "latitude"),
    ({"latitude": 12.97, "longitude": 180.5}, "validation_error", "longitude"),
    ({"latitude": 12.97, "longitude": -181}, "validation_error", "longitude"),
    ({"latitude": "north", "longitude": 77.59}, "validation_error", "latitude"),
])
async def test_address_coordinates_are_both_or_neither_and_in_range(
        client: httpx.AsyncClient, connection: AsyncConnection, alice: SignedIn,
        coordinates: dict[str, Any], code: str, field: str) -> None:
    r = await client.post("/v1/me/addresses", headers=alice.headers, json={
        "line1": "Somewhere", "city": "Bengaluru"})
    address = r.json()
    before = await snapshot(connection)
    body = {"line1": "Somewhere", "city": "Bengaluru", **coordinates}
    assert_problem(await client.post("/v1/me/addresses", headers=alice.headers, json=body), 422,
                   code, field)
    assert_problem(await client.put(f"/v1/me/addresses/{address['id']}", headers=alice.headers,
                                    json=body), 422, code, field)
    assert await snapshot(connection) == before


async def test_address_coordinates_at_the_limits_are_kept(client: httpx.AsyncClient,
                                                          alice: SignedIn) -> None:
    for lat, lng in ((12.9716, 77.5946), (-90, -180), (90, 180), (0, 0)):
        r = await client.post("/v1/me/addresses", headers=alice.headers, json={
            "line1": "Pin", "city": "Bengaluru", "latitude": lat, "longitude": lng})
        assert r.status_code == 201, r.text
        assert (r.json()["latitude"], r.json()["longitude"]) == (lat, lng)


# -- social accounts --------------------------------------------------------------------------

async def test_linking_and_unlinking_a_google_identity(
        client: httpx.AsyncClient, connection: AsyncConnection, google: IdentityProvider,
        alice: SignedIn, bob: SignedIn) -> None:
    token = google.token("g-123", email="alice@gmail.com")
    r = await client.post("/v1/me/social-accounts", headers=alice.headers,
                          json={"provider": "google", "token": token})
    assert r.status_code == 201, r.text
    linked = r.json()
    assert linked["provider"] == "google" and linked["email"] == "alice@gmail.com"
    assert "g-123" not in r.text
    # Linking it again is no new link.
    r = await client.post("/v1/me/social-accounts", headers=alice.headers,
                          json={"provider": "google", "token": google.token("g-123")})
    assert r.json()["id"] == linked["id"]
    r = await client.get("/v1/me/social-accounts", headers=alice.headers)
    assert [a["id"] for a in r.json()] == [linked["id"]]

    before = await snapshot(connection)
    r = await client.post("/v1/me/social-accounts", headers=bob.headers,
                          json={"provider": "google", "token": google.token("g-123")})
    assert_problem(r, 409, "already_taken", "token")
    assert await snapshot(connection) == before

    assert (await client.delete(f"/v1/me/social-accounts/{linked['id']}",
                                headers=alice.headers)).status_code == 204
    assert (await client.get("/v1/me/social-accounts", headers=alice.headers)).json() == []
    assert_problem(await client.delete(f"/v1/me/social-accounts/{linked['id']}",
                                       headers=alice.headers), 404, "not_found")
    # Unlinked, the identity is free for another account.
    r = await client.post("/v1/me/social-accounts", headers=bob.headers,
                          json={"provider": "google", "token": google.token("g-123")})
    assert r.status_code == 201


async def test_an_unverified_email_is_not_taken_from_the_token(
        client: httpx.AsyncClient, google: IdentityProvider, alice: SignedIn) -> None:
    token = google.token("g-456", email_verified=False, email="someone@gmail.com")
    r = await client.post("/v1/me/social-accounts", headers=alice.headers,
                          json={"provider": "google", "token": token})
    assert r.status_code == 201 and r.json()["email"] is None


def hs256_with_the_public_key(google: IdentityProvider) -> str:
    public = rsa_key("google").public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = jwt.utils.base64url_encode(
        b'{"alg":"HS256","typ":"JWT","kid":"' + google.kid.encode() + b'"}').decode()
    claims = jwt.utils.base64url_encode(
        ('{"iss":"https://accounts.google.com","aud":"%s","sub":"g-evil","exp":%d}'
         % (AUDIENCE, int(dt.datetime.now(dt.UTC).timestamp()) + 600)).encode()).decode()
    signature = hmac.new(public, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{jwt.utils.base64url_encode(signature).decode()}"


async def test_identity_tokens_that_do_not_verify_are_refused(
        client: httpx.AsyncClient, connection: AsyncConnection, google: IdentityProvider,
        alice: SignedIn) -> None:
    genuine = google.token("g-evil")
    header, payload, _ = genuine.split(".")
    none_header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    bad = {
        "another key": google.token("g-evil", key_name="attacker"),
        "unknown key id": google.token("g-evil", kid="some-other-key"),
        "expired": google.token("g-evil", expires_in=-60),
        "wrong audience": google.token("g-evil", audience="someone-elses-app"),
        "wrong issuer": google.token("g-evil", issuer="https://evil.example.com"),
        "no subject": jwt.encode({"iss": "https://accounts.google.com", "aud": AUDIENCE,
                                  "exp": int(dt.datetime.now(dt.UTC).timestamp()) + 600},
                                 rsa_key("google"), algorithm="RS256",
                                 headers={"kid": google.kid}),
        "alg none": f"{none_header}.{payload}.",
        "HS256 keyed with the public key": hs256_with_the_public_key(google),
        "garbage": "this-is-not-a-jwt",
    }
    before = await snapshot(connection)
    for name, token in bad.items():
        r = await client.post("/v1/me/social-accounts", headers=alice.headers,
                              json={"provider": "google", "token": token})
        assert r.status_code == 401, (name, r.text)
        assert_problem(r, 401, "invalid_social_token")
    assert await snapshot(connection) == before
    r = await client.post("/v1/me/social-accounts", headers=alice.headers,
                          json={"provider": "google", "token": genuine})
    assert r.status_code == 201


async def test_unconfigured_providers_refuse_every_token(
        client: httpx.AsyncClient, connection: AsyncConnection, alice: SignedIn) -> None:
    # No client ids or app secret in the settings: nothing can verify, nothing is fetched.
    token = IdentityProvider().token("g-1")
    before = await snapshot(connection)
    for provider in ("google", "apple", "facebook"):
        r = await client.post("/v1/me/social-accounts", headers=alice.headers,
                              json={"provider": provider, "token": token})
        assert_problem(r, 401, "invalid_social_token")
    assert_problem(await client.post("/v1/me/social-accounts", headers=alice.headers,
                                     json={"provider": "myspace", "token": token}), 422,
                   "validation_error", "provider")
    assert await snapshot(connection) == before


# -- KYC --------------------------------------------------------------------------------------

KYC = {"document_type": "aadhaar", "document_number": "2345 6789 0123", "pan": "abcde1234f",
       "bank_account": "123456789012", "ifsc": "HDFC0001234", "upi_id": "alice.rao@okhdfc"}


async def test_kyc_numbers_are_sealed_at_rest_and_shown_masked(
        client: httpx.AsyncClient, connection: AsyncConnection, settings: Settings,
        alice: SignedIn) -> None:
    r = await client.post("/v1/me/kyc", headers=alice.headers, json=KYC)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["status"] == "pending" and out["user_id"] == alice.user["id"]
    assert out["document_number"] == "XXXXXXXX0123"
    assert out["pan"] == "XXXXXX234F"
    assert out["bank_account"] == "XXXXXXXX9012"
    assert out["ifsc"] == "HDFC0001234" and out["upi_id"] == "alice.rao@okhdfc"
    r = await client.get("/v1/me/kyc", headers=alice.headers)
    assert r.json() == [out]
    for number in ("234567890123", "ABCDE1234F", "123456789012"):
        assert number not in r.text

    row = (await connection.execute(text(
        "SELECT document_number, pan, bank_account, kyc_records::text AS everything"
        " FROM kyc_records WHERE id = :id"), {"id": out["id"]})).one()
    for number in ("234567890123", "ABCDE1234F", "123456789012"):
        assert number not in row.everything
    ring = Keyring([settings.secret("encryption_key")])
    assert ring.open(row.document_number, context="kyc.document_number") == "234567890123"
    assert ring.open(row.pan, context="kyc.pan") == "ABCDE1234F"
    assert ring.open(row.bank_account, context="kyc.bank_account") == "123456789012"
    # Bound to its column: a sealed PAN does not open as an account number.
    with pytest.raises(InvalidTag):
        ring.open(row.pan, context="kyc.bank_account")
    # Nor without the key.
    with pytest.raises(ValueError):
        Keyring(["another-key"]).open(row.pan, context="kyc.pan")


@pytest.mark.parametrize("change, code, field", [
    ({"pan": "ABCDE12345"}, "invalid_pan", "pan"),
    ({"pan": "1BCDE1234F"}, "invalid_pan", "pan"),
    ({"pan": "ABCDE1234FG"}, "validation_error", "pan"),
    ({"document_number": "1234 5678 9012"}, "invalid_document_number", "document_number"),
    ({"document_number": "2345 6789 012"}, "invalid_document_number", "document_number"),
    ({"document_number": "2345 6789 012X"}, "invalid_document_number", "document_number"),
    ({"document_type": "passport", "document_number": "12345678"}, "invalid_document_number",
     "document_number"),
    ({"document_type": "ssn"}, "validation_error", "document_type"),
    ({"ifsc": "HDFC1234567"}, "validation_error", "ifsc"),
    ({"ifsc": "hdfc0001234"}, "validation_error", "ifsc"),
    ({"ifsc": None}, "invalid_bank_account", "ifsc"),
    ({"bank_account": None}, "invalid_bank_account", "ifsc"),
    ({"bank_account": "12345678"}, "validation_error", "bank_account"),
    ({"upi_id": "alice"}, "validation_error", "upi_id"),
    ({"upi_id": "alice@ok hdfc"}, "validation_error", "upi_id"),
])
async def test_bad_kyc_input_is_refused(client: httpx.AsyncClient, connection: AsyncConnection,
                                        alice: SignedIn, change: dict[str, Any], code: str,
                                        field: str) -> None:
    before = await snapshot(connection)
    r = await client.post("/v1/me/kyc", headers=alice.headers, json={**KYC, **change})
    assert_problem(r, 422, code, field)
    assert await snapshot(connection) == before


async def test_one_kyc_record_pending_or_verified_at_a_time(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        alice: SignedIn) -> None:
    r = await client.post("/v1/me/kyc", headers=alice.headers, json=KYC)
    first = r.json()
    before = await snapshot(connection)
    assert_problem(await client.post("/v1/me/kyc", headers=alice.headers, json=KYC), 409,
                   "kyc_exists")
    assert await snapshot(connection) == before

    await service.review_kyc(session, uuid.UUID(first["id"]), uuid.uuid4(), False,
                             "photo unreadable")
    await session.flush()
    r = await client.post("/v1/me/kyc", headers=alice.headers,
                          json={**KYC, "document_type": "passport", "document_number": "K1234567"})
    assert r.status_code == 201, r.text
    second = r.json()
    await service.review_kyc(session, uuid.UUID(second["id"]), uuid.uuid4(), True, None)
    await session.flush()
    assert_problem(await client.post("/v1/me/kyc", headers=alice.headers, json=KYC), 409,
                   "kyc_exists")
    r = await client.get("/v1/me/kyc", headers=alice.headers)
    records = {k["id"]: k for k in r.json()}
    assert {i: (k["status"], k["reason"]) for i, k in records.items()} == {
        first["id"]: ("rejected", "photo unreadable"), second["id"]: ("verified", None)}


# -- wallet -----------------------------------------------------------------------------------

async def credit(session: AsyncSession, user_id: str, amounts: list[int]) -> str:
    if await session.get(Asset, "COIN") is None:
        await ledger.create_asset(session, AssetIn(code="COIN", name="Coins", kind="coin",
                                                   scale=0))
    issuance = await ledger.platform_account(session, "COIN", "issuance")
    account = await ledger.user_account(session, uuid.UUID(user_id), "COIN")
    for amount in amounts:
        await ledger.transfer(session, TransferIn(
            debit_account_id=issuance.id, credit_account_id=account.id, asset_code="COIN",
            amount=amount, kind="earn", reference_type="test", reference_id=str(amount)))
    await session.flush()
    return str(account.id)


async def test_wallet_balances_and_history_pages(app: FastAPI, client: httpx.AsyncClient,
                                                 connection: AsyncConnection,
                                                 session: AsyncSession, alice: SignedIn,
                                                 bob: SignedIn) -> None:
    assert (await client.get("/v1/me/wallet", headers=alice.headers)).json() == []
    account = await credit(session, alice.user["id"], [100, 200, 300])
    r = await client.get("/v1/me/wallet", headers=alice.headers)
    assert r.status_code == 200
    assert [(b["asset_code"], b["account_id"], b["posted"], b["held"], b["available"])
            for b in r.json()] == [("COIN", account, 600, 0, 600)]
    # An asset never held is listed at zero, with no account opened for it.
    [coin] = (await client.get("/v1/me/wallet", headers=bob.headers)).json()
    assert (coin["asset_code"], coin["account_id"], coin["posted"], coin["available"],
            coin["asset_name"], coin["scale"]) == ("COIN", None, 0, 0, "Coins", 0)
    r = await client.get("/v1/me/wallet/assets", headers=bob.headers)
    assert [(a["code"], a["kind"], a["scale"], a["expires"]) for a in r.json()] == [
        ("COIN", "coin", 0, False)]

    r = await client.get("/v1/me/wallet/history", headers=alice.headers,
                         params={"asset": "COIN", "limit": 2})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [(e["amount"], e["balance_after"]) for e in page["entries"]] == [(300, 600),
                                                                            (200, 300)]
    assert page["next_cursor"] is not None
    r = await client.get("/v1/me/wallet/history", headers=alice.headers,
                         params={"asset": "COIN", "limit": 2, "cursor": page["next_cursor"]})
    last = r.json()
    assert [(e["amount"], e["balance_after"]) for e in last["entries"]] == [(100, 100)]
    assert last["next_cursor"] is None
    r = await client.get("/v1/me/wallet/history", headers=alice.headers,
                         params={"asset": "COIN", "kind": "spend"})
    assert r.json()["entries"] == []

    before = await snapshot(connection)
    assert_problem(await client.get("/v1/me/wallet/history", headers=alice.headers,
                                    params={"asset": "GOLD"}), 404, "asset_not_found")
    # A client generated from the document has a type for it.
    assert "404" in app.openapi()["paths"]["/v1/me/wallet/history"]["get"]["responses"]
    r = await client.get("/v1/me/wallet/history", headers=bob.headers, params={"asset": "COIN"})
    assert (r.status_code, r.json()) == (200, {"entries": [], "next_cursor": None})
    for params, field in (({"asset": "coin"}, "asset"), ({}, "asset"),
                          ({"asset": "COIN", "limit": 0}, "limit"),
                          ({"asset": "COIN", "limit": 201}, "limit"),
                          ({"asset": "COIN", "cursor": "abc"}, "cursor")):
        assert_problem(await client.get("/v1/me/wallet/history", headers=alice.headers,
                                        params=params), 422, "validation_error", field)
    assert await snapshot(connection) == before


async def test_admin_user_search_by_email_finds_only_that_email(
        session: AsyncSession, connection: AsyncConnection) -> None:
    # A query that is not a phone number must not match every user without a phone.
    await connection.execute(text(
        "INSERT INTO users (id, phone, email, referral_code, status, created_at, updated_at)"
        " VALUES (gen_random_uuid(), NULL, NULL, 'NOPHONE1', 'active', now(), now())"))
    found = await service.find_users(session, "nobody@example.com")
    assert found == []
    assert [u.referral_code for u in await service.find_users(session, "nophone1")] == ["NOPHONE1"]
