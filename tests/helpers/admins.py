"""Back-office admins signed in with password and TOTP, their roles, and API keys."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.access import service as access
from gullak.access.schemas import AdminIn, ApiKeyIn, RoleIn
from gullak.kit import clock
from gullak.settings import Settings
from tests.helpers.users import bearer

USER_AGENT = "gullak-access-tests/1.0"
_serial = itertools.count(1)


def serial() -> int:
    """A number not handed out before in this run: for unique emails and names."""
    return next(_serial)


@dataclass
class Admin:
    id: uuid.UUID
    email: str
    password: str
    totp_secret: str
    access: str = ""
    refresh: str = ""
    signed_in_step: int | None = None  # the authenticator step of the last sign-in

    def code(self) -> str:
        # The app checks codes against its own clock, which tests may move.
        return pyotp.TOTP(self.totp_secret).at(clock.now())

    @property
    def headers(self) -> dict[str, str]:
        assert self.access, "not signed in"
        return bearer(self.access)


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


def fresh_code(admin: Admin) -> None:
    """Move the app's clock to the next authenticator step if `admin` signed in during this
    one: a code signs in once."""
    step = pyotp.TOTP(admin.totp_secret).timecode(clock.now())
    if admin.signed_in_step is not None and admin.signed_in_step >= step:
        clock.advance(dt.timedelta(seconds=30 * (admin.signed_in_step - step + 1)))


def signed_in(admin: Admin) -> None:
    """Note that `admin` signed in with the code of the current step."""
    admin.signed_in_step = pyotp.TOTP(admin.totp_secret).timecode(clock.now())


async def log_in(client: httpx.AsyncClient, admin: Admin) -> Admin:
    fresh_code(admin)
    r = await client.post("/v1/admin/auth/login", json=login_body(admin))
    assert r.status_code == 200, r.text
    admin.access, admin.refresh = r.json()["access_token"], r.json()["refresh_token"]
    signed_in(admin)
    return admin


async def put_role(session: AsyncSession, name: str, permissions: list[str]) -> None:
    await access.put_role(session, RoleIn(name=name, permissions=permissions))


async def admin_with(client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
                     *permissions: str) -> Admin:
    """A signed-in admin whose one role holds exactly `permissions`."""
    role = f"role_{serial()}"
    await put_role(session, role, list(permissions))
    return await log_in(client, await make_admin(session, settings, [role]))


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
