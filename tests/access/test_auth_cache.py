"""API keys and admins' permissions are cached in each process for a short time, read once and
never written per request, and a change is refused on the next request: made here, on another
connection, or rolled back (then nothing changes)."""

from __future__ import annotations


import pytest
from sqlalchemy import text

from gullak.access import service as access
from gullak.access.schemas import AdminUpdateIn
from gullak.app import _listen
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import cache, notify
from gullak.settings import Settings
from tests.helpers.admins import Admin, Key, log_in, make_admin, make_key, put_role, serial
from tests.helpers.cache import another_client, served, statements, until, writes
from tests.helpers.problems import assert_problem
from tests.helpers.state import changed, fingerprint


async def new_key(db: Database) -> Key:
    async with unit_of_work(db) as session:
        return await make_key(session, "ledger.read")


async def test_a_cached_key_is_read_once_and_a_get_writes_nothing(
        fresh_db: Database, settings: Settings) -> None:
    key = await new_key(fresh_db)
    async with served(settings, fresh_db) as client, fresh_db.engine.connect() as conn:
        before = await fingerprint(conn)
        with statements(fresh_db) as first:
            assert (await client.get("/v1/ledger/assets", headers=key.headers)).status_code == 200
        with statements(fresh_db) as second:
            assert (await client.get("/v1/ledger/assets", headers=key.headers)).status_code == 200
        assert changed(before, await fingerprint(conn)) == []
    assert any("FROM api_keys" in s for s in first)
    assert not any("api_keys" in s for s in second), second
    assert writes(first + second) == []
    # Recorded when the app stopped, in a batch of its own.
    async with fresh_db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT last_used_at IS NOT NULL FROM api_keys"
                                      " WHERE id = :i"), {"i": key.id})


async def test_a_wrong_key_is_refused_even_when_the_holder_is_cached(
        fresh_db: Database, settings: Settings) -> None:
    key = await new_key(fresh_db)
    async with served(settings, fresh_db) as client:
        assert (await client.get("/v1/ledger/assets", headers=key.headers)).status_code == 200
        wrong = Key(key.id, key.holder, key.key[:-1] + ("A" if key.key[-1] != "A" else "B"))
        assert_problem(await client.get("/v1/ledger/assets", headers=wrong.headers), 401,
                       "invalid_credentials")


async def test_a_key_revoked_here_is_refused_on_the_next_request(
        fresh_db: Database, settings: Settings) -> None:
    key = await new_key(fresh_db)
    async with served(settings, fresh_db) as client:
        assert (await client.get("/v1/ledger/assets", headers=key.headers)).status_code == 200
        async with unit_of_work(fresh_db) as session:
            await access.revoke_api_key(session, key.id)
        assert_problem(await client.get("/v1/ledger/assets", headers=key.headers), 401,
                       "invalid_credentials")


async def test_a_revocation_rolled_back_changes_nothing(
        fresh_db: Database, settings: Settings) -> None:
    key = await new_key(fresh_db)
    async with served(settings, fresh_db) as client:
        assert (await client.get("/v1/ledger/assets", headers=key.headers)).status_code == 200
        with pytest.raises(RuntimeError):
            async with unit_of_work(fresh_db) as session:
                await access.revoke_api_key(session, key.id)
                raise RuntimeError("the request failed after the revocation")
        assert (await client.get("/v1/ledger/assets", headers=key.headers)).status_code == 200


async def test_a_key_revoked_by_another_process_is_refused_once_notified(
        fresh_db: Database, settings: Settings) -> None:
    key = await new_key(fresh_db)
    async with served(settings, fresh_db) as client:
        assert (await client.get("/v1/ledger/assets", headers=key.headers)).status_code == 200
        assert cache.auth.get(("key", key.holder)) is not None
        # Without a notification the cached answer stands: the cache really answers.
        await another_client(fresh_db, ("UPDATE api_keys SET revoked_at = now() WHERE id = %(i)s",
                                        {"i": key.id}))
        assert (await client.get("/v1/ledger/assets", headers=key.headers)).status_code == 200
        await another_client(fresh_db, ("SELECT pg_notify(%(c)s, %(t)s)",
                                        {"c": notify.CHANNEL, "t": f"key:{key.id}"}))
        await until(lambda: cache.auth.get(("key", key.holder)) is None)
        assert_problem(await client.get("/v1/ledger/assets", headers=key.headers), 401,
                       "invalid_credentials")


async def test_a_lost_listener_turns_the_cache_off_until_it_is_back(
        fresh_db: Database, settings: Settings) -> None:
    key = await new_key(fresh_db)
    async with served(settings, fresh_db) as client:
        assert (await client.get("/v1/ledger/assets", headers=key.headers)).status_code == 200
        database = fresh_db.url.rsplit("/", 1)[1].split("?")[0]
        await another_client(fresh_db, (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'gullak-listen' AND datname = %(d)s", {"d": database}))
        await until(lambda: not cache.auth.on)
        # Revoked without a notification, while nobody listens: read from the database.
        await another_client(fresh_db, ("UPDATE api_keys SET revoked_at = now() WHERE id = %(i)s",
                                        {"i": key.id}))
        assert_problem(await client.get("/v1/ledger/assets", headers=key.headers), 401,
                       "invalid_credentials")
        await until(lambda: cache.auth.on)


async def test_a_changed_role_or_admin_is_seen_on_the_next_request(
        fresh_db: Database, settings: Settings) -> None:
    role = f"auditor_{serial()}"
    async with unit_of_work(fresh_db) as session:
        await put_role(session, role, ["audit.read"])
        admin: Admin = await make_admin(session, settings, [role])
    async with served(settings, fresh_db) as client:
        await log_in(client, admin)
        assert (await client.get("/v1/admin/audit", headers=admin.headers)).status_code == 200
        assert cache.auth.get(("admin", admin.id)) == frozenset({"audit.read"})

        async with unit_of_work(fresh_db) as session:
            await put_role(session, role, ["settings.manage"])
        assert_problem(await client.get("/v1/admin/audit", headers=admin.headers), 403,
                       "forbidden")
        assert (await client.get("/v1/admin/settings", headers=admin.headers)).status_code == 200

        async with unit_of_work(fresh_db) as session:
            await access.update_admin(session, admin.id, AdminUpdateIn(roles=[]))
        assert_problem(await client.get("/v1/admin/settings", headers=admin.headers), 403,
                       "forbidden")

        async with unit_of_work(fresh_db) as session:
            await access.update_admin(session, admin.id, AdminUpdateIn(status="disabled"))
        assert_problem(await client.get("/v1/admin/me", headers=admin.headers), 401,
                       "invalid_credentials")


async def test_a_role_changed_by_another_process_is_seen_once_notified(
        fresh_db: Database, settings: Settings) -> None:
    role = f"auditor_{serial()}"
    async with unit_of_work(fresh_db) as session:
        await put_role(session, role, ["audit.read"])
        admin: Admin = await make_admin(session, settings, [role])
    async with served(settings, fresh_db) as client:
        await log_in(client, admin)
        assert (await client.get("/v1/admin/audit", headers=admin.headers)).status_code == 200
        await another_client(
            fresh_db,
            ("DELETE FROM role_permissions WHERE role_id = (SELECT id FROM roles"
             " WHERE name = %(r)s)", {"r": role}),
            ("SELECT pg_notify(%(c)s, 'roles')", {"c": notify.CHANNEL}))
        await until(lambda: cache.auth.get(("admin", admin.id)) is None)
        assert_problem(await client.get("/v1/admin/audit", headers=admin.headers), 403,
                       "forbidden")


def test_tags_drop_only_what_they_name() -> None:
    c = cache.Cache()
    c.ttl, c.listeners = 30.0, 1
    since = c.generation
    c.put("a", 1, ("key:1",), since)
    c.put("b", 2, ("key:2", "roles"), since)
    c.drop("key:1")
    assert (c.get("a"), c.get("b")) == (None, 2)
    # A fill that read the database before a drop may hold what the drop was about.
    c.put("a", 1, ("key:1",), since)
    assert c.get("a") is None
    c.drop("roles")
    assert c.get("b") is None and len(c) == 0
    c.listeners = 0
    c.put("c", 3, (), c.generation)
    assert c.get("c") is None  # nobody listens: nothing is kept




def test_behind_pgbouncer_the_cache_needs_a_direct_url(settings: Settings, db: Database) -> None:
    # A LISTEN through transaction pooling hears nothing: a revoked key would live on.
    pooled = settings.model_copy(update={"database_pgbouncer": True, "database_listen_url": None})
    assert _listen(pooled, db) == (db.url, 0.0)
    direct = pooled.model_copy(update={"database_listen_url": "postgresql://pg:5432/gullak"})
    assert _listen(direct, db) == ("postgresql://pg:5432/gullak", settings.auth_cache_seconds)
