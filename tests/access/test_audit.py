"""The audit log: every write by an admin or a service client, with actor, action, entity,
before, after, IP, user agent and request id; append-only; searchable by entity and actor."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetIn
from gullak.settings import Settings
from tests.helpers.admins import USER_AGENT, Admin, admin_with, make_key, serial
from tests.helpers.problems import assert_problem
from tests.helpers.state import audit_rows, changed, fingerprint
from tests.helpers.users import sign_in


class Recorder:
    """Sends requests with a request id of its own and reads back what the audit log kept."""

    def __init__(self, client: httpx.AsyncClient, connection: AsyncConnection) -> None:
        self.client, self.connection = client, connection

    async def send(self, method: str, path: str, headers: dict[str, str],
                   **kw: Any) -> tuple[httpx.Response, dict[str, Any]]:
        request_id = f"audit-{uuid.uuid4().hex}"
        r = await self.client.request(method, path, headers={**headers,
                                                             "x-request-id": request_id}, **kw)
        assert r.status_code < 300, r.text
        assert r.headers["x-request-id"] == request_id
        rows = await audit_rows(self.connection, request_id=request_id)
        assert len(rows) == 1, rows
        entry = rows[0]
        assert (entry["ip"], entry["user_agent"], entry["outcome"]) == (
            "127.0.0.1", USER_AGENT, "ok")
        return r, entry


def by(entry: dict[str, Any], actor: Admin) -> None:
    assert (entry["actor_type"], entry["actor_id"]) == ("admin", actor.id)


async def test_every_admin_write_is_audited(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        root: Admin) -> None:
    rec = Recorder(client, connection)
    h = root.headers

    r, e = await rec.send("PUT", "/v1/admin/roles/helpdesk", h,
                          json={"name": "helpdesk", "permissions": ["users.read"]})
    by(e, root)
    assert (e["action"], e["entity_type"], e["entity_id"]) == ("role.put", "role", "helpdesk")
    assert e["before"] is None and e["after"]["permissions"] == ["users.read"]
    r, e = await rec.send("PUT", "/v1/admin/roles/helpdesk", h,
                          json={"name": "helpdesk", "permissions": ["users.read", "kyc.review"]})
    assert e["before"]["permissions"] == ["users.read"]
    assert e["after"]["permissions"] == ["kyc.review", "users.read"]

    r, e = await rec.send("POST", "/v1/admin/admins", h,
                          json={"email": f"desk{serial()}@example.com", "name": "Desk",
                                "roles": ["helpdesk"]})
    created = r.json()
    by(e, root)
    assert (e["action"], e["entity_type"], e["entity_id"]) == (
        "admin.create", "admin", created["id"])
    assert e["before"] is None and e["after"]["email"] == created["email"]
    # The one-time password and TOTP secret are not kept anywhere in the log.
    assert created["password"] not in str(e) and created["totp_secret"] not in str(e)

    r, e = await rec.send("PATCH", f"/v1/admin/admins/{created['id']}", h,
                          json={"name": "Desk Two", "status": "disabled"})
    assert (e["action"], e["entity_id"]) == ("admin.update", created["id"])
    assert (e["before"]["name"], e["before"]["status"]) == ("Desk", "active")
    assert (e["after"]["name"], e["after"]["status"]) == ("Desk Two", "disabled")

    r, e = await rec.send("POST", "/v1/admin/api-keys", h,
                          json={"name": "Billing", "permissions": ["ledger.read"]})
    key = r.json()
    assert (e["action"], e["entity_type"], e["entity_id"]) == (
        "api_key.create", "api_key", key["id"])
    assert e["after"]["holder"] == key["holder"] and key["key"] not in str(e)
    r, e = await rec.send("POST", f"/v1/admin/api-keys/{key['id']}/revoke", h)
    assert (e["action"], e["entity_id"]) == ("api_key.revoke", key["id"])
    assert e["before"]["revoked_at"] is None and e["after"]["revoked_at"] is not None

    r, e = await rec.send("PUT", "/v1/admin/settings/referral.bonus", h,
                          json={"value": 50, "value_type": "int"})
    assert (e["action"], e["entity_type"], e["entity_id"]) == (
        "setting.put", "app_setting", "referral.bonus")
    assert e["before"] is None and e["after"]["value"] == 50
    r, e = await rec.send("PUT", "/v1/admin/settings/referral.bonus", h, json={"value": 75})
    assert (e["before"]["value"], e["after"]["value"]) == (50, 75)
    assert e["after"]["version"] == 2

    r, e = await rec.send("PUT", "/v1/admin/flags/new.checkout", h,
                          json={"enabled": True, "rollout_percent": 10})
    assert (e["action"], e["entity_type"], e["entity_id"]) == (
        "flag.put", "feature_flag", "new.checkout")
    assert e["before"] is None and e["after"]["rollout_percent"] == 10
    r, e = await rec.send("PUT", "/v1/admin/flags/new.checkout", h, json={"enabled": False})
    assert (e["before"]["enabled"], e["after"]["enabled"]) == (True, False)


async def test_back_office_writes_on_users_are_audited(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        root: Admin) -> None:
    rec = Recorder(client, connection)
    h = root.headers
    await ledger.create_asset(session, AssetIn(code="COIN", name="Coins", kind="coin", scale=0))
    alice = await sign_in(client, connection)
    bob = await sign_in(client, connection)
    uid = alice.user["id"]

    for person, decision, body in ((alice, "verify", {"decision": "verify"}),
                                   (bob, "reject", {"decision": "reject",
                                                    "reason": "blurry photo"})):
        r = await client.post("/v1/me/kyc", headers=person.headers,
                              json={"document_type": "pan", "document_number": "ABCDE1234F"})
        assert r.status_code == 201, r.text
        record = r.json()["id"]
        r, e = await rec.send("POST", f"/v1/admin/kyc/{record}/review", h, json=body)
        by(e, root)
        assert (e["action"], e["entity_type"], e["entity_id"]) == (
            f"kyc.{decision}", "kyc_record", record)
        assert e["before"]["status"] == "pending"
        assert e["after"]["status"] == ("verified" if decision == "verify" else "rejected")
        # Document numbers stay masked in the log as everywhere else.
        assert "ABCDE1234F" not in str(e)

    r, e = await rec.send("POST", f"/v1/admin/users/{uid}/status", h,
                          json={"status": "suspended", "reason": "chargeback review"})
    by(e, root)
    assert (e["action"], e["entity_type"], e["entity_id"]) == ("user.status", "user", uid)
    assert (e["before"]["status"], e["after"]["status"]) == ("active", "suspended")
    assert e["after"]["status_reason"] == "chargeback review"
    r, e = await rec.send("POST", f"/v1/admin/users/{uid}/status", h, json={"status": "active"})
    assert (e["before"]["status"], e["after"]["status"]) == ("suspended", "active")

    r, e = await rec.send("POST", f"/v1/admin/users/{uid}/wallet/adjustments",
                          {**h, "idempotency-key": "goodwill-1"},
                          json={"asset_code": "COIN", "amount": 40, "reason": "goodwill"})
    transfer = r.json()
    assert (e["action"], e["entity_type"], e["entity_id"]) == ("wallet.adjust", "user", uid)
    assert [(w["asset_code"], w["account_id"], w["posted"]) for w in e["before"]] == [
        ("COIN", None, 0)]
    assert e["after"]["transfer"]["id"] == transfer["id"]
    assert [w["posted"] for w in e["after"]["wallet"]] == [40]


async def test_ledger_transfers_of_service_clients_record_their_actor(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection) -> None:
    await ledger.create_asset(session, AssetIn(code="COIN", name="Coins", kind="coin", scale=0))
    issuance = await ledger.platform_account(session, "COIN", "issuance")
    wallet = await ledger.user_account(session, uuid.uuid4(), "COIN")
    key = await make_key(session, "ledger.read", "ledger.write")
    body = {"debit_account_id": str(issuance.id), "credit_account_id": str(wallet.id),
            "asset_code": "COIN", "amount": 25, "kind": "earn"}
    request_id = f"audit-{uuid.uuid4().hex}"
    r = await client.post("/v1/ledger/transfers", json=body, headers={
        **key.headers, "idempotency-key": "order-77", "x-request-id": request_id})
    assert r.status_code == 201, r.text
    transfer = r.json()
    # The transfer row says who made it; an audit row would only repeat it.
    row = (await session.execute(text(
        "SELECT actor_type, actor_id, amount FROM ledger_transfers WHERE id = :id"),
        {"id": transfer["id"]})).one()
    assert tuple(row) == ("service", key.id, 25)
    assert await audit_rows(connection, request_id=request_id) == []


async def test_a_refused_write_leaves_no_trace(
        client: httpx.AsyncClient, connection: AsyncConnection, root: Admin) -> None:
    before = await fingerprint(connection)
    r = await client.put("/v1/admin/settings/signup.bonus", headers=root.headers,
                         json={"value": "lots", "value_type": "int"})
    assert_problem(r, 422, "invalid_setting_value")
    r = await client.patch(f"/v1/admin/admins/{uuid.uuid4()}", headers=root.headers,
                           json={"name": "Nobody"})
    assert_problem(r, 404, "admin_not_found")
    assert changed(before, await fingerprint(connection)) == []


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET action = 'nothing.happened'",
    "UPDATE audit_log SET after = NULL, before = NULL",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
])
async def test_the_audit_log_is_append_only(
        statement: str, client: httpx.AsyncClient, connection: AsyncConnection,
        root: Admin) -> None:
    r = await client.put("/v1/admin/flags/dark.mode", headers=root.headers,
                         json={"enabled": True})
    assert r.status_code == 200
    before = await audit_rows(connection)
    assert before
    with pytest.raises(DBAPIError) as refused:
        async with connection.begin_nested():
            await connection.execute(text(statement))
    assert getattr(refused.value.orig, "sqlstate", None) == "GL010"
    assert await audit_rows(connection) == before


async def test_search_by_entity_and_actor_with_cursor_paging(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        root: Admin) -> None:
    tuner = await admin_with(client, session, settings, "settings.manage")
    writes = [(root, "a.one", 1), (tuner, "a.two", 2), (root, "a.one", 3), (tuner, "a.one", 4),
              (tuner, "a.two", 5), (root, "a.three", 6), (tuner, "a.three", 7)]
    for admin, key, value in writes:
        r = await client.put(f"/v1/admin/settings/{key}", headers=admin.headers,
                             json={"value": value, "value_type": "int"})
        assert r.status_code == 200, r.text

    async def search(**params: Any) -> dict[str, Any]:
        r = await client.get("/v1/admin/audit", headers=root.headers, params=params)
        assert r.status_code == 200, r.text
        page: dict[str, Any] = r.json()
        return page

    entries = (await search(entity_type="app_setting", entity_id="a.one"))["entries"]
    assert [x["after"]["value"] for x in entries] == [4, 3, 1]  # newest first
    assert {x["entity_id"] for x in entries} == {"a.one"}
    entries = (await search(actor_type="admin", actor_id=str(tuner.id)))["entries"]
    assert [x["after"]["value"] for x in entries] == [7, 5, 4, 2]
    assert {x["actor_id"] for x in entries} == {str(tuner.id)}
    entries = (await search(actor_id=str(tuner.id), entity_id="a.two",
                            entity_type="app_setting"))["entries"]
    assert [x["after"]["value"] for x in entries] == [5, 2]
    assert (await search(entity_type="app_setting", entity_id="a.none"))["entries"] == []

    everything = (await search(action="setting.put", limit=200))["entries"]
    assert [x["after"]["value"] for x in everything] == [7, 6, 5, 4, 3, 2, 1]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = await search(action="setting.put", limit=3, **({"cursor": cursor} if cursor else {}))
        assert len(page["entries"]) <= 3
        seen += [x["id"] for x in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [x["id"] for x in everything]  # each once, in order, none skipped

    r = await client.get("/v1/admin/audit", headers=root.headers, params={"cursor": "nope"})
    assert assert_problem(r, 422, "invalid_input")["field"] == "cursor"
    r = await client.get("/v1/admin/audit", headers=root.headers, params={"actor_id": "nope"})
    assert_problem(r, 422, "validation_error")
