"""Signed access tokens (JWT, HS256 only) and opaque refresh tokens stored as hashes."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any

import jwt

from gullak.kit import clock
from gullak.kit.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "gullak"
# The last second a datetime holds: a later `exp` cannot be compared with a session's expiry.
LATEST = int(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp())


def issue_access(secret: str, *, subject: uuid.UUID, kind: str, session_id: uuid.UUID,
                 ttl: dt.timedelta, extra: dict[str, Any] | None = None) -> str:
    now = clock.now()
    claims = {"iss": ISSUER, "sub": str(subject), "kind": kind, "sid": str(session_id),
              "iat": int(now.timestamp()), "exp": int((now + ttl).timestamp()),
              "jti": secrets.token_hex(8), **(extra or {})}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_access(secret: str, token: str) -> dict[str, Any]:
    """The claims of a valid token; anything else (expired, tampered, another algorithm,
    `alg: none`, claims of the wrong shape) is refused the same way, without saying which.
    `sub` and `sid` come back as canonical UUID strings, `exp` and `iat` as integers that a
    datetime can hold and `kind` as a string."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "sid", "kind"], "verify_exp": False,
                     "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise _refused() from exc
    # A token signed with our key can still carry claims we never write (a leaked key, an old
    # release, a bug): they must not reach code that trusts their shape.
    for name in ("sub", "sid"):
        claims[name] = _uuid(claims[name])
    if not all(type(claims[name]) is int and 0 <= claims[name] <= LATEST
               for name in ("exp", "iat")):
        raise _refused()
    if not isinstance(claims["kind"], str):
        raise _refused()
    # Expiry against our clock (tests move it). The issue time is not checked: a server whose
    # clock runs a little behind another's must still accept that server's fresh tokens.
    if claims["exp"] <= clock.now().timestamp():
        raise _refused()
    return claims


def _uuid(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise _refused()
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise _refused() from exc


def _refused() -> Unauthorized:
    return Unauthorized("Invalid or expired token.", code="invalid_token")


def new_secret_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What we store of a refresh token, API key or OTP: never the value itself."""
    return hashlib.sha256(token.encode()).hexdigest()
