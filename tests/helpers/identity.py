"""Identity's own test tools: moving the clock, reading tokens, a social identity provider."""

from __future__ import annotations

import datetime as dt
import functools
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from gullak.kit import clock
from tests.helpers.users import SignedIn

ISSUER = "https://accounts.google.com"
AUDIENCE = "gullak-android.apps.googleusercontent.com"


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
