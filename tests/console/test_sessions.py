"""Signing in and out of the console, the session cookie, CSRF and the idle timeout."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import clock
from gullak.settings import Settings
from tests.helpers import admins
from tests.helpers.console import admin_browser, admin_signed_in, sign_in


async def test_an_admin_signs_in_with_password_and_code(client: httpx.AsyncClient,
                                                        session: AsyncSession,
                                                        settings: Settings) -> None:
    admin = await admins.make_admin(session, settings)
    r = await sign_in(client, "console", admin.email, admin.password, admin.code())
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"]
    assert "gullak_console=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/console" in cookie
    home = await client.get("/console")
    assert home.status_code == 200
    policy = home.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert home.headers["cache-control"] == "no-store"


async def test_a_wrong_code_is_refused_and_signs_nobody_in(client: httpx.AsyncClient,
                                                           session: AsyncSession,
                                                           settings: Settings) -> None:
    admin = await admins.make_admin(session, settings)
    r = await sign_in(client, "console", admin.email, admin.password,
                      admins.wrong_code(admin.totp_secret))
    assert r.status_code == 401
    assert "gullak_console=" not in r.headers.get("set-cookie", "")
    assert admin.password not in r.text
    r = await client.get("/console", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


async def test_sign_in_without_the_forms_token_is_refused(client: httpx.AsyncClient,
                                                          session: AsyncSession,
                                                          settings: Settings) -> None:
    admin = await admins.make_admin(session, settings)
    r = await client.post("/console/login", data={
        "email": admin.email, "password": admin.password, "totp_code": admin.code()})
    assert r.status_code == 403
    assert "gullak_console=" not in r.headers.get("set-cookie", "")


async def test_a_post_without_its_csrf_token_is_refused(client: httpx.AsyncClient,
                                                        session: AsyncSession,
                                                        settings: Settings,
                                                        connection: AsyncConnection) -> None:
    browser = await admin_browser(client, session, settings)
    r = await browser.post("/console/logout", csrf=False)
    assert r.status_code == 403
    r = await browser.post("/console/logout", {"csrf": "forged"}, csrf=False)
    assert r.status_code == 403
    assert (await client.get("/console")).status_code == 200  # still signed in
    r = await browser.post("/console/logout")
    assert r.status_code == 303
    r = await client.get("/console", follow_redirects=False)
    assert r.status_code == 303


async def test_an_idle_session_ends(client: httpx.AsyncClient, session: AsyncSession,
                                    settings: Settings) -> None:
    browser = await admin_browser(client, session, settings)
    clock.freeze(clock.now() + dt.timedelta(minutes=settings.console_idle_minutes + 1))
    r = await client.get("/console", follow_redirects=False)
    assert r.status_code == 303 and "/console/login" in r.headers["location"]
    assert browser.csrf


async def test_next_never_leaves_the_console(client: httpx.AsyncClient, session: AsyncSession,
                                             settings: Settings) -> None:
    admin = await admins.make_admin(session, settings)
    page = await client.get("/console/login?next=//evil.example/x")
    assert 'value="/console"' in page.text
    signed = await admin_signed_in(client, admin)
    assert signed.csrf
