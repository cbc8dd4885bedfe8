"""API keys of service clients: shown once, stored as a digest, HTTP Basic `holder:key`,
exactly the key's permissions, revocable, last use recorded."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.access import service as access
from gullak.kit import clock
from tests.helpers.admins import Admin, Key, basic, make_key
from tests.helpers.problems import assert_problem
from tests.helpers.state import audit_rows, changed, fingerprint


async def key_row(connection: AsyncConnection, key_id: uuid.UUID) -> dict[str, object]:
    row = (await connection.execute(text("SELECT *, row_to_json(k)::text AS whole"
                                         " FROM api_keys k WHERE id = :i"),
                                    {"i": key_id})).mappings().one()
    return dict(row)


async def test_a_key_is_shown_once_and_stored_only_as_a_digest(
        client: httpx.AsyncClient, connection: AsyncConnection, root: Admin) -> None:
    r = await client.post("/v1/admin/api-keys", headers=root.headers,
                          json={"name": "Payments", "permissions": ["ledger.read"]})
    assert r.status_code == 201, r.text
    created = r.json()
    key, holder = created["key"], created["holder"]
    assert len(key) >= 32 and holder
    assert (created["name"], created["permissions"], created["revoked_at"],
            created["last_used_at"]) == ("Payments", ["ledger.read"], None, None)

    listed = await client.get("/v1/admin/api-keys", headers=root.headers)
    assert listed.status_code == 200
    [entry] = [k for k in listed.json() if k["id"] == created["id"]]
    assert "key" not in entry and entry["holder"] == holder
    assert key not in listed.text

    row = await key_row(connection, uuid.UUID(created["id"]))
    assert key not in str(row["whole"])
    assert row["key_hash"] != key and row["created_by"] == root.id
    # The stored digest still tells the right key from a wrong one.
    assert (await client.get("/v1/ledger/assets", headers=basic(holder, key))).status_code == 200


async def test_a_key_has_exactly_its_permissions(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection) -> None:
    reader = await make_key(session, "ledger.read")
    r = await client.get("/v1/ledger/assets", headers=reader.headers)
    assert r.status_code == 200, r.text
    before = await fingerprint(connection, exclude=("audit_log", "api_keys"))
    refused = [
        ("POST", "/v1/ledger/assets", {"code": "GEM", "name": "Gems", "kind": "coin",
                                       "scale": 0}),
        ("POST", "/v1/ledger/accounts", {"asset_code": "GEM", "owner_type": "platform",
                                         "purpose": "issuance"}),
        ("GET", "/v1/admin/users", None),
        ("GET", "/v1/admin/audit", None),
    ]
    for method, path, body in refused:
        r = await client.request(method, path, json=body, headers=reader.headers)
        assert_problem(r, 403, "forbidden")
    assert changed(before, await fingerprint(connection, exclude=("audit_log", "api_keys"))) == []
    rows = await audit_rows(connection, actor_id=reader.id)
    assert [(x["actor_type"], x["outcome"], x["entity_id"]) for x in rows] == [
        ("service", "denied", f"{method} {path}") for method, path, _ in refused]
    # A service client is not an admin, whatever it holds.
    assert_problem(await client.get("/v1/admin/me", headers=reader.headers), 403, "forbidden")


async def test_bad_credentials_are_refused(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection) -> None:
    key = await make_key(session, "ledger.read")
    other = await make_key(session, "ledger.read")

    def raw(value: bytes) -> dict[str, str]:
        return {"authorization": "Basic " + base64.b64encode(value).decode()}

    attempts = {
        "wrong key": basic(key.holder, key.key[:-1] + ("A" if key.key[-1] != "A" else "B")),
        "another holder's key": basic(key.holder, other.key),
        "unknown holder": basic(f"gk_{uuid.uuid4().hex[:16]}", key.key),
        "empty key": basic(key.holder, ""),
        "no holder": basic("", key.key),
        "no colon": raw(f"{key.holder}{key.key}".encode()),
        "not base64": {"authorization": "Basic %%%not-base64%%%"},
        "not utf-8": raw(b"\xff\xfe:\xff"),
        "NUL in the holder": raw(f"{key.holder}\x00:{key.key}".encode()),
        "NUL in the key": raw(f"{key.holder}:{key.key}\x00".encode()),
        "NUL in a partner's holder": raw(f"gp_\x00:{key.key}".encode()),
        "nothing after the scheme": {"authorization": "Basic"},
        "unknown scheme": {"authorization": f"Token {key.holder}:{key.key}"},
    }
    before = await fingerprint(connection)
    for label, headers in attempts.items():
        r = await client.get("/v1/ledger/assets", headers=headers)
        assert r.status_code == 401, (label, r.text)
        assert_problem(r, 401, "invalid_credentials")
    assert_problem(await client.get("/v1/ledger/assets"), 401, "unauthorized")
    assert changed(before, await fingerprint(connection)) == []


async def test_a_revoked_key_stops_working(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        root: Admin) -> None:
    key = await make_key(session, "ledger.read")
    assert (await client.get("/v1/ledger/assets", headers=key.headers)).status_code == 200
    r = await client.post(f"/v1/admin/api-keys/{key.id}/revoke", headers=root.headers)
    assert r.status_code == 200, r.text
    revoked_at = r.json()["revoked_at"]
    assert revoked_at is not None
    assert_problem(await client.get("/v1/ledger/assets", headers=key.headers), 401,
                   "invalid_credentials")
    # Revoking again changes nothing; the first time stands.
    r = await client.post(f"/v1/admin/api-keys/{key.id}/revoke", headers=root.headers)
    assert r.status_code == 200 and r.json()["revoked_at"] == revoked_at
    before = await fingerprint(connection)
    r = await client.post(f"/v1/admin/api-keys/{uuid.uuid4()}/revoke", headers=root.headers)
    assert_problem(r, 404, "api_key_not_found")
    assert changed(before, await fingerprint(connection)) == []


async def test_last_use_is_recorded_in_batches(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        root: Admin) -> None:
    key: Key = await make_key(session, "ledger.read")
    assert (await key_row(connection, key.id))["last_used_at"] is None
    assert (await client.get("/v1/ledger/assets", headers=key.headers)).status_code == 200
    # The request itself writes nothing; the app records uses once a minute, all at once.
    assert (await key_row(connection, key.id))["last_used_at"] is None
    assert await access.record_key_uses(session) >= 1
    first = (await key_row(connection, key.id))["last_used_at"]
    assert isinstance(first, dt.datetime)
    listed = (await client.get("/v1/admin/api-keys", headers=root.headers)).json()
    assert [k["last_used_at"] for k in listed if k["id"] == str(key.id)] != [None]
    # At most once a minute per key, so busy clients do not rewrite the row on every batch.
    clock.advance(dt.timedelta(seconds=30))
    assert (await client.get("/v1/ledger/assets", headers=key.headers)).status_code == 200
    await access.record_key_uses(session)
    assert (await key_row(connection, key.id))["last_used_at"] == first
    clock.advance(access.LAST_USED_EVERY)
    assert (await client.get("/v1/ledger/assets", headers=key.headers)).status_code == 200
    await access.record_key_uses(session)
    second = (await key_row(connection, key.id))["last_used_at"]
    assert isinstance(second, dt.datetime) and second > first
    assert await access.record_key_uses(session) == 0  # nothing pending after a batch


async def test_a_key_with_an_unknown_permission_is_not_made(
        client: httpx.AsyncClient, connection: AsyncConnection, root: Admin) -> None:
    before = await fingerprint(connection)
    r = await client.post("/v1/admin/api-keys", headers=root.headers,
                          json={"name": "Typo", "permissions": ["ledger.raed"]})
    assert assert_problem(r, 422, "unknown_permission")["field"] == "permissions"
    assert changed(before, await fingerprint(connection)) == []
