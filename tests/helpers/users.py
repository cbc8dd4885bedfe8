"""App users, signed in through the real OTP flow."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_numbers = itertools.count(1)


def new_phone() -> str:
    # Valid Indian mobile numbers, distinct per call.
    return f"+9198{next(_numbers) % 100_000_000:08d}"


async def last_code(connection: AsyncConnection, phone: str) -> str:
    """The code in the last SMS sent to `phone`."""
    body = await connection.scalar(text(
        "SELECT body FROM sms_outbox WHERE phone = :p ORDER BY created_at DESC, id DESC LIMIT 1"),
        {"p": phone})
    match = re.search(r"\b(\d{6})\b", body or "")
    assert match, "no code was sent"
    return match.group(1)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@dataclass
class SignedIn:
    phone: str
    user: dict[str, Any]
    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access)


async def sign_in(client: httpx.AsyncClient, connection: AsyncConnection,
                  phone: str | None = None, **extra: Any) -> SignedIn:
    """A user signed in (and created, the first time) with the code sent to `phone`."""
    phone = phone or new_phone()
    r = await client.post("/v1/auth/otp", json={"phone": phone})
    assert r.status_code == 202, r.text
    code = await last_code(connection, phone)
    r = await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": code, **extra})
    assert r.status_code == 200, r.text
    body = r.json()
    return SignedIn(phone, body["user"], body["access_token"], body["refresh_token"])
