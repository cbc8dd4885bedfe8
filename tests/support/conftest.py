"""Support fixtures: settings with small attachment limits, attachments in the test's own
folder, a client whose every answer is checked (never a 5xx, every refusal a problem with a
code), signed-in users and agents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.settings import Settings
from tests.helpers.admins import Admin, admin_with
from tests.helpers.http import guarded_client
from tests.helpers.users import SignedIn, sign_in
from tests.support.tickets import AGENT, MAX_BYTES, PER_TICKET


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Tokens that outlive the SLA clocks moved here (a day at most).
    return Settings(env="test", data_dir=tmp_path / "data", max_body_bytes=64 * 1024,
                    access_token_minutes=1440, support_storage_dir=tmp_path / "attachments",
                    support_attachment_max_bytes=MAX_BYTES,
                    support_attachments_per_ticket=PER_TICKET)


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with guarded_client(app) as c:
        yield c


@pytest.fixture
async def alice(api: httpx.AsyncClient, connection: AsyncConnection) -> SignedIn:
    return await sign_in(api, connection)


@pytest.fixture
async def bob(api: httpx.AsyncClient, connection: AsyncConnection) -> SignedIn:
    return await sign_in(api, connection)


@pytest.fixture
async def agent(api: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> Admin:
    return await admin_with(api, session, settings, *AGENT)

