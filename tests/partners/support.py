"""Partners test tools: a real HTTP receiver on 127.0.0.1 that answers as scripted and keeps
what it was sent, a signature check written from the documented scheme (not our code's),
partners made through the service, and HTTP Basic headers for their keys."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.partners import service
from gullak.partners.schemas import PartnerCreatedOut, PartnerIn
from gullak.settings import Settings


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each request with the next scripted status (the last one once they run out)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")[1:]
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append(Received(headers, body))
        status = self.statuses[min(len(self.received), len(self.statuses)) - 1]
        answer = json.dumps({"ok": status < 300}).encode()
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(answer)}\r\nConnection: close\r\n\r\n".encode()
                     + answer)
        await writer.drain()
        writer.close()


@asynccontextmanager
async def receiver(*statuses: int) -> AsyncIterator[Receiver]:
    found = Receiver(list(statuses) or [200])
    server = await asyncio.start_server(found._handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    async with server:
        yield found


def signature_ok(header: str, body: bytes, secret: str, now: int, tolerance: int = 300) -> bool:
    """A receiver's check, from docs/api.md: t within the tolerance, and some v1 equal to
    hex(HMAC-SHA256(secret, t + "." + body))."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    if len(fields.get("t", [])) != 1:
        return False
    stamp = int(fields["t"][0])
    if abs(now - stamp) > tolerance:
        return False
    mac = hmac.new(secret.encode("utf-8"), str(stamp).encode() + b"." + body, hashlib.sha256)
    return any(hmac.compare_digest(mac.hexdigest(), v) for v in fields.get("v1", []))


def webhook_settings(settings: Settings, **extra: Any) -> Settings:
    """Webhooks to 127.0.0.1, quick retries."""
    values: dict[str, Any] = {"partners_webhook_allow_private": True,
                              "partners_webhook_backoff_seconds": 10.0,
                              "partners_webhook_timeout_seconds": 5.0}
    values.update(extra)
    return settings.model_copy(update=values)


async def make_partner(session: AsyncSession, settings: Settings, url: str | None = None,
                       name: str | None = None, **extra: Any) -> PartnerCreatedOut:
    from tests.helpers.admins import serial

    return await service.create(session, settings, PartnerIn(
        name=name or f"Partner {serial()}", webhook_url=url, **extra), None)


def basic(partner: PartnerCreatedOut, key: str | None = None) -> dict[str, str]:
    token = base64.b64encode(f"{partner.key_holder}:{key or partner.api_key}".encode()).decode()
    return {"authorization": f"Basic {token}"}


async def count(connection: AsyncConnection, sql: str, **params: Any) -> int:
    return int(await connection.scalar(text(sql), params) or 0)
