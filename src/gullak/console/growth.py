"""Growth and system settings in the console: campaigns and segments, reward rules, loyalty
tiers, notification templates, application settings and feature flags. Each subject's pages
live in a module of their own, mounted here under /console."""

from __future__ import annotations

from fastapi import APIRouter

from gullak.console import (
    growth_campaigns,
    growth_rules,
    growth_segments,
    growth_settings,
    growth_templates,
    growth_tiers,
)
from gullak.console.web import ConsoleRoute

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
for part in (growth_campaigns, growth_segments, growth_rules, growth_tiers, growth_templates,
             growth_settings):
    router.include_router(part.router)
