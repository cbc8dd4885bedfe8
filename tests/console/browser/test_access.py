"""What an admin may not do, seen in Chromium: the menu hides what the role does not allow,
the page itself refuses it (and the refusal is audited), and a form without its CSRF token
changes nothing."""

from __future__ import annotations

from urllib.parse import urlparse

from playwright.async_api import expect

from tests.helpers.browser import Site, Tab, admin_signs_in

FINANCE = {"Ledger", "Settlements", "Withdrawals"}


def path_of(tab: Tab) -> str:
    return urlparse(tab.page.url).path


async def test_a_support_agent_sees_no_money_and_is_refused_the_ledger(site: Site,
                                                                       tab: Tab) -> None:
    agent = await site.admin("support.read", "users.read")
    await admin_signs_in(tab, agent)
    assert path_of(tab) == "/console"
    labels = await tab.menu_labels()
    assert {"Users", "Support tickets"} <= set(labels), labels  # the menu is there
    assert not FINANCE & set(labels), labels
    assert "/console/ledger" not in await tab.menu()

    response = await tab.open("/console/ledger")
    assert response.status == 403
    assert path_of(tab) == "/console/ledger"  # refused in place, not sent to sign in
    await expect(tab.page.get_by_role("alert")).to_contain_text("ledger.read")
    denied = await site.scalar(
        "SELECT count(*) FROM audit_log WHERE actor_id = :a AND action = 'denied:ledger.read'"
        " AND outcome = 'denied'", a=agent.id)
    assert denied == 1


async def test_a_form_sent_without_its_token_is_refused(site: Site, tab: Tab) -> None:
    admin = await site.admin("users.read")
    await admin_signs_in(tab, admin)
    assert path_of(tab) == "/console"
    left = await tab.page.evaluate("""() => {
        const form = document.querySelector('form[action="/console/logout"]');
        form.querySelector('input[name="csrf"]').remove();
        return form.querySelectorAll('input[name="csrf"]').length;
    }""")
    assert left == 0

    response = await tab.submit("Sign out")
    assert response is not None and response.status == 403
    await expect(tab.page.get_by_role("alert")).to_contain_text("security token")
    home = await tab.open("/console")
    assert home.status == 200 and path_of(tab) == "/console"  # still signed in
    refused = await site.scalar(
        "SELECT count(*) FROM audit_log WHERE actor_id = :a AND action = 'denied:csrf'",
        a=admin.id)
    assert refused == 1

    response = await tab.submit("Sign out")  # with its token, the same form works
    assert response is not None and response.status == 200
    assert path_of(tab) == "/console/login"
