"""App settings (typed values, versions, who changed them, an in-process cache) and feature
flags (on, off, and a stable percentage rollout)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.access import service as access
from gullak.settings import Settings
from tests.helpers.admins import Admin, admin_with
from tests.helpers.problems import assert_problem
from tests.helpers.state import changed, fingerprint

VALID: dict[str, list[Any]] = {
    "int": [0, -7, 2**40],
    "float": [0.5, 3, -1e9],
    "bool": [True, False],
    "string": ["", "hello", "१२३"],
    "json": [{"a": [1, 2]}, [], {}],
}
WRONG: dict[str, list[Any]] = {
    "int": ["5", 5.5, True, None, [5], {"v": 5}],
    "float": ["1.5", True, None, [1.5]],
    "bool": [1, 0, "true", None, [True]],
    "string": [5, True, None, ["x"], {"s": "x"}],
    "json": ["{}", 5, True, None],
}


async def put(client: httpx.AsyncClient, admin: Admin, key: str, **body: Any) -> httpx.Response:
    return await client.put(f"/v1/admin/settings/{key}", headers=admin.headers, json=body)


async def stored(connection: AsyncConnection, key: str) -> dict[str, Any] | None:
    row = (await connection.execute(text("SELECT * FROM app_settings WHERE key = :k"),
                                    {"k": key})).mappings().first()
    return dict(row) if row else None


@pytest.mark.parametrize("value_type", sorted(VALID))
async def test_a_setting_keeps_its_type(value_type: str, client: httpx.AsyncClient,
                                        connection: AsyncConnection, root: Admin) -> None:
    key = f"typed.{value_type}"
    first, *others = VALID[value_type]
    r = await put(client, root, key, value=first, value_type=value_type,
                  description="A typed setting")
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["value"], out["value_type"], out["version"], out["updated_by"]) == (
        first, value_type, 1, str(root.id))
    for version, value in enumerate(others, start=2):
        # The type is the setting's own; it need not be repeated.
        r = await put(client, root, key, value=value)
        assert r.status_code == 200, r.text
        assert (r.json()["value"], r.json()["version"]) == (value, version)
        assert r.json()["description"] == "A typed setting"
    last = await stored(connection, key)
    before = await fingerprint(connection)
    for value in WRONG[value_type]:
        r = await put(client, root, key, value=value)
        assert assert_problem(r, 422, "invalid_setting_value")["field"] == "value", value
    assert changed(before, await fingerprint(connection)) == []
    assert await stored(connection, key) == last


async def test_a_new_setting_needs_a_type_and_a_proper_key(
        client: httpx.AsyncClient, connection: AsyncConnection, root: Admin) -> None:
    before = await fingerprint(connection)
    r = await put(client, root, "untyped.thing", value=3)
    assert assert_problem(r, 422, "invalid_input")["field"] == "value_type"
    r = await put(client, root, "odd.type", value=3, value_type="decimal")
    assert_problem(r, 422, "validation_error")
    for key in ("Upper.Case", "x", "has space", "-dash"):
        r = await put(client, root, key, value=3, value_type="int")
        assert_problem(r, 422, "validation_error")
    assert changed(before, await fingerprint(connection)) == []


async def test_numbers_json_cannot_carry_are_refused(
        client: httpx.AsyncClient, connection: AsyncConnection, root: Admin) -> None:
    # Python's JSON reader accepts these literals; PostgreSQL's jsonb does not.
    before = await fingerprint(connection)
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        for key, body in (
                ("limits.ratio", b'{"value": %s, "value_type": "float"}' % literal),
                ("limits.table", b'{"value": {"r": %s}, "value_type": "json"}' % literal)):
            r = await client.put(f"/v1/admin/settings/{key}", content=body,
                                 headers={**root.headers, "content-type": "application/json"})
            assert_problem(r, 422, "validation_error", "value")
    assert changed(before, await fingerprint(connection)) == []


async def test_versions_count_changes_and_name_who_made_them(
        client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection,
        settings: Settings, root: Admin) -> None:
    tuner = await admin_with(client, session, settings, "settings.manage")
    r = await put(client, root, "payout.min", value=100, value_type="int")
    first = r.json()
    r = await put(client, tuner, "payout.min", value=200)
    second = r.json()
    assert (second["version"], second["updated_by"]) == (2, str(tuner.id))
    assert dt.datetime.fromisoformat(second["updated_at"]) >= dt.datetime.fromisoformat(
        first["updated_at"])
    r = await put(client, root, "payout.min", value=300)
    assert (r.json()["version"], r.json()["updated_by"]) == (3, str(root.id))
    listed = await client.get("/v1/admin/settings", headers=tuner.headers)
    assert [(s["key"], s["value"], s["version"]) for s in listed.json()
            if s["key"] == "payout.min"] == [("payout.min", 300, 3)]


async def fresh_read(connection: AsyncConnection, key: str, default: Any = None) -> Any:
    # A session of its own, like a request's, so nothing is served from an identity map.
    async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as s:
        return await access.setting(s, key, default)


async def test_settings_are_cached_and_a_put_refreshes_them(
        client: httpx.AsyncClient, connection: AsyncConnection, root: Admin) -> None:
    assert (await put(client, root, "cashback.rate", value=2.5,
                      value_type="float")).status_code == 200
    assert await fresh_read(connection, "cashback.rate") == 2.5
    # Written behind the service's back: the cached value is still served.
    await connection.execute(text(
        "UPDATE app_settings SET value = '9.0'::jsonb WHERE key = 'cashback.rate'"))
    assert await fresh_read(connection, "cashback.rate") == 2.5
    # A put through the service drops the cached value at once.
    assert (await put(client, root, "cashback.rate", value=3.5)).status_code == 200
    assert await fresh_read(connection, "cashback.rate") == 3.5


async def test_a_missing_setting_gives_each_caller_its_own_default(
        connection: AsyncConnection) -> None:
    assert await fresh_read(connection, "not.there", 7) == 7
    assert await fresh_read(connection, "not.there", 8) == 8
    assert await fresh_read(connection, "not.there") is None


# -- feature flags ----------------------------------------------------------------------------

async def put_flag(client: httpx.AsyncClient, admin: Admin, key: str,
                   **body: Any) -> dict[str, Any]:
    r = await client.put(f"/v1/admin/flags/{key}", headers=admin.headers, json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def on_for(connection: AsyncConnection, key: str, subjects: list[uuid.UUID | None]
                 ) -> list[bool]:
    async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as s:
        return [await access.flag_enabled(s, key, subject) for subject in subjects]


async def test_a_disabled_flag_is_off_for_everyone(
        client: httpx.AsyncClient, connection: AsyncConnection, root: Admin) -> None:
    people: list[uuid.UUID | None] = [uuid.uuid4() for _ in range(50)] + [None]
    assert await on_for(connection, "never.made", people) == [False] * len(people)
    flag = await put_flag(client, root, "wallet.v2", enabled=False, rollout_percent=100)
    assert (flag["enabled"], flag["version"], flag["updated_by"]) == (False, 1, str(root.id))
    assert await on_for(connection, "wallet.v2", people) == [False] * len(people)
    # Switching it on takes effect in this process at once, despite the cache.
    flag = await put_flag(client, root, "wallet.v2", enabled=True, rollout_percent=100)
    assert flag["version"] == 2
    assert await on_for(connection, "wallet.v2", people) == [True] * len(people)
    await put_flag(client, root, "wallet.v2", enabled=True, rollout_percent=0)
    assert await on_for(connection, "wallet.v2", people) == [False] * len(people)
    await put_flag(client, root, "wallet.v2", enabled=False, rollout_percent=100)
    assert await on_for(connection, "wallet.v2", people) == [False] * len(people)


async def test_a_rollout_picks_a_stable_slice_of_the_right_size(
        client: httpx.AsyncClient, connection: AsyncConnection, root: Admin) -> None:
    people: list[uuid.UUID | None] = [uuid.uuid4() for _ in range(1000)]
    await put_flag(client, root, "scratch.card", enabled=True, rollout_percent=30)
    first = await on_for(connection, "scratch.card", people)
    assert 200 <= sum(first) <= 400, sum(first)
    # The same person gets the same answer, also once the cache is gone.
    assert await on_for(connection, "scratch.card", people) == first
    access.clear_cache()
    assert await on_for(connection, "scratch.card", people) == first
    # Widening the rollout keeps everyone who already had it.
    await put_flag(client, root, "scratch.card", enabled=True, rollout_percent=60)
    wider = await on_for(connection, "scratch.card", people)
    assert 500 <= sum(wider) <= 700, sum(wider)
    assert all(w for f, w in zip(first, wider, strict=True) if f)


@pytest.mark.parametrize("rollout", [-1, 101, 30.5, "lots", True, None])
async def test_an_invalid_rollout_is_refused(
        rollout: Any, client: httpx.AsyncClient, connection: AsyncConnection,
        root: Admin) -> None:
    await put_flag(client, root, "spin.wheel", enabled=True, rollout_percent=40)
    before = await fingerprint(connection)
    r = await client.put("/v1/admin/flags/spin.wheel", headers=root.headers,
                         json={"enabled": True, "rollout_percent": rollout})
    assert assert_problem(r, 422, "validation_error")["field"] == "rollout_percent"
    assert changed(before, await fingerprint(connection)) == []
