"""A bearer token's session is cached in each process for a short time, and a sign-out, a
revoked session or a suspended account is refused on the next request, also when the change
is made on another connection."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from sqlalchemy import text

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.identity import service as identity
from gullak.kit import cache, clock, notify
from gullak.kit.security import Subject
from gullak.settings import Settings
from tests.helpers.cache import another_client, served, statements, until, writes
from tests.helpers.identity import session_id
from tests.helpers.problems import assert_problem
from tests.helpers.state import changed, fingerprint
from tests.helpers.users import SignedIn, sign_in


async def signed_in(client: httpx.AsyncClient, db: Database) -> SignedIn:
    async with db.engine.connect() as conn:
        return await sign_in(client, conn)


def cached(user: SignedIn) -> bool:
    return cache.auth.get(("bearer", user.access)) is not None


async def test_an_open_session_is_read_once_and_a_get_writes_nothing(
        fresh_db: Database, settings: Settings) -> None:
    async with served(settings, fresh_db) as client:
        user = await signed_in(client, fresh_db)
        async with fresh_db.engine.connect() as conn:
            before = await fingerprint(conn)
            with statements(fresh_db) as first:
                assert (await client.get("/v1/me/wallet", headers=user.headers)).status_code == 200
            with statements(fresh_db) as second:
                assert (await client.get("/v1/me/wallet", headers=user.headers)).status_code == 200
            assert changed(before, await fingerprint(conn)) == []
    assert any("FROM auth_sessions" in s for s in first)
    assert not any("auth_sessions" in s for s in second), second
    assert writes(first + second) == []


async def test_a_signed_out_session_is_refused_on_the_next_request(
        fresh_db: Database, settings: Settings) -> None:
    async with served(settings, fresh_db) as client:
        user = await signed_in(client, fresh_db)
        other = await signed_in(client, fresh_db)
        for who in (user, other):
            assert (await client.get("/v1/me/wallet", headers=who.headers)).status_code == 200
        assert (await client.post("/v1/auth/logout", headers=user.headers)).status_code == 204
        assert_problem(await client.get("/v1/me/wallet", headers=user.headers), 401,
                       "invalid_credentials")
        # Only that session's entry went.
        assert cached(other)


async def test_a_suspended_user_is_refused_on_the_next_request(
        fresh_db: Database, settings: Settings) -> None:
    async with served(settings, fresh_db) as client:
        user = await signed_in(client, fresh_db)
        assert (await client.get("/v1/me/wallet", headers=user.headers)).status_code == 200
        async with unit_of_work(fresh_db) as session:
            await identity.set_status(session, uuid.UUID(user.user["id"]), "suspended", "fraud")
        assert_problem(await client.get("/v1/me/wallet", headers=user.headers), 401,
                       "invalid_credentials")


async def test_signing_out_everywhere_reaches_every_session(
        fresh_db: Database, settings: Settings) -> None:
    async with served(settings, fresh_db) as client:
        user = await signed_in(client, fresh_db)
        again = await sign_in_again(client, fresh_db, user)
        for who in (user, again):
            assert (await client.get("/v1/me/wallet", headers=who.headers)).status_code == 200
        async with unit_of_work(fresh_db) as session:
            subject = Subject("user", uuid.UUID(user.user["id"]))
            await identity.revoke_all(session, subject.kind, subject.id, reason="test")
        for who in (user, again):
            assert_problem(await client.get("/v1/me/wallet", headers=who.headers), 401,
                           "invalid_credentials")


async def sign_in_again(client: httpx.AsyncClient, db: Database, user: SignedIn) -> SignedIn:
    clock.advance(dt.timedelta(minutes=1))  # past the cooldown between two codes
    async with db.engine.connect() as conn:
        return await sign_in(client, conn, user.phone)


async def test_a_session_revoked_by_another_process_is_refused_once_notified(
        fresh_db: Database, settings: Settings) -> None:
    async with served(settings, fresh_db) as client:
        user = await signed_in(client, fresh_db)
        assert (await client.get("/v1/me/wallet", headers=user.headers)).status_code == 200
        assert cached(user)
        family = session_id(user)
        await another_client(
            fresh_db,
            ("UPDATE auth_sessions SET status = 'revoked' WHERE family_id = %(f)s", {"f": family}),
            ("SELECT pg_notify(%(c)s, %(t)s)", {"c": notify.CHANNEL, "t": f"session:{family}"}))
        await until(lambda: not cached(user))
        assert_problem(await client.get("/v1/me/wallet", headers=user.headers), 401,
                       "invalid_credentials")
        async with fresh_db.engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM auth_sessions"
                                          " WHERE family_id = :f AND status = 'active'"),
                                     {"f": family}) == 0
