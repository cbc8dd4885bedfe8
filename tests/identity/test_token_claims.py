"""Tokens signed with the real key but carrying claims we never write are refused with 401."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from gullak.kit import tokens
from gullak.kit.errors import Unauthorized
from gullak.settings import Settings
from tests.helpers.problems import assert_problem
from tests.helpers.users import bearer, sign_in

MISSING = object()

# Each a change to the claims of a genuine token.
MALFORMED: dict[str, dict[str, Any]] = {
    "sub not a uuid": {"sub": "not-a-uuid"},
    "sid not a uuid": {"sid": "'; DROP TABLE auth_sessions; --"},
    "sub a number": {"sub": 12345},
    "sid a list": {"sid": ["a", "b"]},
    "sub an object": {"sub": {"id": 1}},
    "sub null": {"sub": None},
    "sid empty": {"sid": ""},
    "sub very long": {"sub": "0" * 100_000},
    "exp a string": {"exp": "9999999999"},
    "exp a float": {"exp": 9_999_999_999.5},
    "exp true": {"exp": True},
    "exp null": {"exp": None},
    "exp past the year 9999": {"exp": 10 ** 30},
    "exp a second past the calendar": {"exp": tokens.LATEST + 1},
    "iat past the year 9999": {"iat": 2 ** 62},
    "iat negative": {"iat": -(10 ** 30)},
    "iat a string": {"iat": "yesterday"},
    "kind a list": {"kind": ["user"]},
    "kind an object": {"kind": {"admin": True}},
    "kind a number": {"kind": 1},
    "no sub": {"sub": MISSING},
    "no sid": {"sid": MISSING},
    "no exp": {"exp": MISSING},
    "no kind": {"kind": MISSING},
    "nbf a string": {"nbf": "soon"},
}


def resigned(token: str, secret: str, change: dict[str, Any]) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    for name, value in change.items():
        if value is MISSING:
            claims.pop(name, None)
        else:
            claims[name] = value
    return jwt.encode(claims, secret, algorithm="HS256")


async def test_malformed_claims_are_refused_with_401(
        client: httpx.AsyncClient, connection: AsyncConnection, settings: Settings) -> None:
    user = await sign_in(client, connection)
    secret = settings.secret("secret_key")
    # The same claims signed again are accepted: the refusals below are about the claims.
    r = await client.get("/v1/me", headers=bearer(resigned(user.access, secret, {})))
    assert r.status_code == 200 and r.json()["id"] == user.user["id"]
    for name, change in MALFORMED.items():
        r = await client.get("/v1/me", headers=bearer(resigned(user.access, secret, change)))
        assert r.status_code == 401, (name, r.status_code, r.text)
        assert_problem(r, 401, "invalid_token")
        assert user.user["id"] not in r.text, name


async def test_a_uuid_in_another_spelling_names_the_same_subject(
        client: httpx.AsyncClient, connection: AsyncConnection, settings: Settings) -> None:
    user = await sign_in(client, connection)
    token = resigned(user.access, settings.secret("secret_key"),
                     {"sub": user.user["id"].upper()})
    r = await client.get("/v1/me", headers=bearer(token))
    assert r.status_code == 200 and r.json()["id"] == user.user["id"]


async def test_well_formed_claims_of_no_session_are_refused(
        client: httpx.AsyncClient, settings: Settings) -> None:
    token = tokens.issue_access(settings.secret("secret_key"), subject=uuid.uuid4(),
                                kind="user", session_id=uuid.uuid4(),
                                ttl=dt.timedelta(minutes=5))
    assert_problem(await client.get("/v1/me", headers=bearer(token)), 401,
                   "invalid_credentials")


@pytest.mark.parametrize("change", list(MALFORMED.values()), ids=list(MALFORMED))
def test_read_access_refuses_claims_of_the_wrong_shape(change: dict[str, Any]) -> None:
    secret = "s" * 43
    claims: dict[str, Any] = {"iss": "gullak", "sub": str(uuid.uuid4()), "kind": "user",
                              "sid": str(uuid.uuid4()), "iat": 1, "exp": 2 ** 34}
    token = resigned(jwt.encode(claims, secret, algorithm="HS256"), secret, change)
    with pytest.raises(Unauthorized) as refused:
        tokens.read_access(secret, token)
    assert refused.value.code == "invalid_token"


def test_read_access_accepts_the_claims_those_changes_start_from() -> None:
    secret = "s" * 43
    claims: dict[str, Any] = {"iss": "gullak", "sub": str(uuid.uuid4()), "kind": "user",
                              "sid": str(uuid.uuid4()), "iat": 1, "exp": 2 ** 34}
    assert tokens.read_access(secret, jwt.encode(claims, secret, algorithm="HS256"))["exp"] == 2 ** 34
