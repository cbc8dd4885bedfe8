"""Identity fixtures: users signed in through the real OTP flow, a client that checks every
answer, a social identity provider, and cheap password hashing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from gullak.identity.social import JwksVerifier
from tests.helpers.http import guarded_client
from tests.helpers.identity import AUDIENCE, ISSUER, IdentityProvider
from tests.helpers.passwords import hash_cheaply
from tests.helpers.users import SignedIn, sign_in


@pytest.fixture
async def alice(client: httpx.AsyncClient, connection: AsyncConnection) -> SignedIn:
    return await sign_in(client, connection)


@pytest.fixture
async def bob(client: httpx.AsyncClient, connection: AsyncConnection) -> SignedIn:
    return await sign_in(client, connection)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Never a 5xx; every refusal a problem+json with a code."""
    async with guarded_client(app) as c:
        yield c


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
    """Cheap hashing: hashes keep the argon2id format and are still checked."""
    hash_cheaply(monkeypatch)
