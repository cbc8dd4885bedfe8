"""Payments fixtures: an app on a fresh database with the sandbox gateway in place."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from gullak.db.engine import Database
from gullak.payments import gateways
from gullak.payments.gateways.sandbox import Sandbox
from gullak.settings import Settings
from tests.helpers.http import guarded_client, http_client
from tests.payments.support import make_sandbox, payments_app


@pytest.fixture
def sandbox(fresh_db: Database) -> Iterator[Sandbox]:
    with gateways.override(make_sandbox(fresh_db)) as found:
        assert isinstance(found, Sandbox)
        yield found


@pytest.fixture
def pay_app(settings: Settings, fresh_db: Database, sandbox: Sandbox) -> FastAPI:
    return payments_app(settings, fresh_db)


@pytest.fixture
async def pay(pay_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Every answer is checked: never a 5xx, every refusal a problem with a code."""
    async with guarded_client(pay_app) as c:
        yield c


@pytest.fixture
async def raw_client(pay_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(pay_app) as c:
        yield c
