"""A refusal answered as a console page leaves nothing behind: what the request wrote before
it is rolled back, as an API refusal's is; an audited refusal keeps its audit row."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from gullak.app import create_app
from gullak.console.web import AdminPage, ConsoleRoute
from gullak.db.engine import Database
from gullak.kit.errors import InvalidInput
from gullak.settings import Settings
from tests.helpers import admins
from tests.helpers.console import admin_signed_in
from tests.helpers.http import http_client
from gullak.db.uow import unit_of_work


async def test_a_refused_post_changes_nothing(fresh_db: Database, settings: Settings) -> None:
    app = create_app(settings, fresh_db)
    router = APIRouter(route_class=ConsoleRoute)

    @router.post("/console/probe")
    async def probe(page: AdminPage) -> None:
        await page.session.execute(text(
            "INSERT INTO departments (id, name) VALUES (gen_random_uuid(), 'probe')"))
        raise InvalidInput("Refused after a write.")

    @router.post("/console/probe-denied")
    async def denied(page: AdminPage) -> None:
        await page.session.execute(text(
            "INSERT INTO departments (id, name) VALUES (gen_random_uuid(), 'denied')"))
        await page.require("no.such.permission")

    app.include_router(router)
    async with unit_of_work(fresh_db) as session:
        admin = await admins.make_admin(session, settings)
    async with http_client(app) as client:
        browser = await admin_signed_in(client, admin)
        r = await browser.post("/console/probe")
        assert r.status_code == 422 and "Refused after a write." in r.text
        r = await browser.post("/console/probe-denied")
        assert r.status_code == 403
    async with fresh_db.engine.connect() as c:
        assert await c.scalar(text("SELECT count(*) FROM departments")) == 1  # 'denied' only
        assert await c.scalar(text("SELECT count(*) FROM departments WHERE name = 'probe'")) == 0
        assert await c.scalar(text(
            "SELECT count(*) FROM audit_log WHERE action = 'denied:no.such.permission'")) == 1
