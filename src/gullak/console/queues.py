"""The work queues: what waits for an admin's decision, each counted on the menu."""

from __future__ import annotations

from fastapi import APIRouter

from gullak.console.menu import Counter
from gullak.console.web import ConsoleRoute

router = APIRouter(prefix="/console/queues", route_class=ConsoleRoute, include_in_schema=False)

COUNTS: dict[str, Counter] = {}
