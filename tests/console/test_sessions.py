"""Signing in and out of the console, the session cookie, CSRF and the idle timeout."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.access import service as access
from gullak.access.schemas import AdminUpdateIn
from gullak.console import service as console
from gullak.kit import clock
from gullak.settings import Settings
from tests.helpers import admins
from tests.helpers.console import admin_browser, admin_signed_in, merchant_browser, sign_in
from tests.helpers.merchants import new_merchant


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


async def test_a_disabled_admin_is_signed_out_at_once(client: httpx.AsyncClient,
                                                      session: AsyncSession,
                                                      settings: Settings) -> None:
    browser = await admin_browser(client, session, settings)
    await access.update_admin(session, browser.subject_id, AdminUpdateIn(status="disabled"))
    r = await client.get("/console", follow_redirects=False)
    assert r.status_code == 303 and "/console/login" in r.headers["location"]


async def test_a_console_cookie_does_not_open_the_merchant_portal(client: httpx.AsyncClient,
                                                                  session: AsyncSession,
                                                                  settings: Settings) -> None:
    await admin_browser(client, session, settings)
    r = await client.get("/merchant", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/merchant/login")


async def test_a_merchant_user_signs_in_to_the_portal(client: httpx.AsyncClient,
                                                      session: AsyncSession) -> None:
    merchant = await new_merchant(session)
    browser = await merchant_browser(client, session, merchant.id)
    r = await client.get("/console", follow_redirects=False)
    assert r.status_code == 303  # the portal's session is not the console's
    assert browser.portal == "merchant"


async def test_sessions_over_for_a_week_are_pruned(client: httpx.AsyncClient,
                                                   session: AsyncSession, settings: Settings,
                                                   connection: AsyncConnection) -> None:
    browser = await admin_browser(client, session, settings)
    await browser.post("/console/logout")
    live = await admin_browser(client, session, settings)
    clock.freeze(clock.now() + dt.timedelta(days=8))
    await console.prune(session, older_than=dt.timedelta(days=7))
    ids = set(await session.scalars(text("SELECT subject_id FROM console_sessions")))
    assert browser.subject_id not in ids
    assert live.subject_id not in ids  # expired (12 hours) more than a week ago as well
    assert (await session.scalar(text("SELECT count(*) FROM console_sessions"))) == 0
