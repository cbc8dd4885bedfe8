"""The database page: what `gullak db stats` shows (sizes, dead tuples, unused indexes, the
slowest statements), and the installation's checks as `gullak doctor` runs them, on a page of
their own since they reach the job queue and the disk (system.read, as the API)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.console.forms import size
from gullak.console.web import AdminPage, ConsoleRoute
from gullak.system import service as system

router = APIRouter(route_class=ConsoleRoute)
TABS = (("/console/system", "Statistics"), ("/console/system/checks", "Checks"))
LIMIT = 20


@router.get("/system")
async def database(page: AdminPage) -> Response:
    await page.require("system.read")
    stats = await system.database_stats(page.session, limit=LIMIT)
    return await page.render("books/system.html", title="Database", stats=stats, tabs=TABS,
                             size=size)


@router.get("/system/checks")
async def checks(page: AdminPage) -> Response:
    await page.require("system.read")
    found = await system.doctor_checks(page.settings, page.request.app.state.db)
    return await page.render("books/system_checks.html", title="Installation checks",
                             checks=found, tabs=TABS)
