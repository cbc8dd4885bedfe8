"""The dashboard: today and trends from the analytics summaries."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.console.web import AdminPage, ConsoleRoute

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)


@router.get("")
async def dashboard(page: AdminPage) -> Response:
    return await page.render("dashboard/index.html", title="Dashboard")
