"""The merchant portal."""

from __future__ import annotations

from fastapi import APIRouter

from gullak.console.web import ConsoleRoute

router = APIRouter(prefix="/merchant", route_class=ConsoleRoute, include_in_schema=False)
