"""Identity fixtures: signing a user in through the real OTP flow."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from gullak.identity.social import JwksVerifier
from gullak.kit import clock, passwords

_numbers = itertools.count(1)


def new_phone() -> str:
    # Valid Indian mobile numbers, distinct per call.
    return f"+9198{next(_numbers) % 100_000_000:08d}"


async def last_code(connection: AsyncConnection, phone: str) -> str:
    body = await connection.scalar(text(
        "SELECT body FROM sms_outbox WHERE phone = :p ORDER BY created_at DESC, id DESC LIMIT 1"),
        {"p": phone})
    match = re.search(r"\b(\d{6})\b", body or "")
    assert match, "no code was sent"
    return match.group(1)


@dataclass
class SignedIn:
    phone: str
    user: dict[str, Any]
    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.access}"}


async def sign_in(client: httpx.AsyncClient, connection: AsyncConnection,
                  phone: str | None = None, **extra: Any) -> SignedIn:
    phone = phone or new_phone()
    r = await client.post("/v1/auth/otp", json={"phone": phone})
    assert r.status_code == 202, r.text
    code = await last_code(connection, phone)
    r = await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": code, **extra})
    assert r.status_code == 200, r.text
    body = r.json()
    return SignedIn(phone, body["user"], body["access_token"], body["refresh_token"])


@pytest.fixture
async def alice(client: httpx.AsyncClient, connection: AsyncConnection) -> SignedIn:
    return await sign_in(client, connection)


@pytest.fixture
async def bob(client: httpx.AsyncClient, connection: AsyncConnection) -> SignedIn:
    return await sign_in(client, connection)


# -- HTTP: no 5xx, every refusal a problem ----------------------------------------------------

PROBLEM = "application/problem+json"


async def checked_response(response: httpx.Response) -> None:
    """Every answer of the app: never a 5xx, and every 4xx a problem+json with a code."""
    if response.status_code < 400:
        return
    await response.aread()
    where = f"{response.request.method} {response.request.url.path}"
    assert response.status_code < 500, f"{where} answered {response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM), (where, response.text)
    body = response.json()
    assert body["status"] == response.status_code, (where, body)
    assert isinstance(body.get("code"), str) and body["code"], (where, body)


def guarded_client(application: FastAPI,
                   address: tuple[str, int] = ("127.0.0.1", 123)) -> httpx.AsyncClient:
    # `address` is what the app sees as the client's IP and port (per-IP rate limits).
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False, client=address)
    return httpx.AsyncClient(transport=transport, base_url="http://test",
                             event_hooks={"response": [checked_response]})


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with guarded_client(app) as c:
        yield c


def refused(response: httpx.Response, status: int, code: str,
            field: str | None = None) -> dict[str, Any]:
    """The response is the problem+json refusal `status` / `code` (and names `field`)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status and body["title"] and body["detail"], body
    if field is not None:
        assert body.get("field") == field, body
    return body


# -- database state ---------------------------------------------------------------------------

_tables: list[str] = []


async def snapshot(connection: AsyncConnection, *, mentioning: tuple[str, ...] = (),
                   exclude: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Every row of every table as text (only rows that mention one of `mentioning`, if
    given): two snapshots are equal when nothing was written in between."""
    if not _tables:  # the schema is the same for the whole run
        _tables.extend((await connection.scalars(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'alembic_version' ORDER BY tablename"))).all())
    tables = [t for t in _tables if t not in exclude]
    where, params = "", {}
    if mentioning:
        where = " WHERE " + " OR ".join(f"x::text LIKE :n{i}" for i in range(len(mentioning)))
        params = {f"n{i}": f"%{needle}%" for i, needle in enumerate(mentioning)}
    query = " UNION ALL ".join(f"SELECT '{t}' AS t, x::text AS row FROM \"{t}\" x{where}"
                               for t in tables)
    state: dict[str, list[str]] = {t: [] for t in tables}
    for table, row in await connection.execute(text(query), params):
        state[table].append(row)
    return {t: sorted(rows) for t, rows in state.items()}


async def count(connection: AsyncConnection, sql: str, **params: Any) -> int:
    return int(await connection.scalar(text(sql), params) or 0)


# -- time and sessions ------------------------------------------------------------------------

def rewind_clock() -> dt.datetime:
    """Freeze the clock at the start of an hour, one to two hours ago, and return it.

    Tests that move time start here: fixed rate-limit windows are then whole for the test,
    and tokens issued as time moves on are not issued in the real clock's future."""
    now = dt.datetime.now(dt.UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    clock.freeze(start)
    return start


def session_id(signed: SignedIn) -> str:
    """The session (token family) an access token belongs to."""
    claims = jwt.decode(signed.access, options={"verify_signature": False})
    return str(claims["sid"])


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


# -- a social identity provider of our own ----------------------------------------------------

ISSUER = "https://accounts.google.com"
AUDIENCE = "gullak-android.apps.googleusercontent.com"


@functools.cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    # Generated once per run and name: key generation is the slow part.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class IdentityProvider:
    """Issues Google-like ID tokens; the app's verifier trusts `kid` with key 'google'."""

    kid: str = "test-key-1"

    def token(self, subject: str, *, email: str | None = None, issuer: str = ISSUER,
              audience: str = AUDIENCE, expires_in: int = 600, key_name: str = "google",
              kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())  # PyJWT checks these against the real clock
        payload = {"iss": issuer, "aud": audience, "sub": subject, "iat": now,
                   "exp": now + expires_in, **claims}
        if email is not None:
            payload = {"email": email, "email_verified": True, **payload}
        return jwt.encode(payload, rsa_key(key_name), algorithm="RS256",
                          headers={"kid": kid or self.kid})

    def jwks(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(rsa_key("google").public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}


@pytest.fixture
def google(app: FastAPI) -> IdentityProvider:
    provider = IdentityProvider()
    app.state.social_verifiers = {
        "google": JwksVerifier("google", [ISSUER, "accounts.google.com"], [AUDIENCE],
                               jwks=provider.jwks()),
    }
    return provider


@pytest.fixture
def quick_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with the smallest cost: production's 64 MiB and three passes per hash are the
    point there and only slow here. Hashes keep the argon2id format and are still checked."""
    monkeypatch.setattr(passwords, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
