"""Payouts fixtures: an app on a fresh database with the payouts sandbox in place, and
settings with no cooling-off (the test of the cooling-off sets its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from gullak.db.engine import Database
from gullak.payouts import providers
from gullak.payouts.providers.sandbox import Sandbox
from gullak.settings import Settings
from tests.helpers.http import guarded_client
from tests.payouts.support import make_sandbox, payouts_app


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(env="test", data_dir=tmp_path / "data", max_body_bytes=64 * 1024,
                    payout_cooling_off_hours=0)


@pytest.fixture
def sandbox(fresh_db: Database) -> Iterator[Sandbox]:
    with providers.override(make_sandbox(fresh_db)) as found:
        assert isinstance(found, Sandbox)
        yield found


@pytest.fixture
def payouts(settings: Settings, fresh_db: Database, sandbox: Sandbox) -> FastAPI:
    return payouts_app(settings, fresh_db)


@pytest.fixture
async def api(payouts: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Every answer is checked: never a 5xx, every refusal a problem with a code."""
    async with guarded_client(payouts) as c:
        yield c
