"""The console's money pages: the ledger explorer, orders, merchants' settlements, gift cards
and the database's figures. Each lives in a module of its own, mounted here under /console."""

from __future__ import annotations

from fastapi import APIRouter

from gullak.console import (
    giftcard_pages,
    ledger_pages,
    order_pages,
    settlement_pages,
    system_pages,
)
from gullak.console.web import ConsoleRoute

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
for pages in (ledger_pages, order_pages, settlement_pages, giftcard_pages, system_pages):
    router.include_router(pages.router)
