"""Support test support: the limits the tests' settings set, an agent's permissions, and a
ticket opened the way users open one."""

from __future__ import annotations

import httpx

from tests.helpers.users import SignedIn

AGENT = ("support.read", "support.reply", "support.manage")
MAX_BYTES = 1_000
PER_TICKET = 3


async def open_ticket(api: httpx.AsyncClient, user: SignedIn, **body: object) -> dict[str, object]:
    r = await api.post("/v1/me/tickets", headers=user.headers,
                       json={"title": "Where is my cashback?", "body": "It has been a week.",
                             **body})
    assert r.status_code == 201, r.text
    found: dict[str, object] = r.json()
    return found
