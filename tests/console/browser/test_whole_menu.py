"""Every page of both menus, opened in Chromium by an account that may see it: each answers
200 and runs without an error in the browser's console (a script error, a failed load, or
anything the Content-Security-Policy refused). A full-page picture of each is kept in
.gullak-test/screenshots/ for people to look at. (The name sorts this module last in its
folder: the pages then show what the other tests made, not only their empty state.)"""

from __future__ import annotations

from urllib.parse import urlparse

from gullak.db.uow import unit_of_work
from tests.helpers.admins import serial
from tests.helpers.browser import Site, Tab, admin_signs_in, merchant_signs_in
from tests.helpers.merchants import live_merchant

IDLE_MS = 5_000  # what a page loads after it is shown (htmx fragments, charts)


async def visit_menu(tab: Tab, portal: str) -> list[str]:
    """Opens each item of the signed-in tab's menu; what went wrong, one line per page."""
    paths = await tab.menu()
    assert paths, "the menu is empty"
    failures: list[str] = []
    for path in paths:
        tab.problems.clear()
        response = await tab.open(path)
        try:
            await tab.page.wait_for_load_state("networkidle", timeout=IDLE_MS)
        except Exception:  # a page that keeps polling is still checked as it stands
            pass
        await tab.screenshot(portal, path)
        landed = urlparse(tab.page.url).path
        if response.status != 200:
            failures.append(f"{path}: answered {response.status}")
        elif landed != path:
            failures.append(f"{path}: ended at {landed}")
        failures += [f"{path}: {problem}" for problem in tab.problems]
    return failures


async def test_every_console_page_answers_for_an_admin_with_every_permission(
        site: Site, tab: Tab) -> None:
    await admin_signs_in(tab, await site.admin())
    paths = await tab.menu()
    assert len(paths) >= 20 and "/console/ledger" in paths, paths  # every item is listed
    failures = [f"signing in: {problem}" for problem in tab.problems]
    failures += await visit_menu(tab, "console")
    assert not failures, f"{len(failures)} problems on the console's pages:\n" + \
        "\n".join(failures)


async def test_every_portal_page_answers_for_an_owner(site: Site, tab: Tab) -> None:
    async with unit_of_work(site.db) as session:
        merchant = await live_merchant(session, f"Menu Walk Cafe {serial()}")
    await merchant_signs_in(tab, await site.merchant_user(merchant.id))
    assert urlparse(tab.page.url).path == "/merchant"
    paths = await tab.menu()
    assert "/merchant/orders" in paths, paths
    failures = [f"signing in: {problem}" for problem in tab.problems]
    failures += await visit_menu(tab, "merchant")
    assert not failures, f"{len(failures)} problems on the merchant portal's pages:\n" + \
        "\n".join(failures)
