"""Through identity's real sign-in: a blocked user is refused with the neutral problem, gets
no session, and may sign in again once the block is lifted."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.identity.models import AuthSession
from gullak.kit import clock
from gullak.kit.security import Subject
from gullak.risk import service
from gullak.risk.enforcement import write
from gullak.risk.rules import Finding
from tests.helpers.problems import assert_problem
from tests.helpers.users import last_code, sign_in

COOLDOWN = dt.timedelta(minutes=2)  # between two codes to one phone


async def _sessions(session: AsyncSession, user_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuthSession).where(
        AuthSession.subject_type == "user", AuthSession.subject_id == user_id)) or 0)


async def test_a_blocked_user_cannot_sign_in_until_lifted(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession) -> None:
    me = await sign_in(client, connection)
    user = uuid.UUID(me.user["id"])
    found = Finding("device_accounts", "device", "d-1", 95, {"accounts": 7})
    await write(session, user, [found], found)
    before = await _sessions(session, user)
    clock.advance(COOLDOWN)
    r = await client.post("/v1/auth/otp", json={"phone": me.phone})
    assert r.status_code == 202, r.text
    code = await last_code(connection, me.phone)
    refused = await client.post("/v1/auth/otp/verify", json={"phone": me.phone, "code": code})
    body = assert_problem(refused, 403, "account_restricted")
    assert "device" not in body["detail"].lower() and "95" not in body["detail"]
    assert await _sessions(session, user) == before
    await service.lift(session, user, "checked", Subject("admin", uuid.uuid4()))
    clock.advance(COOLDOWN)
    again = await sign_in(client, connection, me.phone)
    assert again.user["id"] == str(user)
    assert await _sessions(session, user) == before + 1
