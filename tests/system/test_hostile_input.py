"""Hostile input never reaches PostgreSQL: a NUL in any text field and a number far beyond any
column in any integer field, of every operation in the OpenAPI, is a 422 problem naming the
field, and nothing is written. Plus the cases found by attacks over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.settings import Settings
from tests.helpers import admins
from tests.helpers.merchants import live_merchant, staff_of
from tests.helpers.problems import PROBLEM, assert_problem
from tests.helpers.state import changed, fingerprint
from tests.helpers.users import sign_in
from tests.partners.support import basic, make_partner

NUL = "bad\u0000value"
HUGE = 10**30
# Sent with an attacked query parameter, so that a search reaches the check of that parameter
# rather than stopping at "say what to look for".
PLAUSIBLE = {"q": "tea", "lat": "19.07", "lng": "72.87", "asset": "REZ"}
Headers = dict[str, str]


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """The schema itself: references followed, and the non-null branch of an optional."""
    while True:
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        elif "anyOf" in schema:
            schema = next((s for s in schema["anyOf"] if s.get("type") != "null"), {})
        else:
            return schema


def hostile_values(schema: dict[str, Any], document: dict[str, Any],
                   prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(field, value) for every text, integer, JSON object and list of text in a body."""
    for name, prop in resolve(schema, document).get("properties", {}).items():
        field, prop = f"{prefix}{name}", resolve(prop, document)
        kind = prop.get("type")
        if kind == "string":
            yield field, NUL
        elif kind == "integer":
            yield field, HUGE
        elif kind == "array" and resolve(prop.get("items", {}), document).get("type") == "string":
            yield f"{field}.0", [NUL]
        elif kind == "object" and "properties" in prop and depth < 2:
            for inner, value in hostile_values(prop, document, f"{field}.", depth + 1):
                yield inner, {inner[len(field) + 1:].split(".")[0]: value}
        elif kind == "object":
            yield field, {"key": NUL}


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def concrete(path: str, operation: dict[str, Any], document: dict[str, Any]) -> str:
    for param in operation.get("parameters", []):
        if param["in"] == "path":
            schema = resolve(param["schema"], document)
            value = str(uuid.uuid4()) if schema.get("format") == "uuid" else "x"
            path = path.replace("{" + param["name"] + "}", value)
    return path


def named(body: dict[str, Any], field: str) -> bool:
    fields = {body.get("field")} | {e["field"] for e in body.get("errors", [])}
    # A list item or a JSON member may be named by its own path below the field.
    return any(f == field or (f or "").startswith(field + ".") for f in fields)


@pytest.fixture
async def callers(client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
                  settings: Settings) -> list[Headers]:
    admin = await admins.log_in(client, await admins.make_admin(session, settings,
                                                                ["super_admin"]))
    merchant = await live_merchant(session)
    staff = await staff_of(client, session, merchant.id)
    user = await sign_in(client, connection)
    partner = basic(await make_partner(session, settings))
    return [admin.headers, staff.headers, user.headers, partner, {}]


async def send(client: httpx.AsyncClient, callers: list[Headers], method: str, url: str,
               **kwargs: Any) -> httpx.Response:
    """As the first caller the operation lets past authentication and permissions."""
    for headers in callers:
        response = await client.request(method, url, headers=headers, **kwargs)
        if response.status_code not in (401, 403):
            break
    return response


async def test_nul_and_huge_numbers_are_refused_by_every_operation(
        app: FastAPI, client: httpx.AsyncClient, connection: AsyncConnection,
        callers: list[Headers]) -> None:
    document = app.openapi()
    before = await fingerprint(connection)
    tried, wrong = 0, []
    for method, path, operation in operations(document):
        url = concrete(path, operation, document)
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        attacks: list[tuple[str, dict[str, Any]]] = []
        if body:
            attacks += [(f, {"json": {f.split(".")[0]: v}})
                        for f, v in hostile_values(body["schema"], document)]
        query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
        plausible = {p["name"]: PLAUSIBLE[p["name"]] for p in query if p["name"] in PLAUSIBLE}
        for param in query:
            kind = resolve(param["schema"], document).get("type")
            if kind in ("string", "integer"):
                attacks.append((param["name"], {"params": {
                    **plausible, param["name"]: NUL if kind == "string" else str(HUGE)}}))
        for field, request in attacks:
            tried += 1
            r = await send(client, callers, method, url, **request)
            ok = (r.status_code == 422 and r.headers["content-type"] == PROBLEM
                  and named(r.json(), field))
            if not ok:
                wrong.append(f"{method} {path} {field}: {r.status_code} {r.text[:300]}")
    assert tried > 300  # every domain's operations were attacked
    assert not wrong, "\n".join(wrong)
    assert changed(before, await fingerprint(connection)) == []


# -- the cases found over HTTP ----------------------------------------------------------------

async def test_nul_in_the_profile_is_refused(client: httpx.AsyncClient,
                                             connection: AsyncConnection) -> None:
    user = await sign_in(client, connection)
    r = await client.patch("/v1/me", headers=user.headers, json={"name": "Asha\u0000"})
    assert_problem(r, 422, "validation_error", "name")
    # Null would erase the stored preferences rather than merge into them.
    r = await client.patch("/v1/me", headers=user.headers, json={"preferences": None})
    assert_problem(r, 422, "validation_error", "preferences")
    r = await client.get("/v1/me", headers=user.headers)
    assert (r.json()["name"], r.json()["preferences"]) == (user.user["name"],
                                                           user.user["preferences"])


async def test_display_names_refuse_bidi_overrides_and_escapes(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    user = await sign_in(client, connection)
    for name in ("Asha\u202egnp.exe", "\u2066Asha\u2069", "\x1b[31mAsha", "Asha\u200f"):
        r = await client.patch("/v1/me", headers=user.headers, json={"name": name})
        assert_problem(r, 422, "validation_error", "name")
    r = await client.patch("/v1/me", headers=user.headers, json={"name": "आशा Ásha 😀"})
    assert r.status_code == 200 and r.json()["name"] == "आशा Ásha 😀"


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"child": value}
    return value


async def test_deep_or_large_ledger_metadata_is_refused(client: httpx.AsyncClient,
                                                        session: AsyncSession,
                                                        connection: AsyncConnection) -> None:
    key = await admins.make_key(session, "ledger.write", "ledger.read")
    body = {"debit_account_id": str(uuid.uuid4()), "credit_account_id": str(uuid.uuid4()),
            "asset_code": "REZ", "amount": 1, "kind": "grant"}
    before = await fingerprint(connection)
    # The stdlib encoder writes an infinite float as Infinity, as a hostile client would.
    for metadata in (nested(500), nested(9), {"blob": "x" * 20_000}, {"n": float("inf")}):
        r = await client.post("/v1/ledger/transfers", headers={**key.headers,
                              "Idempotency-Key": str(uuid.uuid4()),
                              "content-type": "application/json"},
                              content=json.dumps({**body, "metadata": metadata}).encode())
        assert_problem(r, 422, "validation_error", "metadata")
    assert changed(before, await fingerprint(connection)) == []


@pytest.mark.parametrize("text", ['"\\ud800"', '"a\\udfffb"'])
async def test_a_lone_surrogate_is_refused(client: httpx.AsyncClient,
                                           connection: AsyncConnection, text: str) -> None:
    user = await sign_in(client, connection)
    r = await client.patch("/v1/me", headers={**user.headers, "content-type": "application/json"},
                           content=('{"name": %s}' % text).encode())
    assert_problem(r, 422, "validation_error", "name")


@pytest.mark.parametrize("lat, lng", [(-6.97e-290, 2.39e-38), (1e-300, -1e-300), (0.0, 5e-324)])
async def test_tiny_coordinates_do_not_underflow(client: httpx.AsyncClient, lat: float,
                                                 lng: float) -> None:
    r = await client.get("/v1/nearby", params={"lat": repr(lat), "lng": repr(lng)})
    assert r.status_code == 200, r.text
    assert r.json()["count"] == len(r.json()["hits"])


async def test_a_cashback_beyond_bigint_is_refused(client: httpx.AsyncClient,
                                                   session: AsyncSession,
                                                   connection: AsyncConnection,
                                                   settings: Settings) -> None:
    admin = await admins.log_in(client, await admins.make_admin(session, settings,
                                                                ["super_admin"]))
    before = await fingerprint(connection)
    r = await client.post("/v1/admin/merchants", headers=admin.headers,
                          json={"name": "Huge Cashback", "default_cashback_amount": HUGE})
    assert_problem(r, 422, "validation_error", "default_cashback_amount")
    assert changed(before, await fingerprint(connection)) == []


async def test_nul_in_admin_texts_is_refused(client: httpx.AsyncClient, session: AsyncSession,
                                             connection: AsyncConnection,
                                             settings: Settings) -> None:
    admin = await admins.log_in(client, await admins.make_admin(session, settings,
                                                                ["super_admin"]))
    user = await sign_in(client, connection)
    before = await fingerprint(connection)
    r = await client.put("/v1/admin/flags/new.checkout", headers=admin.headers,
                         json={"enabled": True, "rules": {"cities": ["Pune\u0000"]}})
    assert_problem(r, 422, "validation_error", "rules")
    r = await client.post(f"/v1/admin/users/{user.user['id']}/status", headers=admin.headers,
                          json={"status": "suspended", "reason": "spam\u0000"})
    assert_problem(r, 422, "validation_error", "reason")
    r = await client.get("/v1/admin/search/queries", headers=admin.headers,
                         params={"city": "Pune\u0000"})
    assert_problem(r, 422, "validation_error", "city")
    r = await client.get("/v1/redirects/resolve", params={"path": "/old\u0000"})
    assert_problem(r, 422, "validation_error", "path")
    r = await client.post("/v1/auth/password", json={"login": "demo\u0000", "password": "x"})
    assert_problem(r, 422, "validation_error", "login")
    assert changed(before, await fingerprint(connection)) == []


async def test_an_unknown_merchant_field_is_refused_and_named(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    admin = await admins.log_in(client, await admins.make_admin(session, settings,
                                                                ["super_admin"]))
    r = await client.post("/v1/admin/merchants", headers=admin.headers,
                          json={"name": "Typo Traders", "comission_bps": 500})
    assert_problem(r, 422, "validation_error", "comission_bps")
