"""Admin sign-in is slowed per email and client address, with delays that grow, so that
whoever guesses at an admin from one address cannot keep the admin out; one address is also
slowed across emails. Both stores of the limiter are checked: PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.identity import service as identity
from gullak.kit import clock
from gullak.settings import Settings
from gullak.system import service as system
from tests.helpers.admins import Admin, login_body, make_admin
from tests.helpers.http import guarded_client
from tests.helpers.problems import assert_problem

LOGIN = "/v1/admin/auth/login"
ATTACKER = ("203.0.113.7", 40000)
OWN_DESK = ("198.51.100.20", 40001)
FREE = identity.PER_LOGIN.free


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module", params=["postgresql", "redis"])
def redis_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None: the limiter keeps its counts in PostgreSQL; else a Redis server's URL."""
    if request.param == "postgresql":
        yield None
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(autouse=True)
async def store(redis_url: str | None, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    clock.freeze(dt.datetime.now(dt.UTC))  # a delay passes only when a test moves the clock
    if redis_url is None:
        monkeypatch.setattr(system, "redis_client", lambda: None)
        yield
        return
    client = Redis.from_url(redis_url)
    monkeypatch.setattr(system, "redis_client", lambda: client)
    yield
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def admin(session: AsyncSession, settings: Settings) -> Admin:
    return await make_admin(session, settings, ["super_admin"])


@pytest.fixture
async def attacker(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with guarded_client(app, ATTACKER) as c:
        yield c


@pytest.fixture
async def own_desk(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with guarded_client(app, OWN_DESK) as c:
        yield c


async def fail(client: httpx.AsyncClient, admin: Admin, times: int = 1) -> None:
    for _ in range(times):
        r = await client.post(LOGIN, json=login_body(admin, password="not the password"))
        assert_problem(r, 401, "invalid_credentials")


def wait_of(response: httpx.Response) -> int:
    """The wait a 429 asks for: the Retry-After header, equal to the body's retry_after."""
    body = assert_problem(response, 429, "rate_limited")
    assert response.headers["retry-after"] == str(body["retry_after"])
    return int(body["retry_after"])


async def test_the_admin_signs_in_from_their_own_address_while_a_guesser_waits(
        attacker: httpx.AsyncClient, own_desk: httpx.AsyncClient, admin: Admin) -> None:
    await fail(attacker, admin, FREE)
    # From the guesser's address even the right password and code wait now...
    assert wait_of(await attacker.post(LOGIN, json=login_body(admin))) == 1
    # ...while the admin, from their own address, signs in at once.
    r = await own_desk.post(LOGIN, json=login_body(admin))
    assert r.status_code == 200, r.text
    assert (await own_desk.get("/v1/admin/me", headers={
        "authorization": f"Bearer {r.json()['access_token']}"})).status_code == 200
    # The admin's success does not clear the guesser's failures.
    assert wait_of(await attacker.post(LOGIN, json=login_body(admin, password="guess"))) == 1


async def test_each_further_failure_doubles_the_wait(
        attacker: httpx.AsyncClient, admin: Admin) -> None:
    await fail(attacker, admin, FREE)
    waits = []
    for _ in range(6):
        wait = wait_of(await attacker.post(LOGIN, json=login_body(admin, password="guess")))
        # Asking again too early is refused, and does not lengthen the wait.
        assert wait_of(await attacker.post(LOGIN, json=login_body(admin))) == wait
        waits.append(wait)
        clock.advance(dt.timedelta(seconds=wait - 1))
        assert wait_of(await attacker.post(LOGIN, json=login_body(admin))) == 1
        clock.advance(dt.timedelta(seconds=1))
        await fail(attacker, admin)
    assert waits == [1, 2, 4, 8, 16, 32]
    # Once the wait has passed, the right password and code let the admin in.
    clock.advance(dt.timedelta(seconds=64))
    assert (await attacker.post(LOGIN, json=login_body(admin))).status_code == 200


def test_the_wait_has_a_ceiling() -> None:
    rule = identity.PER_LOGIN
    assert [rule.delay(n) for n in range(rule.free + 1)] == [0.0] * rule.free + [1.0]
    assert rule.delay(rule.free + 9) == 512.0
    assert rule.delay(rule.free + 10) == rule.delay(rule.free + 10_000) == rule.cap == 900.0


async def test_a_success_starts_the_count_of_failures_again(
        own_desk: httpx.AsyncClient, admin: Admin) -> None:
    # Typing mistakes now and then never make the admin wait.
    for _ in range(3):
        await fail(own_desk, admin, FREE - 1)
        assert (await own_desk.post(LOGIN, json=login_body(admin))).status_code == 200
        clock.advance(dt.timedelta(seconds=30))  # a code signs in once
    await fail(own_desk, admin, FREE)
    assert wait_of(await own_desk.post(LOGIN, json=login_body(admin))) == 1


async def test_failures_are_forgotten_after_a_quiet_day(
        attacker: httpx.AsyncClient, admin: Admin) -> None:
    await fail(attacker, admin, FREE)
    assert wait_of(await attacker.post(LOGIN, json=login_body(admin))) == 1
    clock.advance(identity.PER_LOGIN.forget)
    await fail(attacker, admin, FREE - 1)
    assert (await attacker.post(LOGIN, json=login_body(admin))).status_code == 200


async def test_one_address_guessing_over_many_emails_is_slowed(
        attacker: httpx.AsyncClient, own_desk: httpx.AsyncClient, admin: Admin) -> None:
    sprayed = identity.PER_ADDRESS.free
    for i in range(sprayed):
        r = await attacker.post(LOGIN, json=login_body(admin, email=f"guess{i}@example.com"))
        assert_problem(r, 401, "invalid_credentials")
    # No one email has failed often, yet the address waits, whichever email it tries.
    assert wait_of(await attacker.post(LOGIN, json=login_body(admin))) == 1
    assert (await own_desk.post(LOGIN, json=login_body(admin))).status_code == 200


async def test_concurrent_guesses_cannot_slip_past_one_another(fresh_db: Database) -> None:
    # Guesses sent at once, each taking a while to check (as a real password hash does):
    # each sees the failures of those before it, so no more get through than one at a time.
    key, rule = "sign-in:admin:203.0.113.7:concurrent", identity.PER_LOGIN

    async def guess() -> bool:
        try:
            async with unit_of_work(fresh_db) as session:
                await system.attempt(session, [(key, rule)])
                await asyncio.sleep(0.05)
        except system.RateLimited:
            return False
        return True

    through = await asyncio.gather(*(guess() for _ in range(4 * rule.free)))
    assert sum(through) == rule.free
