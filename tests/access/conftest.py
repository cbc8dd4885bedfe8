"""Back-office fixtures: admins signed in with password and TOTP, roles, API keys, and the
checks every refusal gets (problem+json with a stable code, nothing changed)."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.access import service as access
from gullak.access.schemas import AdminIn, ApiKeyIn, RoleIn
from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import request_session, transaction
from gullak.kit import clock, passwords
from gullak.settings import Settings
from tests.conftest import http_client

PROBLEM = "application/problem+json"
USER_AGENT = "gullak-access-tests/1.0"
_serial = itertools.count(1)


def serial() -> int:
    return next(_serial)


async def no_server_errors(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.method, str(response.request.url),
                                        response.status_code)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The production argon2 parameters cost about 0.4 s per hash and per check on this
    # machine. Nothing here depends on them: a check reads the parameters from the stored hash.
    monkeypatch.setattr(passwords, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(autouse=True)
def _empty_setting_cache() -> Iterator[None]:
    # The cache is per process and outlives each test's rolled-back transaction.
    access.clear_cache()
    yield
    access.clear_cache()


@pytest.fixture(scope="session")
def access_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(env="test", data_dir=tmp_path_factory.mktemp("access") / "data",
                    max_body_bytes=64 * 1024)


@pytest.fixture
def settings(access_settings: Settings) -> Settings:
    # The app below is shared, so the settings (and the keys in their data folder) are too.
    return access_settings


@pytest.fixture(scope="session")
def shared_app(access_settings: Settings, db: Database) -> FastAPI:
    # FastAPI works out an app's routes on its first request, which costs about half a
    # second with every domain mounted: one app serves every test here.
    return create_app(access_settings, db)


@pytest.fixture
def app(shared_app: FastAPI, connection: AsyncConnection) -> Iterator[FastAPI]:
    """The shared app, every request's unit of work inside this test's rolled-back
    transaction (as in tests/conftest.py)."""

    async def test_session() -> AsyncIterator[AsyncSession]:
        async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint",
                                expire_on_commit=False) as s, transaction(s):
            yield s

    shared_app.dependency_overrides[request_session] = test_session
    yield shared_app
    shared_app.dependency_overrides.clear()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app over HTTP; any 5xx fails the test on the spot."""
    async with http_client(app) as c:
        c.headers["user-agent"] = USER_AGENT
        c.event_hooks["response"].append(no_server_errors)
        yield c


# -- admins -----------------------------------------------------------------------------------

@dataclass
class Admin:
    id: uuid.UUID
    email: str
    password: str
    totp_secret: str
    access: str = ""
    refresh: str = ""

    def code(self) -> str:
        # The app checks codes against its own clock, which tests may move.
        return pyotp.TOTP(self.totp_secret).at(clock.now())

    @property
    def headers(self) -> dict[str, str]:
        assert self.access, "not signed in"
        return {"authorization": f"Bearer {self.access}"}


async def make_admin(session: AsyncSession, settings: Settings, roles: list[str] | None = None,
                     *, email: str | None = None, name: str = "Test Admin") -> Admin:
    out = await access.create_admin(session, settings, AdminIn(
        email=email or f"admin{serial()}@example.com", name=name, roles=roles or []))
    return Admin(out.id, out.email, out.password, out.totp_secret)


def wrong_code(secret: str) -> str:
    """A well-formed code that the app does not accept now: an old one, outside the
    window of one step either side that the check allows."""
    totp, now = pyotp.TOTP(secret), clock.now()
    accepted = {totp.at(now + dt.timedelta(seconds=s)) for s in (-30, 0, 30)}
    return next(c for c in (totp.at(now - dt.timedelta(minutes=m)) for m in range(5, 120))
                if c not in accepted)


def login_body(admin: Admin, **override: Any) -> dict[str, Any]:
    return {"email": admin.email, "password": admin.password, "totp_code": admin.code(),
            **override}


async def log_in(client: httpx.AsyncClient, admin: Admin) -> Admin:
    r = await client.post("/v1/admin/auth/login", json=login_body(admin))
    assert r.status_code == 200, r.text
    admin.access, admin.refresh = r.json()["access_token"], r.json()["refresh_token"]
    return admin


async def put_role(session: AsyncSession, name: str, permissions: list[str]) -> None:
    await access.put_role(session, RoleIn(name=name, permissions=permissions))


async def admin_with(client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
                     *permissions: str) -> Admin:
    """A signed-in admin whose one role holds exactly `permissions`."""
    role = f"role_{serial()}"
    await put_role(session, role, list(permissions))
    return await log_in(client, await make_admin(session, settings, [role]))


@pytest.fixture
async def root(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> Admin:
    """A signed-in super admin."""
    return await log_in(client, await make_admin(session, settings, ["super_admin"],
                                                 name="Root"))


# -- API keys ---------------------------------------------------------------------------------

def basic(holder: str, key: str) -> dict[str, str]:
    token = base64.b64encode(f"{holder}:{key}".encode()).decode()
    return {"authorization": f"Basic {token}"}


@dataclass
class Key:
    id: uuid.UUID
    holder: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return basic(self.holder, self.key)


async def make_key(session: AsyncSession, *permissions: str) -> Key:
    out = await access.create_api_key(session, ApiKeyIn(name=f"client {serial()}",
                                                        permissions=list(permissions)), None)
    return Key(out.id, out.holder, out.key)


# -- checks -----------------------------------------------------------------------------------

def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM, response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    assert body["title"] and body["detail"]
    return body


async def fingerprint(connection: AsyncConnection, *, exclude: tuple[str, ...] = ()
                      ) -> dict[str, str]:
    """A digest of every table's rows: equal fingerprints mean nothing was written."""
    names = [n for n in (await connection.scalars(text(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        " AND table_type = 'BASE TABLE' ORDER BY 1"))).all() if n not in exclude]
    query = " UNION ALL ".join(
        f"SELECT '{n}' AS name, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
        f" AS digest FROM \"{n}\" t" for n in names)
    return {r.name: r.digest for r in await connection.execute(text(query))}


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))


async def audit_rows(connection: AsyncConnection, **where: Any) -> list[dict[str, Any]]:
    """Audit entries matching every column = value given, oldest first."""
    clause = " AND ".join(f"{column} = :{column}" for column in where) or "true"
    rows = await connection.execute(text(f"SELECT * FROM audit_log WHERE {clause} ORDER BY id"),
                                    where)
    return [dict(r) for r in rows.mappings()]
