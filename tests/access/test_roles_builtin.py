"""Built-in roles cannot change over the API, and a role's name is the one in its path."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.access import service as access
from gullak.access.errors import BuiltinRole
from gullak.access.schemas import RoleIn
from tests.helpers.admins import Admin
from tests.helpers.problems import assert_problem
from tests.helpers.state import audit_rows, changed, fingerprint


async def test_the_super_admin_role_cannot_be_replaced(
        client: httpx.AsyncClient, connection: AsyncConnection, root: Admin) -> None:
    before = await fingerprint(connection, exclude=("audit_log",))
    for permissions in ([], ["audit.read"], ["*"]):
        r = await client.put("/v1/admin/roles/super_admin", headers=root.headers,
                             json={"name": "super_admin", "description": "mine now",
                                   "permissions": permissions})
        assert assert_problem(r, 403, "builtin_role")["field"] == "name"
    assert changed(before, await fingerprint(connection, exclude=("audit_log",))) == []
    roles = (await client.get("/v1/admin/roles", headers=root.headers)).json()
    assert [(x["description"], x["permissions"]) for x in roles if x["name"] == "super_admin"] \
        == [("Every permission", ["*"])]
    # The super admin keeps every permission, and each refused attempt is on record.
    assert (await client.get("/v1/admin/admins", headers=root.headers)).status_code == 200
    denied = await audit_rows(connection, action="denied:role.put", entity_id="super_admin")
    assert [(e["actor_id"], e["outcome"]) for e in denied] == [(root.id, "denied")] * 3


async def test_the_service_refuses_built_in_roles_too(session: AsyncSession) -> None:
    # The command line and demo data call the service without an actor; the rule still holds.
    for name in access.BUILTIN_ROLES:
        before = await access.get_role(session, name)
        with pytest.raises(BuiltinRole):
            await access.put_role(session, RoleIn(name=name, permissions=[]))
        assert await access.get_role(session, name) == before


async def test_a_body_naming_another_role_is_refused(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        root: Admin) -> None:
    await access.put_role(session, RoleIn(name="desk", permissions=["users.read"]))
    before = await fingerprint(connection)
    cases = [("desk", "super_admin"), ("super_admin", "desk"), ("desk", "brand_new"),
             ("brand_new", "desk")]
    for path, body_name in cases:
        r = await client.put(f"/v1/admin/roles/{path}", headers=root.headers,
                             json={"name": body_name, "permissions": ["audit.read"]})
        assert assert_problem(r, 422, "name_mismatch")["field"] == "name"
    assert changed(before, await fingerprint(connection)) == []
    assert (await access.get_role(session, "desk")).permissions == ["users.read"]
    # Names that agree still create and replace roles.
    r = await client.put("/v1/admin/roles/desk", headers=root.headers,
                         json={"name": "desk", "permissions": ["audit.read"]})
    assert r.status_code == 200 and r.json()["permissions"] == ["audit.read"]
