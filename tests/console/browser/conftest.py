"""Browser fixtures: one served app over a database of its own and one Chromium for the
folder (each costs seconds), a browser context of its own per tab (its own cookies). Without
Chromium these tests are skipped; the rest of the suite runs as ever."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.settings import Settings
from tests.helpers.browser import (
    MISSING,
    OpenTab,
    Site,
    Tab,
    chromium,
    chromium_path,
    own_database,
    serve,
)
from tests.helpers.cache import direct_url


@pytest.fixture(scope="session", autouse=True)
def chromium_at() -> str:
    path = chromium_path()
    if path is None:
        # CI installs Chromium (.ci/run) and asks for these tests: there a skip would hide them.
        if os.environ.get("GULLAK_BROWSER_TESTS") == "required":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return path


@pytest.fixture(scope="package")
async def browser_db(admin_url: str, server_url: str,
                     template_url: str) -> AsyncIterator[Database]:
    async with own_database(admin_url, server_url, template_url,
                            Settings().database_pgbouncer) as db:
        yield db


@pytest.fixture(scope="package")
async def site(browser_db: Database,
               tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    settings = Settings(env="test", data_dir=tmp_path_factory.mktemp("browser") / "data")
    if settings.database_pgbouncer:  # the cache listens on the server itself, as deployed
        settings = settings.model_copy(update={"database_listen_url": direct_url(browser_db)})
    async with serve(create_app(settings, browser_db)) as base:
        yield Site(base, browser_db, settings)


@pytest.fixture(scope="package")
async def browser(chromium_at: str) -> AsyncIterator[Browser]:
    async with chromium(chromium_at) as found:
        yield found


@pytest.fixture
async def open_tab(browser: Browser, site: Site) -> AsyncIterator[OpenTab]:
    """Opens tabs as separate people would (a context each); all closed after the test."""
    contexts: list[BrowserContext] = []

    async def opened() -> Tab:
        context = await browser.new_context(base_url=site.base)
        contexts.append(context)
        return Tab(await context.new_page())

    yield opened
    for context in contexts:
        await context.close()


@pytest.fixture
async def tab(open_tab: OpenTab) -> Tab:
    return await open_tab()
