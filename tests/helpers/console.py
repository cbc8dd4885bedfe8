"""The console through HTTP as a browser would use it: the sign-in form, the session cookie,
and form posts that carry the page's CSRF token."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.access import service as access
from gullak.merchants import service as merchants
from gullak.merchants.schemas import MerchantUserIn, Role
from gullak.settings import Settings
from tests.helpers import admins
from tests.helpers.admins import Admin, serial
from tests.helpers.merchants import PASSWORD

PAGE_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
FORM_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


def form_token(html: str) -> str:
    found = FORM_TOKEN.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@dataclass
class Browser:
    """A client signed in to one portal, with its session's CSRF token."""

    client: httpx.AsyncClient
    portal: str
    csrf: str
    subject_id: uuid.UUID

    async def get(self, url: str, **params: Any) -> httpx.Response:
        return await self.client.get(url, params=params or None)

    async def post(self, url: str, data: dict[str, Any] | None = None, *,
                   csrf: bool = True) -> httpx.Response:
        """A form post, as the page's form sends it (with the token unless `csrf=False`)."""
        fields = {k: str(v) for k, v in (data or {}).items()}
        if csrf:
            fields["csrf"] = self.csrf
        return await self.client.post(url, data=fields)

    async def htmx(self, url: str, data: dict[str, Any] | None = None) -> httpx.Response:
        """A post from an htmx button: the token travels in a header."""
        return await self.client.post(url, data={k: str(v) for k, v in (data or {}).items()},
                                      headers={"hx-request": "true",
                                               "x-csrf-token": self.csrf})


async def sign_in(client: httpx.AsyncClient, portal: str, email: str, password: str,
                  totp_code: str | None = None) -> httpx.Response:
    """The sign-in form filled in and sent; the answer (303 on success)."""
    page = await client.get(f"/{portal}/login")
    assert page.status_code == 200, page.text
    fields = {"email": email, "password": password, "csrf": form_token(page.text)}
    if totp_code is not None:
        fields["totp_code"] = totp_code
    return await client.post(f"/{portal}/login", data=fields)


async def _browser(client: httpx.AsyncClient, portal: str, subject_id: uuid.UUID) -> Browser:
    home = await client.get(f"/{portal}")
    assert home.status_code == 200, home.text
    token = PAGE_TOKEN.search(home.text)
    assert token, "no CSRF token on the page"
    return Browser(client, portal, token.group(1), subject_id)


async def admin_signed_in(client: httpx.AsyncClient, admin: Admin) -> Browser:
    admins.fresh_code(admin)
    r = await sign_in(client, "console", admin.email, admin.password, admin.code())
    assert r.status_code == 303, r.text
    admins.signed_in(admin)
    return await _browser(client, "console", admin.id)


async def admin_browser(client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
                        *permissions: str) -> Browser:
    """A console session of an admin whose one role holds exactly `permissions`."""
    role = f"role_{serial()}"
    await admins.put_role(session, role, list(permissions))
    return await admin_signed_in(client, await admins.make_admin(session, settings, [role]))


async def super_browser(client: httpx.AsyncClient, session: AsyncSession,
                        settings: Settings) -> Browser:
    """A console session of an admin with every permission there is."""
    codes = [p.code for p in await access.list_permissions(session)]
    return await admin_browser(client, session, settings, *codes)


async def merchant_browser(client: httpx.AsyncClient, session: AsyncSession,
                           merchant_id: uuid.UUID, role: Role = Role.owner) -> Browser:
    """A portal session of a new merchant user of `merchant_id`."""
    email = f"portal{serial()}@example.com"
    user = await merchants.create_merchant_user(session, merchant_id, MerchantUserIn(
        email=email, name="Portal Staff", role=role, password=PASSWORD), None)
    r = await sign_in(client, "merchant", email, PASSWORD)
    assert r.status_code == 303, r.text
    return await _browser(client, "merchant", user.id)
