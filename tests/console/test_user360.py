"""One user seen whole in the console: each section only with its permission; status changes
that need a reason, ended sessions, and wallet adjustments that are ledger transfers."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.identity import service as identity
from gullak.identity.schemas import PushDeviceIn
from gullak.kit import clock
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetIn
from gullak.ledger.verify import verify
from gullak.settings import Settings
from tests.helpers.console import Browser, admin_browser, super_browser
from tests.helpers.identity import session_id
from tests.helpers.state import audit_rows, changed, fingerprint
from tests.helpers.users import SignedIn, sign_in

TABS = {"profile": "users.read", "sessions": "users.read", "wallet": "ledger.read",
        "orders": "orders.read", "rewards": "rewards.read", "referrals": "referrals.read",
        "tickets": "support.read", "notifications": "notifications.manage",
        "audit": "audit.read"}
KEY = re.compile(r'name="key" value="([0-9a-f]+)"')


async def _coins(session: AsyncSession) -> None:
    await ledger.create_asset(session, AssetIn(code="COIN", name="Coins", kind="coin", scale=0))


def _tabs(html: str) -> set[str]:
    return set(re.findall(r'<a href="\?tab=([a-z]+)"', html))


async def test_each_section_shows_with_its_permission_only(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    user = await sign_in(client, connection)
    url = f"/console/users/{user.user['id']}"
    reader = await admin_browser(client, session, settings, "users.read", "orders.read")
    r = await reader.get(url)
    assert r.status_code == 200, r.text
    assert user.phone in r.text
    assert _tabs(r.text) == {"profile", "sessions", "orders"}
    assert 'action="' + url + '/status"' not in r.text  # no users.manage: no status form
    assert (await reader.get(url, tab="orders")).status_code == 200
    for tab in ("wallet", "rewards", "referrals", "tickets", "notifications", "audit"):
        assert (await reader.get(url, tab=tab)).status_code == 403, tab
    assert len(await audit_rows(connection, actor_id=reader.subject_id,
                                action="denied:ledger.read")) == 1
    await reader.post("/console/logout")

    everyone = await super_browser(client, session, settings)
    r = await everyone.get(url)
    assert _tabs(r.text) == set(TABS)
    assert 'action="' + url + '/status"' in r.text
    for tab in TABS:
        r = await everyone.get(url, tab=tab)
        assert r.status_code == 200, (tab, r.text)
    assert (await everyone.get(url, tab="secrets")).status_code == 422
    assert (await everyone.get(url, tab="orders", cursor="nope")).status_code == 422
    assert (await everyone.get(f"/console/users/{uuid.uuid4()}")).status_code == 404
    assert (await everyone.get("/console/users/not-an-id")).status_code == 422


async def test_a_status_change_needs_a_reason_and_is_audited(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    user = await sign_in(client, connection)
    uid = user.user["id"]
    browser = await admin_browser(client, session, settings, "users.read", "users.manage")
    before = await fingerprint(connection, exclude=("audit_log",))
    for reason in ("", "   "):
        r = await browser.post(f"/console/users/{uid}/status",
                               {"status": "suspended", "reason": reason})
        assert r.status_code == 422, r.text
    r = await browser.post(f"/console/users/{uid}/status", {"status": "frozen", "reason": "x"})
    assert r.status_code == 422
    assert changed(before, await fingerprint(connection, exclude=("audit_log",))) == []

    r = await browser.post(f"/console/users/{uid}/status",
                           {"status": "suspended", "reason": "card testing"})
    assert r.status_code == 303 and r.headers["location"] == f"/console/users/{uid}"
    found = await identity.get_user(session, uuid.UUID(uid))
    await session.refresh(found)
    assert (found.status, found.status_reason) == ("suspended", "card testing")
    rows = await audit_rows(connection, action="user.status", entity_id=uid)
    assert len(rows) == 1 and rows[0]["actor_id"] == browser.subject_id
    assert (rows[0]["before"]["status"], rows[0]["after"]["status"]) == ("active", "suspended")
    # Leaving `active` ended the user's sessions.
    assert (await client.get("/v1/me", headers=user.headers)).status_code == 401
    page = await browser.get(f"/console/users/{uid}")
    assert "card testing" in page.text and "The account is suspended." in page.text


async def test_changing_status_needs_users_manage(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    user = await sign_in(client, connection)
    browser = await admin_browser(client, session, settings, "users.read")
    before = await fingerprint(connection, exclude=("audit_log",))
    r = await browser.post(f"/console/users/{user.user['id']}/status",
                           {"status": "blocked", "reason": "no"})
    assert r.status_code == 403
    assert changed(before, await fingerprint(connection, exclude=("audit_log",))) == []
    assert (await client.get("/v1/me", headers=user.headers)).status_code == 200


async def test_an_admin_ends_a_users_session_and_forgets_a_device(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    phone_session = await sign_in(client, connection)
    uid = phone_session.user["id"]
    clock.freeze(clock.now() + dt.timedelta(seconds=61))  # past the code's resend cooldown
    tablet_session = await sign_in(client, connection, phone_session.phone)
    await identity.put_device(session, uuid.UUID(uid), "tablet-7",
                              PushDeviceIn(platform="android", name="Tablet", push_token="t"))
    browser = await admin_browser(client, session, settings, "users.read", "users.manage")
    url = f"/console/users/{uid}"
    page = await browser.get(url, tab="sessions")
    sid = session_id(phone_session)
    assert f"{url}/sessions/{sid}/end" in page.text and "tablet-7" in page.text

    r = await browser.post(f"{url}/sessions/{sid}/end")
    assert r.status_code == 303, r.text
    assert (await client.get("/v1/me", headers=phone_session.headers)).status_code == 401
    assert (await client.get("/v1/me", headers=tablet_session.headers)).status_code == 200
    assert await audit_rows(connection, action="user.session.end", entity_id=uid)
    assert (await browser.post(f"{url}/sessions/{sid}/end")).status_code == 404
    other = await sign_in(client, connection)  # another user's session is not this user's
    assert (await browser.post(f"{url}/sessions/{session_id(other)}/end")).status_code == 404
    assert (await client.get("/v1/me", headers=other.headers)).status_code == 200

    r = await browser.post(f"{url}/devices/remove", {"device_id": "tablet-7"})
    assert r.status_code == 303
    assert await identity.list_devices(session, uuid.UUID(uid)) == []
    r = await browser.post(f"{url}/sessions/end-all")
    assert r.status_code == 303
    assert (await client.get("/v1/me", headers=tablet_session.headers)).status_code == 401


async def test_ending_sessions_needs_users_manage(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    user = await sign_in(client, connection)
    browser = await admin_browser(client, session, settings, "users.read")
    url = f"/console/users/{user.user['id']}"
    page = await browser.get(url, tab="sessions")
    assert "/end" not in page.text  # no buttons it may not use
    assert (await browser.post(f"{url}/sessions/{session_id(user)}/end")).status_code == 403
    assert (await browser.post(f"{url}/sessions/end-all")).status_code == 403
    assert (await client.get("/v1/me", headers=user.headers)).status_code == 200


# -- wallet ---------------------------------------------------------------------------------

async def _form_key(browser: Browser, url: str) -> str:
    page = await browser.get(url, tab="wallet")
    assert page.status_code == 200, page.text
    found = KEY.search(page.text)
    assert found, "no adjustment form"
    return found.group(1)


async def _available(session: AsyncSession, user: SignedIn) -> int:
    held = await identity.wallet(session, uuid.UUID(user.user["id"]))
    return next(h.available for h in held if h.asset_code == "COIN")


async def test_a_wallet_adjustment_is_a_ledger_transfer_with_its_reason(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    await _coins(session)
    user = await sign_in(client, connection)
    uid = user.user["id"]
    url = f"/console/users/{uid}"
    browser = await admin_browser(client, session, settings, "users.read", "ledger.read",
                                  "wallet.adjust")
    key = await _form_key(browser, url)
    r = await browser.post(f"{url}/wallet/adjust", {
        "asset_code": "COIN", "direction": "credit", "amount": "120", "key": key,
        "reason": "missed cashback on order 42"})
    assert r.status_code == 303, r.text
    assert await _available(session, user) == 120
    # The same form sent twice moves nothing more.
    r = await browser.post(f"{url}/wallet/adjust", {
        "asset_code": "COIN", "direction": "credit", "amount": "120", "key": key,
        "reason": "missed cashback on order 42"})
    assert r.status_code == 303
    assert await _available(session, user) == 120

    r = await browser.post(f"{url}/wallet/adjust", {
        "asset_code": "COIN", "direction": "debit", "amount": "20",
        "key": await _form_key(browser, url), "reason": "duplicate credit"})
    assert r.status_code == 303
    assert await _available(session, user) == 100

    transfers = (await connection.execute(text(
        "SELECT t.kind, t.amount, t.metadata->>'reason', t.reference_id, a.owner_id"
        " FROM ledger_transfers t JOIN ledger_accounts a ON a.id = t.credit_account_id"
        " WHERE t.reference_type = 'user' AND t.reference_id = :u ORDER BY t.seq"),
        {"u": uid})).all()
    assert [(t[0], t[1], t[2]) for t in transfers] == [
        ("adjust", 120, "missed cashback on order 42"), ("adjust", 20, "duplicate credit")]
    assert str(transfers[0][4]) == uid and transfers[1][4] is None  # debit: to the platform
    report = await verify(session)
    assert report.ok, [(c.name, c.sample) for c in report.checks if not c.ok]
    rows = await audit_rows(connection, action="wallet.adjust", entity_id=uid)
    assert len(rows) == 3 and rows[0]["after"]["transfer"]["amount"] == 120

    page = await browser.get(url, tab="wallet", asset="COIN")
    assert "duplicate credit" in page.text and "missed cashback on order 42" in page.text


async def test_a_wallet_adjustment_without_a_reason_or_amount_changes_nothing(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    await _coins(session)
    user = await sign_in(client, connection)
    url = f"/console/users/{user.user['id']}"
    browser = await admin_browser(client, session, settings, "users.read", "ledger.read",
                                  "wallet.adjust")
    key = await _form_key(browser, url)
    good = {"asset_code": "COIN", "direction": "credit", "amount": "50", "key": key,
            "reason": "goodwill"}
    before = await fingerprint(connection)
    for bad in ({"reason": ""}, {"reason": "   "}, {"amount": "0"}, {"amount": "-5"},
                {"amount": "1.5"}, {"amount": "ten"}, {"direction": "sideways"},
                {"asset_code": "coin"}, {"key": ""}):
        r = await browser.post(f"{url}/wallet/adjust", {**good, **bad})
        assert r.status_code == 422, (bad, r.text)
    r = await browser.post(f"{url}/wallet/adjust", {**good, "asset_code": "GEM"})
    assert r.status_code == 404
    r = await browser.post(f"{url}/wallet/adjust", {**good, "direction": "debit"})
    assert r.status_code == 422  # more than the wallet holds
    assert changed(before, await fingerprint(connection)) == []
    assert await _available(session, user) == 0


async def test_a_wallet_adjustment_needs_wallet_adjust(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    await _coins(session)
    user = await sign_in(client, connection)
    url = f"/console/users/{user.user['id']}"
    browser = await admin_browser(client, session, settings, "users.read", "ledger.read")
    page = await browser.get(url, tab="wallet")
    assert page.status_code == 200 and f"{url}/wallet/adjust" not in page.text
    before = await fingerprint(connection, exclude=("audit_log",))
    r = await browser.post(f"{url}/wallet/adjust", {
        "asset_code": "COIN", "direction": "credit", "amount": "500", "key": "a" * 32,
        "reason": "I would like some"})
    assert r.status_code == 403
    assert changed(before, await fingerprint(connection, exclude=("audit_log",))) == []
    assert await _available(session, user) == 0
    assert len(await audit_rows(connection, actor_id=browser.subject_id,
                                action="denied:wallet.adjust")) == 1


async def test_a_wallet_adjustment_the_ledger_refuses_leaves_nothing_behind(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        connection: AsyncConnection) -> None:
    await _coins(session)
    user = await sign_in(client, connection)
    uid = uuid.UUID(user.user["id"])
    url = f"/console/users/{uid}"
    browser = await admin_browser(client, session, settings, "users.read", "ledger.read",
                                  "wallet.adjust")
    r = await browser.post(f"{url}/wallet/adjust", {
        "asset_code": "COIN", "direction": "credit", "amount": "100",
        "key": await _form_key(browser, url), "reason": "welcome"})
    assert r.status_code == 303, r.text
    await ledger.freeze(session, (await ledger.user_account(session, uid, "COIN")).id, "fraud")
    key = await _form_key(browser, url)
    before = await fingerprint(connection)
    r = await browser.post(f"{url}/wallet/adjust", {
        "asset_code": "COIN", "direction": "debit", "amount": "10", "key": key,
        "reason": "clawback"})
    assert r.status_code == 422, r.text
    assert "frozen" in r.text.lower()
    assert changed(before, await fingerprint(connection)) == []
    assert await _available(session, user) == 100
