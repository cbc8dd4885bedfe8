"""Every page of both menus answers 200 to an account that may open it, on a database with
only what the migrations put there; the menu shows an admin only what their roles allow."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.console.menu import ITEMS, MERCHANT_ITEMS
from gullak.settings import Settings
from tests.helpers.console import admin_browser, merchant_browser, super_browser
from tests.helpers.merchants import new_merchant

LINK = re.compile(r'<a href="(/console[^"]*)"')


async def test_every_console_page_opens_for_an_admin_with_every_permission(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    browser = await super_browser(client, session, settings)
    failed = {}
    for item in ITEMS:
        r = await browser.get(item.path)
        if r.status_code != 200:
            failed[item.path] = r.status_code
        else:
            assert "<h1>" in r.text, item.path
    assert failed == {}


async def test_every_portal_page_opens_for_an_owner(client: httpx.AsyncClient,
                                                    session: AsyncSession) -> None:
    merchant = await new_merchant(session)
    browser = await merchant_browser(client, session, merchant.id)
    failed = {item.path: r.status_code for item in MERCHANT_ITEMS
              if (r := await browser.get(item.path)).status_code != 200}
    assert failed == {}


async def test_the_menu_lists_only_what_the_roles_allow(client: httpx.AsyncClient,
                                                       session: AsyncSession,
                                                       settings: Settings) -> None:
    browser = await admin_browser(client, session, settings, "support.read", "users.read")
    home = await browser.get("/console")
    listed = set(LINK.findall(home.text))
    assert {"/console/users", "/console/queues/tickets"} <= listed
    assert not listed & {"/console/ledger", "/console/settlements", "/console/queues/withdrawals",
                         "/console/admins", "/console/audit"}


async def test_an_unknown_page_is_a_page(client: httpx.AsyncClient) -> None:
    r = await client.get("/console/no/such/page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "content-security-policy" in r.headers


async def test_menu_counts_are_kept_briefly_and_dropped_by_a_write(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from gullak.console import menu

    calls: list[str] = []
    real = menu.COUNTS["kyc"]

    async def counted(session: AsyncSession) -> int:
        calls.append("kyc")
        return await real(session)

    monkeypatch.setitem(menu.COUNTS, "kyc", counted)
    browser = await admin_browser(client, session, settings, "kyc.review")
    await browser.get("/console")
    await browser.get("/console/queues/kyc")
    assert calls == ["kyc"]  # the second page used the kept count
    await browser.post("/console/logout")
    await admin_browser(client, session, settings, "kyc.review")
    assert calls == ["kyc", "kyc"]  # the write dropped it
