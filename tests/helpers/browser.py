"""The console in a real browser: the app served by uvicorn on 127.0.0.1 over a database of its
own, Debian's Chromium driven by Playwright (no browser download), signing in through the
forms, and what a page reported that a person would not see (console errors, uncaught
exceptions, refusals by the Content-Security-Policy)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Error,
    Page,
    Response,
    async_playwright,
)
from sqlalchemy import text

from gullak.access import service as access
from gullak.db import embedded
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger.verify import verify_database
from gullak.merchants import service as merchants
from gullak.merchants.schemas import MerchantUserIn, Role
from gullak.settings import Settings
from tests.helpers import admins
from tests.helpers.admins import Admin, serial
from tests.helpers.merchants import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".gullak-test" / "screenshots"
NAMES = ("chromium", "chromium-browser", "google-chrome")
MISSING = "Chromium is not installed: apt-get install chromium (the browser tests need it)"
STARTUP_SECONDS = 30.0


def chromium_path() -> str | None:
    """GULLAK_CHROMIUM, else the first Chromium on the PATH; None when there is none."""
    given = os.environ.get("GULLAK_CHROMIUM")
    if given:
        return given
    return next((found for found in map(shutil.which, NAMES) if found), None)


@asynccontextmanager
async def own_database(admin_url: str, server_url: str, template_url: str,
                       pgbouncer: bool) -> AsyncIterator[Database]:
    """A copy of the migrated template for the served app (its requests commit); its ledger
    must verify afterwards, as after every test on a database of its own."""
    name = f"gullak_test_{uuid.uuid4().hex[:12]}"
    template = template_url.rsplit("/", 1)[1].split("?")[0]
    embedded.ensure_database(admin_url, name, template=template)
    db = Database(embedded.with_database(server_url, name), pool_size=5, max_overflow=20,
                  pgbouncer=pgbouncer)
    try:
        yield db
        report = await verify_database(db)
        failed = [(c.name, c.sample) for c in report.checks if not c.ok]
        assert report.ok, f"the ledger does not verify after the browser tests: {failed}"
    finally:
        await db.dispose()
        embedded.drop_database(admin_url, name)


class _Server(uvicorn.Server):
    # Ctrl-C stays pytest's: the server in the tests' event loop takes no signals.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """The app under uvicorn in this event loop, on a port the system picks; its base URL."""
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                    lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the console's server stopped while starting")
            if time.monotonic() > deadline:
                raise RuntimeError("the console's server did not start")
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def chromium(path: str) -> AsyncIterator[Browser]:
    """Headless Chromium at `path` (as root it needs --no-sandbox)."""
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=path, headless=True,
                                               args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Site:
    """The served app: where it answers, its database and its settings."""

    base: str
    db: Database
    settings: Settings

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.db.engine.connect() as conn:
            return await conn.scalar(text(sql), params)

    async def admin(self, *permissions: str) -> Admin:
        """A new admin whose one role holds `permissions` (every permission there is if none
        is named), committed."""
        async with unit_of_work(self.db) as session:
            codes = list(permissions) or [p.code for p in await access.list_permissions(session)]
            role = f"role_{serial()}"
            await admins.put_role(session, role, codes)
            return await admins.make_admin(session, self.settings, [role])

    async def merchant_user(self, merchant_id: uuid.UUID, role: Role = Role.owner) -> str:
        """A new merchant user of `merchant_id`, committed; its email (the password is
        tests.helpers.merchants.PASSWORD)."""
        email = f"portal{serial()}@example.com"
        async with unit_of_work(self.db) as session:
            await merchants.create_merchant_user(session, merchant_id, MerchantUserIn(
                email=email, name="Portal Staff", role=role, password=PASSWORD), None)
        return email


@dataclass
class Tab:
    """One page of a browser context of its own (its own cookies), and what it reported."""

    page: Page
    problems: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)  # the confirmations accepted

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", self._error)
        self.page.on("dialog", self._confirm)

    async def _confirm(self, dialog: Dialog) -> None:
        # A person asked "are you sure?" (a form's data-confirm) says yes.
        self.confirmed.append(dialog.message)
        await dialog.accept()

    def _console(self, message: ConsoleMessage) -> None:
        where = message.location.get("url") or ""
        if message.type == "error":
            self.problems.append(f"console error: {message.text}" + (f" ({where})" if where
                                                                       else ""))

    def _error(self, error: Error) -> None:
        self.problems.append(f"uncaught: {error}")

    async def open(self, path: str) -> Response:
        """Goes to `path` and answers its response (the last one, after redirects)."""
        response = await self.page.goto(path)
        assert response is not None, f"no response for {path}"
        return response

    async def submit(self, button: str) -> Response | None:
        """Clicks the button named `button` and waits for the page it leads to (the
        response of that navigation; None if the click did not navigate)."""
        async with self.page.expect_navigation() as navigation:
            await self.page.get_by_role("button", name=button, exact=True).click()
        return await navigation.value

    async def menu(self) -> list[str]:
        """The paths of the side menu's items, in order."""
        links: list[str] = await self.page.eval_on_selector_all(
            "nav.side a:not(.brand)", "links => links.map(a => a.getAttribute('href'))")
        return list(dict.fromkeys(links))

    async def menu_labels(self) -> list[str]:
        return [label.strip() for label in
                await self.page.locator("nav.side a:not(.brand) span:first-child")
                .all_inner_texts()]

    async def screenshot(self, portal: str, path: str) -> Path:
        """A full-page picture into .gullak-test/screenshots/<portal>-<slug>.png."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{portal}-{slug(path)}.png"
        await self.page.screenshot(path=str(target), full_page=True)
        return target


def slug(path: str) -> str:
    """`/console/queues/kyc` -> `queues-kyc`; a portal's home -> `home`."""
    parts = [p for p in path.split("?")[0].strip("/").split("/")[1:] if p]
    return "-".join(parts) or "home"


OpenTab = Callable[[], Awaitable[Tab]]  # the open_tab fixture: a tab of a new context


async def admin_signs_in(tab: Tab, admin: Admin) -> Response | None:
    """The console's sign-in form filled in with password and authenticator code."""
    await tab.open("/console/login")
    await tab.page.get_by_label("Email").fill(admin.email)
    await tab.page.get_by_label("Password").fill(admin.password)
    await tab.page.get_by_label("Authenticator code").fill(admin.code())
    return await tab.submit("Sign in")


async def merchant_signs_in(tab: Tab, email: str,
                            password: str = PASSWORD) -> Response | None:
    await tab.open("/merchant/login")
    await tab.page.get_by_label("Email").fill(email)
    await tab.page.get_by_label("Password").fill(password)
    return await tab.submit("Sign in")
