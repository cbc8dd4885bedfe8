"""Admins: sign-in with password and TOTP, disabling, the sign-in rate limit,
`gullak admin create`, roles, and the permission matrix of every guarded back-office and
ledger route."""

from __future__ import annotations

import datetime as dt
import inspect
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.access import service as access
from gullak.app import create_app
from gullak.db.engine import Database
from gullak.identity import service as identity
from gullak.identity.models import User
from gullak.identity.schemas import KycIn
from gullak.kit import clock
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountOut, AssetIn, HoldIn, TransferIn, TransferOut
from gullak.settings import Settings
from tests.helpers.admins import (
    Admin,
    fresh_code,
    log_in,
    login_body,
    make_admin,
    make_key,
    put_role,
    serial,
    wrong_code,
)
from tests.helpers.http import http_client, no_server_errors
from tests.helpers.problems import assert_problem
from tests.helpers.state import audit_rows, changed, fingerprint
from tests.helpers.users import sign_in

LOGIN = "/v1/admin/auth/login"


def stable(body: dict[str, Any]) -> dict[str, Any]:
    """A problem body without what differs on every request."""
    return {k: v for k, v in body.items() if k not in ("request_id", "instance")}


async def session_count(connection: AsyncConnection, subject_id: uuid.UUID) -> int:
    return int(await connection.scalar(text(
        "SELECT count(*) FROM auth_sessions WHERE subject_id = :s"), {"s": subject_id}) or 0)


# -- signing in -------------------------------------------------------------------------------

async def test_sign_in_needs_the_password_and_a_current_code(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    admin = await log_in(client, await make_admin(session, settings, ["super_admin"]))
    r = await client.get("/v1/admin/me", headers=admin.headers)
    assert r.status_code == 200, r.text
    me = r.json()
    assert (me["id"], me["email"], me["roles"], me["permissions"]) == (
        str(admin.id), admin.email, ["super_admin"], ["*"])
    assert me["last_login_at"] is not None
    # The email is matched without regard to case.
    fresh_code(admin)
    r = await client.post(LOGIN, json=login_body(admin, email=admin.email.upper()))
    assert r.status_code == 200, r.text


async def test_every_wrong_sign_in_gets_the_same_answer(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        settings: Settings) -> None:
    admin = await make_admin(session, settings)
    other = await make_admin(session, settings)
    stale = wrong_code(admin.totp_secret)
    attempts = {
        "wrong password": login_body(admin, password=admin.password + "x"),
        "another admin's password": login_body(admin, password=other.password),
        "wrong code": login_body(admin, totp_code=stale),
        "unknown email": login_body(admin, email=f"nobody{serial()}@example.com"),
    }
    before = await fingerprint(connection, exclude=("rate_limits",))
    answers = {}
    for label, body in attempts.items():
        r = await client.post(LOGIN, json=body)
        answers[label] = stable(assert_problem(r, 401, "invalid_credentials"))
        assert "access_token" not in r.text
    assert len({repr(sorted(a.items())) for a in answers.values()}) == 1, answers
    # Nothing but the attempt counter moved: no session, no last sign-in time.
    assert changed(before, await fingerprint(connection, exclude=("rate_limits",))) == []
    assert await session_count(connection, admin.id) == 0


async def test_an_authenticator_code_signs_in_once(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        settings: Settings) -> None:
    """Seen over an admin's shoulder (or replayed from a proxy log), the code and password
    must not open a second session in the minute and a half the code stays valid."""
    admin = await make_admin(session, settings)
    totp = pyotp.TOTP(admin.totp_secret)
    body = login_body(admin)
    assert (await client.post(LOGIN, json=body)).status_code == 200
    before = await fingerprint(connection, exclude=("rate_limits",))
    assert_problem(await client.post(LOGIN, json=body), 401, "invalid_credentials")
    # Nor an older code, still inside the window.
    older = totp.at(clock.now() - dt.timedelta(seconds=30))
    assert_problem(await client.post(LOGIN, json=login_body(admin, totp_code=older)), 401,
                   "invalid_credentials")
    assert changed(before, await fingerprint(connection, exclude=("rate_limits",))) == []
    assert await session_count(connection, admin.id) == 1
    # The next step's code is good, once.
    clock.advance(dt.timedelta(seconds=30))
    assert (await client.post(LOGIN, json=login_body(admin))).status_code == 200
    assert await session_count(connection, admin.id) == 2


async def test_a_missing_code_is_refused_like_a_wrong_one(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        settings: Settings) -> None:
    admin = await make_admin(session, settings)
    wrong = await client.post(LOGIN, json=login_body(admin, password="not-the-password"))
    expected = stable(assert_problem(wrong, 401, "invalid_credentials"))
    body = login_body(admin)
    del body["totp_code"]
    r = await client.post(LOGIN, json=body)
    assert stable(assert_problem(r, 401, "invalid_credentials")) == expected
    assert await session_count(connection, admin.id) == 0


async def test_a_disabled_admin_cannot_sign_in_and_its_sessions_end(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        settings: Settings, root: Admin) -> None:
    admin = await log_in(client, await make_admin(session, settings, ["super_admin"]))
    laptop = admin.headers
    await log_in(client, admin)  # a second session, on another device
    phone_refresh = admin.refresh
    assert (await client.get("/v1/admin/me", headers=laptop)).status_code == 200

    r = await client.patch(f"/v1/admin/admins/{admin.id}", headers=root.headers,
                           json={"status": "disabled"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "disabled"
    for headers in (laptop, admin.headers):
        assert_problem(await client.get("/v1/admin/me", headers=headers), 401,
                       "invalid_credentials")
        assert_problem(await client.get("/v1/admin/admins", headers=headers), 401,
                       "invalid_credentials")
    r = await client.post("/v1/auth/refresh", json={"refresh_token": phone_refresh})
    assert_problem(r, 401, "invalid_token")
    before = await fingerprint(connection, exclude=("rate_limits",))
    assert_problem(await client.post(LOGIN, json=login_body(admin)), 401, "invalid_credentials")
    assert changed(before, await fingerprint(connection, exclude=("rate_limits",))) == []

    # Enabled again, the admin signs in afresh; the old sessions stay closed.
    r = await client.patch(f"/v1/admin/admins/{admin.id}", headers=root.headers,
                           json={"status": "active"})
    assert r.status_code == 200, r.text
    await log_in(client, admin)
    assert (await client.get("/v1/admin/me", headers=admin.headers)).status_code == 200
    assert (await client.get("/v1/admin/me", headers=laptop)).status_code == 401


async def test_sign_in_attempts_are_slowed_per_email_and_address(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        settings: Settings) -> None:
    # A stopped clock: the delay after the last failure has not passed until the test says so.
    clock.freeze(dt.datetime.now(dt.UTC))
    admin = await make_admin(session, settings)
    bystander = await make_admin(session, settings)
    free = identity.PER_LOGIN.free
    for attempt in range(free):
        # Spelling the email differently does not open a new allowance.
        email = admin.email.upper() if attempt % 2 else admin.email
        r = await client.post(LOGIN, json=login_body(admin, email=email,
                                                     password=f"guess{attempt}"))
        assert_problem(r, 401, "invalid_credentials")
    # The right password and code do not help until the delay has passed.
    problem = assert_problem(await client.post(LOGIN, json=login_body(admin)), 429,
                             "rate_limited")
    assert problem["retry_after"] == identity.PER_LOGIN.delay(free) == 1
    assert await session_count(connection, admin.id) == 0
    # Another admin is not slowed by someone guessing at this one.
    await log_in(client, bystander)
    clock.advance(dt.timedelta(seconds=problem["retry_after"]))
    await log_in(client, admin)


async def test_a_session_started_after_the_clock_moved_works(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    # Tests move the app's clock (expiry, cooldowns, rate-limit windows); a token issued on
    # that clock must be accepted on it too, not judged by the wall clock.
    clock.advance(dt.timedelta(minutes=2))
    admin = await log_in(client, await make_admin(session, settings, ["super_admin"]))
    r = await client.get("/v1/admin/me", headers=admin.headers)
    assert r.status_code == 200, r.text


# -- gullak admin create ----------------------------------------------------------------------

def gullak(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gullak.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


async def test_admin_create_prints_credentials_that_sign_in(
        fresh_db: Database, settings: Settings) -> None:
    # A database of its own: the command commits, and so does the app reading it here.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GULLAK_")}
    # Same data folder as the app below, so both use the same encryption key.
    env.update(GULLAK_DATABASE_URL=fresh_db.url, GULLAK_DATA_DIR=str(settings.data_dir),
               GULLAK_LOG_FORMAT="json")
    out = gullak("admin", "create", "--email", "boss@example.com", "--name", "Boss", env=env)
    assert out.returncode == 0, out.stderr
    shown_password = re.search(r"^password\s+(\S+)$", out.stdout, re.M)
    shown_secret = re.search(r"^totp\s+([A-Z2-7]+)$", out.stdout, re.M)
    assert shown_password and shown_secret, out.stdout
    password, secret = shown_password.group(1), shown_secret.group(1)

    app = create_app(settings, fresh_db)
    async with http_client(app) as client:
        client.event_hooks["response"].append(no_server_errors)
        r = await client.post(LOGIN, json={"email": "boss@example.com", "password": password,
                                           "totp_code": pyotp.TOTP(secret).at(clock.now())})
        assert r.status_code == 200, r.text
        headers = {"authorization": f"Bearer {r.json()['access_token']}"}
        me = (await client.get("/v1/admin/me", headers=headers)).json()
        assert (me["roles"], me["permissions"]) == (["super_admin"], ["*"])
        assert (await client.get("/v1/admin/admins", headers=headers)).status_code == 200
        # Wrong code with the right password: still refused.
        r = await client.post(LOGIN, json={"email": "boss@example.com", "password": password,
                                           "totp_code": wrong_code(secret)})
        assert_problem(r, 401, "invalid_credentials")

    async with fresh_db.engine.connect() as conn:
        # The secret is kept sealed, not in the clear.
        stored = await conn.scalar(text("SELECT totp_secret || password_hash FROM admin_users"))
        assert secret not in stored and password not in stored


# -- roles ------------------------------------------------------------------------------------

async def test_roles_give_admins_their_permissions(
        client: httpx.AsyncClient, root: Admin) -> None:
    r = await client.put("/v1/admin/roles/auditor", headers=root.headers,
                         json={"name": "auditor", "description": "Reads the audit log",
                               "permissions": ["audit.read"]})
    assert r.status_code == 200, r.text
    assert r.json()["permissions"] == ["audit.read"]
    roles = (await client.get("/v1/admin/roles", headers=root.headers)).json()
    assert [x["permissions"] for x in roles if x["name"] == "super_admin"] == [["*"]]
    codes = {p["code"] for p in (await client.get("/v1/admin/permissions",
                                                  headers=root.headers)).json()}
    assert {"*", "audit.read", "users.read", "ledger.read", "wallet.adjust"} <= codes

    r = await client.post("/v1/admin/admins", headers=root.headers,
                          json={"email": f"auditor{serial()}@example.com", "name": "Aud",
                                "roles": ["auditor"], "departments": ["Risk"]})
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["roles"], created["departments"], created["permissions"]) == (
        ["auditor"], ["Risk"], ["audit.read"])
    auditor = await log_in(client, Admin(uuid.UUID(created["id"]), created["email"],
                                         created["password"], created["totp_secret"]))
    assert (await client.get("/v1/admin/audit", headers=auditor.headers)).status_code == 200
    assert_problem(await client.get("/v1/admin/users", headers=auditor.headers), 403, "forbidden")

    # Permissions are read on every request: a changed role applies at once.
    r = await client.put("/v1/admin/roles/auditor", headers=root.headers,
                         json={"name": "auditor", "permissions": ["audit.read", "users.read"]})
    assert r.status_code == 200, r.text
    assert (await client.get("/v1/admin/users", headers=auditor.headers)).status_code == 200
    r = await client.patch(f"/v1/admin/admins/{auditor.id}", headers=root.headers,
                           json={"roles": []})
    assert r.status_code == 200 and r.json()["permissions"] == []
    assert_problem(await client.get("/v1/admin/audit", headers=auditor.headers), 403, "forbidden")


async def test_a_role_with_an_unknown_permission_is_refused(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        root: Admin) -> None:
    await put_role(session, "support_desk", ["users.read"])
    before = await fingerprint(connection)
    for name in ("support_desk", "brand_new"):
        r = await client.put(f"/v1/admin/roles/{name}", headers=root.headers,
                             json={"name": name, "permissions": ["users.read", "money.print"]})
        assert assert_problem(r, 422, "unknown_permission")["field"] == "permissions"
    assert changed(before, await fingerprint(connection)) == []
    role = await access.get_role(session, "support_desk")
    assert role.permissions == ["users.read"]


async def test_an_unknown_role_is_refused(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        settings: Settings, root: Admin) -> None:
    admin = await make_admin(session, settings, ["super_admin"], name="Before")
    before = await fingerprint(connection)
    email = f"ghostly{serial()}@example.com"
    r = await client.post("/v1/admin/admins", headers=root.headers,
                          json={"email": email, "name": "G", "roles": ["ghost"]})
    assert_problem(r, 404, "role_not_found")
    r = await client.patch(f"/v1/admin/admins/{admin.id}", headers=root.headers,
                           json={"name": "After", "roles": ["super_admin", "ghost"]})
    assert_problem(r, 404, "role_not_found")
    assert changed(before, await fingerprint(connection)) == []
    out = await access.get_admin(session, admin.id)
    assert (out.name, out.roles) == ("Before", ["super_admin"])


async def test_admin_emails_are_unique_and_valid(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        settings: Settings, root: Admin) -> None:
    admin = await make_admin(session, settings)
    before = await fingerprint(connection)
    r = await client.post("/v1/admin/admins", headers=root.headers,
                          json={"email": admin.email.upper(), "name": "Twin"})
    assert_problem(r, 409, "already_exists")
    r = await client.post("/v1/admin/admins", headers=root.headers,
                          json={"email": "not-an-email", "name": "Nobody"})
    assert_problem(r, 422, "invalid_email")
    assert_problem(await client.get(f"/v1/admin/admins/{uuid.uuid4()}", headers=root.headers),
                   404, "admin_not_found")
    assert changed(before, await fingerprint(connection)) == []


async def test_an_admin_cannot_hand_out_permissions_it_does_not_hold(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        settings: Settings) -> None:
    # Holding admins.manage, roles.manage or api_keys.manage must not be a way to become a
    # super admin, nor to give anyone (or any service client) more than one holds oneself.
    await put_role(session, "people", ["admins.manage"])
    await put_role(session, "role_editor", ["roles.manage"])
    await put_role(session, "key_issuer", ["api_keys.manage"])
    people = await log_in(client, await make_admin(session, settings, ["people"]))
    editor = await log_in(client, await make_admin(session, settings, ["role_editor"]))
    issuer = await log_in(client, await make_admin(session, settings, ["key_issuer"]))
    before = await fingerprint(connection, exclude=("audit_log",))
    attempts = {
        "create a super admin": await client.post(
            "/v1/admin/admins", headers=people.headers,
            json={"email": f"crony{serial()}@example.com", "name": "Crony",
                  "roles": ["super_admin"]}),
        "make oneself super admin": await client.patch(
            f"/v1/admin/admins/{people.id}", headers=people.headers,
            json={"roles": ["people", "super_admin"]}),
        "give one's own role everything": await client.put(
            "/v1/admin/roles/role_editor", headers=editor.headers,
            json={"name": "role_editor", "permissions": ["roles.manage", "*"]}),
        "issue a key that adjusts wallets": await client.post(
            "/v1/admin/api-keys", headers=issuer.headers,
            json={"name": "side door", "permissions": ["wallet.adjust"]}),
    }
    statuses = {label: r.status_code for label, r in attempts.items()}
    assert statuses == dict.fromkeys(attempts, 403), statuses
    for r in attempts.values():
        assert_problem(r, 403, "cannot_grant")
    assert changed(before, await fingerprint(connection, exclude=("audit_log",))) == []


async def test_anonymous_and_user_callers_are_kept_out(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    before = await fingerprint(connection)
    assert_problem(await client.get("/v1/admin/users"), 401, "unauthorized")
    assert_problem(await client.post("/v1/admin/roles/x", json={"name": "x",
                                                                "permissions": ["*"]}),
                   405, "method_not_allowed")
    assert_problem(await client.put("/v1/admin/roles/x", json={"name": "x",
                                                               "permissions": ["*"]}),
                   401, "unauthorized")
    assert_problem(await client.get("/v1/admin/users",
                                    headers={"authorization": "Bearer not-a-token"}),
                   401, "invalid_token")
    assert changed(before, await fingerprint(connection)) == []
    user = await sign_in(client, connection)
    # A user's access token is not an admin's: refused, and the attempt is kept.
    assert_problem(await client.get("/v1/admin/me", headers=user.headers), 403, "forbidden")
    r = await client.get("/v1/admin/users", headers=user.headers)
    assert_problem(r, 403, "forbidden")
    rows = await audit_rows(connection, actor_id=uuid.UUID(user.user["id"]))
    assert [(x["actor_type"], x["action"], x["outcome"]) for x in rows] == [
        ("user", "denied:users.read", "denied")]


async def test_a_denied_attempt_can_be_found_in_the_audit_log(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        root: Admin) -> None:
    await put_role(session, "nothing_much", ["users.read"])
    clerk = await log_in(client, await make_admin(session, settings, ["nothing_much"]))
    r = await client.post("/v1/admin/api-keys", headers=clerk.headers,
                          json={"name": "mine", "permissions": ["ledger.read"]})
    assert_problem(r, 403, "forbidden")
    r2 = await client.get("/v1/admin/audit", headers=root.headers,
                          params={"actor_id": str(clerk.id), "outcome": "denied"})
    assert r2.status_code == 200, r2.text
    [entry] = r2.json()["entries"]
    assert entry["actor_type"] == "admin" and entry["actor_id"] == str(clerk.id)
    assert entry["action"] == "denied:api_keys.manage"
    assert (entry["entity_type"], entry["entity_id"]) == ("route", "POST /v1/admin/api-keys")
    assert entry["request_id"] == r.headers["x-request-id"]
    assert entry["ip"] and entry["user_agent"]
    # The refused key was not made.
    keys = (await client.get("/v1/admin/api-keys", headers=root.headers)).json()
    assert all(k["name"] != "mine" for k in keys)


# -- the permission matrix --------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One guarded route: what it needs, a request that succeeds, and the success status."""

    method: str
    path: str
    permission: str
    ok: int
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)
    keyed: bool = False  # needs an Idempotency-Key

    @property
    def route(self) -> tuple[str, str]:
        return self.method, self.path


EARN = {"debit_account_id": "$issuance", "credit_account_id": "$account", "asset_code": "COIN",
        "amount": 5, "kind": "earn"}
CASES = [
    Case("GET", "/v1/ledger/assets", "ledger.read", 200),
    Case("POST", "/v1/ledger/assets", "ledger.admin", 201,
         {"code": "GEM", "name": "Gems", "kind": "coin", "scale": 0}),
    Case("GET", "/v1/ledger/assets/{code}", "ledger.read", 200),
    Case("POST", "/v1/ledger/accounts", "ledger.write", 201,
         {"asset_code": "COIN", "owner_type": "user", "owner_id": "$new_id"}),
    Case("GET", "/v1/ledger/accounts/{account_id}", "ledger.read", 200),
    Case("GET", "/v1/ledger/accounts/{account_id}/balance", "ledger.read", 200),
    Case("GET", "/v1/ledger/accounts/{account_id}/balance-at", "ledger.read", 200,
         query={"at": "$now"}),
    Case("GET", "/v1/ledger/accounts/{account_id}/history", "ledger.read", 200),
    Case("POST", "/v1/ledger/accounts/{account_id}/freeze", "ledger.admin", 200,
         {"reason": "matrix"}),
    Case("POST", "/v1/ledger/accounts/{account_id}/unfreeze", "ledger.admin", 200),
    Case("PUT", "/v1/ledger/accounts/{account_id}/limits", "ledger.admin", 200,
         {"daily_limit": 1000}),
    Case("POST", "/v1/ledger/transfers", "ledger.write", 201, EARN, keyed=True),
    Case("POST", "/v1/ledger/transactions", "ledger.write", 201, {"transfers": [EARN]},
         keyed=True),
    Case("GET", "/v1/ledger/transfers/{transfer_id}", "ledger.read", 200),
    Case("POST", "/v1/ledger/transfers/{transfer_id}/reversals", "ledger.write", 201,
         {"reason": "matrix"}, keyed=True),
    Case("POST", "/v1/ledger/holds", "ledger.write", 201,
         {"account_id": "$account", "asset_code": "COIN", "amount": 5, "expires_at": "$later"},
         keyed=True),
    Case("GET", "/v1/ledger/holds/{hold_id}", "ledger.read", 200),
    Case("POST", "/v1/ledger/holds/{hold_id}/capture", "ledger.write", 200,
         {"credit_account_id": "$issuance"}, keyed=True),
    Case("POST", "/v1/ledger/holds/{hold_id}/release", "ledger.write", 200, keyed=True),
    Case("GET", "/v1/admin/users", "users.read", 200),
    Case("GET", "/v1/admin/users/{user_id}", "users.read", 200),
    Case("POST", "/v1/admin/users/{user_id}/status", "users.manage", 200,
         {"status": "suspended", "reason": "matrix"}),
    Case("GET", "/v1/admin/kyc", "kyc.review", 200),
    Case("POST", "/v1/admin/kyc/{record_id}/review", "kyc.review", 200, {"decision": "verify"}),
    Case("POST", "/v1/admin/users/{user_id}/wallet/adjustments", "wallet.adjust", 201,
         {"asset_code": "COIN", "amount": 5, "reason": "matrix"}, keyed=True),
    Case("GET", "/v1/admin/admins", "admins.manage", 200),
    Case("POST", "/v1/admin/admins", "admins.manage", 201,
         {"email": "$new_email", "name": "New Admin"}),
    Case("GET", "/v1/admin/admins/{admin_id}", "admins.manage", 200),
    Case("PATCH", "/v1/admin/admins/{admin_id}", "admins.manage", 200, {"name": "Renamed"}),
    Case("GET", "/v1/admin/permissions", "roles.manage", 200),
    Case("GET", "/v1/admin/roles", "roles.manage", 200),
    Case("PUT", "/v1/admin/roles/{name}", "roles.manage", 200,
         {"name": "matrix_role", "permissions": []}),
    Case("GET", "/v1/admin/api-keys", "api_keys.manage", 200),
    Case("POST", "/v1/admin/api-keys", "api_keys.manage", 201,
         {"name": "matrix", "permissions": []}),
    Case("POST", "/v1/admin/api-keys/{key_id}/revoke", "api_keys.manage", 200),
    Case("GET", "/v1/admin/audit", "audit.read", 200),
    Case("GET", "/v1/admin/settings", "settings.manage", 200),
    Case("PUT", "/v1/admin/settings/{key}", "settings.manage", 200,
         {"value": 1, "value_type": "int"}),
    Case("GET", "/v1/admin/flags", "settings.manage", 200),
    Case("PUT", "/v1/admin/flags/{key}", "settings.manage", 200, {"enabled": True}),
]
# Back-office routes any signed-in admin (or nobody yet) may call.
OPEN = {("POST", "/v1/admin/auth/login"), ("GET", "/v1/admin/me")}
GUARDED_PREFIXES = ("/v1/admin/", "/v1/ledger/")
# The domains whose routes the matrix below covers with a succeeding request too; other
# domains' back-office routes get the refusal half (test_other_back_office_routes_...).
COVERED = ("gullak.access.", "gullak.identity.", "gullak.ledger.")


def api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """(served path, route) of every API route the app serves, included routers unfolded."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes are the routes themselves
        return [(r.path, r) for r in app.routes if isinstance(r, APIRoute)]
    return [(c.path, c.original_route) for c in iter_route_contexts(app.routes)
            if isinstance(c.original_route, APIRoute)]


def declared_permissions(route: APIRoute) -> list[str]:
    """The permissions that the route's require() guards name."""
    found: list[str] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        stack.extend(dependency.dependencies)
        call = dependency.call
        if call is not None and getattr(call, "__qualname__", "").startswith("require."):
            permission = inspect.getclosurevars(call).nonlocals.get("permission")
            if isinstance(permission, str):
                found.append(permission)
    return sorted(set(found))


@dataclass(frozen=True)
class Served:
    module: str
    permissions: list[str]


def served_routes(app: FastAPI) -> dict[tuple[str, str], Served]:
    served = {}
    for path, route in api_routes(app):
        for method in route.methods - {"HEAD", "OPTIONS"}:
            served[(method, path)] = Served(route.endpoint.__module__ + ".",
                                            declared_permissions(route))
    return served


def test_every_guarded_route_has_a_case(app: FastAPI) -> None:
    served = served_routes(app)
    cases = {c.route: c for c in CASES}
    assert len(cases) == len(CASES), "a route has two cases"
    assert any(s.permissions for s in served.values()), "no require() guard found at all"
    back_office = {r for r in served if r[1].startswith(GUARDED_PREFIXES)}
    open_ = sorted(r for r in back_office - OPEN if not served[r].permissions)
    assert open_ == [], "back-office routes that any signed-in caller may use"
    covered = {r for r, s in served.items() if s.module.startswith(COVERED)
               and (s.permissions or r in back_office)}
    assert sorted(covered - cases.keys() - OPEN) == [], "guarded routes without a case"
    assert sorted(cases.keys() - served.keys()) == [], "cases for routes that are gone"
    wrong = {r: (served[r].permissions, c.permission) for r, c in cases.items()
             if served[r].permissions != [c.permission]}
    assert wrong == {}, "cases whose permission differs from the route's guard"


def dummy_path(template: str) -> str:
    # Ids that exist nowhere: the guard must refuse before anything is looked up.
    return re.sub(r"\{([^}:]+)(:[^}]*)?\}",
                  lambda m: str(uuid.uuid4()) if m.group(1).endswith("id") else "x", template)


async def test_other_back_office_routes_refuse_an_admin_without_their_permission(
        app: FastAPI, client: httpx.AsyncClient, session: AsyncSession,
        connection: AsyncConnection, settings: Settings) -> None:
    everything = [p.code for p in await access.list_permissions(session)]
    await put_role(session, "lacking", [])
    lacking = await log_in(client, await make_admin(session, settings, ["lacking"]))
    cases = {c.route for c in CASES}
    routes = {r: s for r, s in served_routes(app).items()
              if r[1].startswith(GUARDED_PREFIXES) and r not in cases and s.permissions}
    # The loop itself rewrites the role (and denials are audited); nothing else may change.
    rewritten = ("audit_log", "roles", "role_permissions")
    before = await fingerprint(connection, exclude=rewritten)
    # Each domain outside the matrix has back-office routes: the loop cannot pass by
    # checking none of them.
    domains = {route.module.split(".")[1] for route in routes.values()}
    assert domains >= {"catalog", "discovery", "merchants", "offers"}, domains
    wrong: dict[str, Any] = {}
    checked = 0
    for (method, template), route in sorted(routes.items()):
        for permission in route.permissions:
            checked += 1
            await put_role(session, "lacking",
                           [p for p in everything if p not in (permission, "*")])
            path = dummy_path(template)
            r = await client.request(method, path, headers=lacking.headers)
            entries = await audit_rows(connection, actor_id=lacking.id,
                                       request_id=r.headers["x-request-id"])
            seen = (r.status_code, r.json().get("code"),
                    [(e["action"], e["outcome"], e["entity_id"]) for e in entries])
            expected = (403, "forbidden", [(f"denied:{permission}", "denied", f"{method} {path}")])
            if seen != expected:
                wrong[f"{method} {template} without {permission}"] = seen
    assert wrong == {}
    assert checked == sum(len(route.permissions) for route in routes.values()) >= len(routes)
    assert changed(before, await fingerprint(connection, exclude=rewritten)) == []


class World:
    """What the matrix requests refer to, made on demand through the services."""

    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session, self.settings = session, settings
        self._cache: dict[str, Any] = {}

    async def once(self, name: str, make: Any) -> Any:
        if name not in self._cache:
            self._cache[name] = await make()
        return self._cache[name]

    async def issuance(self) -> AccountOut:
        async def make() -> AccountOut:
            await ledger.create_asset(self.session, AssetIn(code="COIN", name="Coins",
                                                            kind="coin", scale=0))
            return await ledger.platform_account(self.session, "COIN", "issuance")
        result: AccountOut = await self.once("issuance", make)
        return result

    async def funding(self) -> TransferOut:
        async def make() -> TransferOut:
            issuance = await self.issuance()
            account = await ledger.user_account(self.session, await self.user(), "COIN")
            return await ledger.transfer(self.session, TransferIn(
                debit_account_id=issuance.id, credit_account_id=account.id, asset_code="COIN",
                amount=100, kind="earn"))
        result: TransferOut = await self.once("funding", make)
        return result

    async def account(self) -> uuid.UUID:
        return (await self.funding()).credit_account_id

    async def hold(self) -> uuid.UUID:
        async def make() -> uuid.UUID:
            out = await ledger.place_hold(self.session, HoldIn(
                account_id=await self.account(), asset_code="COIN", amount=10,
                expires_at=clock.now() + dt.timedelta(hours=1)))
            return out.id
        result: uuid.UUID = await self.once("hold", make)
        return result

    async def user(self) -> uuid.UUID:
        async def make() -> uuid.UUID:
            user = User(phone=f"+9197{serial():08d}", referral_code=f"MX{uuid.uuid4().hex[:8]}")
            self.session.add(user)
            await self.session.flush()
            return user.id
        result: uuid.UUID = await self.once("user", make)
        return result

    async def kyc(self) -> uuid.UUID:
        async def make() -> uuid.UUID:
            out = await identity.submit_kyc(self.session, self.settings, await self.user(),
                                            KycIn(document_type="pan",
                                                  document_number="ABCDE1234F"))
            return out.id
        result: uuid.UUID = await self.once("kyc", make)
        return result

    async def value(self, name: str) -> Any:
        """A placeholder's value: a path parameter or a `$name` in a body or query."""
        match name:
            case "account_id" | "account":
                return str(await self.account())
            case "issuance":
                return str((await self.issuance()).id)
            case "transfer_id":
                return str((await self.funding()).id)
            case "hold_id":
                return str(await self.hold())
            case "user_id":
                await self.funding()  # the wallet exists, the asset too
                return str(await self.user())
            case "record_id":
                return str(await self.kyc())
            case "admin_id":
                return str((await self.once("admin", lambda: make_admin(
                    self.session, self.settings))).id)
            case "key_id":
                return str((await self.once("key", lambda: make_key(
                    self.session, "ledger.read"))).id)
            case "code":
                await self.issuance()
                return "COIN"
            case "name":
                return "matrix_role"
            case "key":
                return "matrix.key"
            case "new_id":
                return str(uuid.uuid4())
            case "new_email":
                return f"new{serial()}@example.com"
            case "now":
                return clock.now().isoformat()
            case "later":
                return (clock.now() + dt.timedelta(hours=1)).isoformat()
        raise KeyError(name)

    async def fill(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            return await self.value(value[1:])
        if isinstance(value, dict):
            return {k: await self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [await self.fill(v) for v in value]
        return value

    async def request(self, case: Case) -> tuple[str, Any, dict[str, str]]:
        await self.issuance()
        path = case.path
        for name in [p.split("}")[0] for p in case.path.split("{")[1:]]:
            path = path.replace("{" + name + "}", await self.value(name))
        return path, await self.fill(case.body), await self.fill(case.query)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
async def test_permission_matrix(case: Case, client: httpx.AsyncClient, session: AsyncSession,
                                 connection: AsyncConnection, settings: Settings) -> None:
    everything = [p.code for p in await access.list_permissions(session)]
    await put_role(session, "lacking", [p for p in everything if p not in (case.permission, "*")])
    await put_role(session, "holding", [case.permission])
    lacking = await log_in(client, await make_admin(session, settings, ["lacking"]))
    holding = await log_in(client, await make_admin(session, settings, ["holding"]))
    path, body, query = await World(session, settings).request(case)

    def send(admin: Admin) -> Any:
        headers = dict(admin.headers)
        if case.keyed:
            headers["idempotency-key"] = f"matrix-{uuid.uuid4()}"
        return client.request(case.method, path, json=body, params=query, headers=headers)

    before = await fingerprint(connection, exclude=("audit_log",))
    r = await send(lacking)
    assert_problem(r, 403, "forbidden")
    assert changed(before, await fingerprint(connection, exclude=("audit_log",))) == []
    [entry] = await audit_rows(connection, actor_id=lacking.id)
    assert (entry["actor_type"], entry["outcome"], entry["action"]) == (
        "admin", "denied", f"denied:{case.permission}")
    assert (entry["entity_type"], entry["entity_id"]) == ("route", f"{case.method} {path}")
    assert entry["request_id"] == r.headers["x-request-id"]

    r = await send(holding)
    assert r.status_code == case.ok, r.text
