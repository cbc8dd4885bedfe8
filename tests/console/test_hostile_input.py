"""What no client's input may do to the console: answer 5xx or change anything. NUL
characters, lone surrogates, oversized fields and forged cookies, on the forms and the
query strings of both portals."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.settings import Settings
from tests.helpers import admins
from tests.helpers.console import admin_browser, form_token

HOSTILE = ["\x00", "a\x00b@example.com", "\ud800", "x" * 5000, "' OR 1=1 --", "<script>x</script>",
           "%00", "\u202e", "１２３４５６"]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("portal", ["console", "merchant"])
async def test_the_sign_in_form_refuses_hostile_fields(client: httpx.AsyncClient,
                                                       session: AsyncSession, portal: str,
                                                       value: str) -> None:
    page = await client.get(f"/{portal}/login")
    token = form_token(page.text)
    fields = {"email": value, "password": value, "csrf": token, "next": value}
    if portal == "console":
        fields["totp_code"] = value[:10]
    # Encoded by hand: a lone surrogate goes as the bytes a careless client sends.
    body = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in fields.items()})
    r = await client.post(f"/{portal}/login", content=body, headers={
        "content-type": "application/x-www-form-urlencoded"})
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert "gullak_" + portal + "=" not in r.headers.get("set-cookie", "")
    assert await session.scalar(text("SELECT count(*) FROM console_sessions")) == 0


@pytest.mark.parametrize("cookie", ["\x00", "x" * 5000, "' OR 1=1 --", "", "é"])
async def test_forged_session_cookies_sign_nobody_in(client: httpx.AsyncClient,
                                                     cookie: str) -> None:
    raw = b"gullak_console=" + cookie.encode("utf-8")
    r = await client.get("/console", follow_redirects=False, headers={"cookie": raw})
    assert r.status_code == 303 and "/console/login" in r.headers["location"]


@pytest.mark.parametrize("query", ["next=%00", "next=%ED%A0%80", "next=" + "a" * 3000,
                                   "next=javascript:alert(1)", "next=/console%0d%0aSet-Cookie:x=1"])
async def test_the_sign_in_page_takes_any_query(client: httpx.AsyncClient, query: str) -> None:
    r = await client.get(f"/console/login?{query}")
    assert r.status_code in (200, 422), r.status_code
    assert "set-cookie: x=1" not in str(r.headers).lower()


@pytest.mark.parametrize(("path", "query", "status"), [
    ("/console", {"to": "0001-01-01"}, 200),
    ("/console", {"from": "9999-12-31"}, 422),  # up to today: a range ending before it starts
    ("/console", {"from": "9999-12-31", "to": "9999-12-31"}, 200),
    ("/console", {"from": "0001-01-01", "to": "0001-01-01"}, 200),
    ("/console/audit", {"until": "9999-12-31"}, 200),
    ("/console/audit", {"since": "0001-01-01"}, 200)])
async def test_the_first_and_last_days_a_date_holds_are_answered(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings, path: str,
        query: dict[str, str], status: int) -> None:
    # A day 30 days before the first or a day after the last one was an OverflowError (500).
    browser = await admin_browser(client, session, settings, "analytics.read", "audit.read")
    r = await browser.get(path, **query)
    assert r.status_code == status, (r.status_code, r.text[:300])


async def test_an_admin_without_a_queue_permission_is_refused_and_audited(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    browser = await admin_browser(client, session, settings, "users.read")
    r = await browser.get("/console/audit")
    assert r.status_code == 403
    assert "audit.read" in r.text
    denied = await session.scalar(text(
        "SELECT count(*) FROM audit_log WHERE actor_id = :a AND action = 'denied:audit.read'"),
        {"a": browser.subject_id})
    assert denied == 1


async def test_a_wrong_password_does_not_echo_it(client: httpx.AsyncClient,
                                                 session: AsyncSession,
                                                 settings: Settings) -> None:
    admin = await admins.make_admin(session, settings)
    page = await client.get("/console/login")
    secret = "my-secret-password-value"
    r = await client.post("/console/login", data={
        "email": admin.email, "password": secret, "totp_code": admin.code(),
        "csrf": form_token(page.text)})
    assert r.status_code == 401 and secret not in r.text


@pytest.mark.parametrize(("cell", "written"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1+1", "'+1+1"),
    ("@SUM(A1)", "'@SUM(A1)"), ("-30", "-30"), ("-12.50", "-12.50"), ("-1+2", "'-1+2"),
    ("plain", "plain")])
def test_csv_cells_never_run_as_formulas(cell: str, written: str) -> None:
    from gullak.console.tables import _safe

    assert _safe(cell) == written
