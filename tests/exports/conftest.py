"""Exports fixtures: an app on a database of its own (an export runs between units of work,
each committed), with every answer checked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from gullak.db.engine import Database
from gullak.settings import Settings
from tests.exports.support import exports_app
from tests.helpers.http import guarded_client


@pytest.fixture
def exports(settings: Settings, fresh_db: Database) -> FastAPI:
    return exports_app(settings, fresh_db)


@pytest.fixture
async def api(exports: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Every answer is checked: never a 5xx, every refusal a problem with a code."""
    async with guarded_client(exports) as c:
        yield c
