"""Hostile input to the support endpoints: NUL, lone surrogates, controls, huge and tiny
numbers, wrong types, deep JSON, unknown fields. Every answer is a 2xx or a 4xx problem
(never a 5xx), and a refusal writes nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.helpers.admins import Admin
from tests.helpers.users import SignedIn
from tests.support.tickets import open_ticket

NASTY = st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfffy", "\u202e", "\x1b[31m", "",
                         " ", "a" * 20_000, "TKT-\n-1"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**80),
                                                           max_value=2**80),
                    st.floats(allow_nan=False, allow_infinity=False), NASTY,
                    st.text(max_size=30))


def deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": [value]}
    return value


VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3),
                   st.builds(deep, st.integers(min_value=10, max_value=200)))
FIELDS = ["title", "body", "category", "subject_type", "subject_id", "rating", "comment",
          "status", "internal", "canned_reply_id", "priority", "assignee_id", "department",
          "filename", "content_type", "content_base64", "reason", "unknown"]
BODIES = st.one_of(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=5), VALUES)
FUZZ = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


# What these endpoints can write (the audit log aside, where refusals of permission go).
STATE = text(" UNION ALL ".join(
    f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {name} t"
    for name in ("support_tickets", "support_messages", "support_attachments",
                 "support_canned_replies")))


async def _state(connection: AsyncConnection) -> list[str]:
    return list(await connection.scalars(STATE))


async def _refusal_writes_nothing(api: httpx.AsyncClient, connection: AsyncConnection,
                                  headers: dict[str, str], method: str, url: str,
                                  body: Any) -> None:
    before = await _state(connection)
    # Escaped ASCII JSON: lone surrogates travel as \ud800, as a hostile client sends them.
    r = await api.request(method, url, content=json.dumps(body),
                          headers={**headers, "content-type": "application/json"})
    assert r.status_code < 500, r.text  # the guarded client checks the problem shape too
    if r.status_code >= 400:
        assert await _state(connection) == before, (url, body)


@FUZZ
@given(body=BODIES)
async def test_users_endpoints(api: httpx.AsyncClient, connection: AsyncConnection,
                               alice: SignedIn, body: Any) -> None:
    ticket = await open_ticket(api, alice)
    base = f"/v1/me/tickets/{ticket['id']}"
    for url in ("/v1/me/tickets", f"{base}/messages", f"{base}/rate", f"{base}/reopen",
                f"{base}/attachments"):
        await _refusal_writes_nothing(api, connection, alice.headers, "POST", url, body)


@FUZZ
@given(body=BODIES)
async def test_agents_endpoints(api: httpx.AsyncClient, connection: AsyncConnection,
                                alice: SignedIn, agent: Admin, body: Any) -> None:
    ticket = await open_ticket(api, alice)
    base = f"/v1/admin/tickets/{ticket['id']}"
    for method, url in (("POST", f"{base}/messages"), ("POST", f"{base}/status"),
                        ("POST", f"{base}/assign"), ("PATCH", base),
                        ("POST", f"{base}/attachments"),
                        ("POST", "/v1/admin/support/canned-replies")):
        await _refusal_writes_nothing(api, connection, agent.headers, method, url, body)


@pytest.mark.parametrize("params", [
    {"status": "nope"}, {"priority": "\x00"}, {"limit": 0}, {"limit": 10**30},
    {"cursor": "not-a-cursor"}, {"cursor": "\x00"}, {"assignee_id": "1"},
    {"breached": "maybe"}, {"department": "a\x00"}, {"user_id": "x" * 5000},
])
async def test_bad_query_parameters(api: httpx.AsyncClient, alice: SignedIn, agent: Admin,
                                    params: dict[str, Any]) -> None:
    r = await api.get("/v1/admin/tickets", headers=agent.headers, params=params)
    assert 400 <= r.status_code < 500
    mine = {k: v for k, v in params.items() if k in ("status", "limit", "cursor")}
    if mine:
        r = await api.get("/v1/me/tickets", headers=alice.headers, params=mine)
        assert 400 <= r.status_code < 500


@pytest.mark.parametrize("ticket_id", ["1", "not-a-uuid", "0" * 200, "%00"])
async def test_bad_ids_in_the_path(api: httpx.AsyncClient, alice: SignedIn,
                                   ticket_id: str) -> None:
    r = await api.get(f"/v1/me/tickets/{ticket_id}", headers=alice.headers)
    assert 400 <= r.status_code < 500
