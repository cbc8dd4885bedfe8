"""The console's supply pages: merchants (with their outlets, users, documents, bank accounts
and commissions), the catalog (categories, products, feeds, events) and offers. Each part has
its own module; this router mounts them under /console."""

from __future__ import annotations

from fastapi import APIRouter

from gullak.console import (
    supply_catalog,
    supply_events,
    supply_merchant_parts,
    supply_merchants,
    supply_offers,
)
from gullak.console.web import ConsoleRoute

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
for part in (supply_merchants, supply_merchant_parts, supply_catalog, supply_events,
             supply_offers):
    router.include_router(part.router)
