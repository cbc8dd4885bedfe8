"""Verifying identity tokens of social sign-in providers.

Google and Apple issue OpenID Connect ID tokens (RS256 JWTs) that verify against the
provider's published keys (JWKS); Facebook issues access tokens that its Graph API checks
(`/debug_token` with the app's token). Tests build a `JwksVerifier` over keys they generate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt

from gullak.identity.errors import InvalidSocialToken
from gullak.settings import Settings


@dataclass(frozen=True)
class SocialIdentity:
    provider: str
    subject: str
    email: str | None


class Verifier(Protocol):
    async def verify(self, token: str) -> SocialIdentity: ...


class JwksVerifier:
    """An OpenID Connect ID token: signature by one of the issuer's keys, issuer, audience,
    expiry."""

    def __init__(self, provider: str, issuers: list[str], audiences: list[str],
                 jwks: dict[str, Any] | None = None, jwks_url: str | None = None) -> None:
        self.provider = provider
        self.issuers = issuers
        self.audiences = audiences
        self._static = jwt.PyJWKSet.from_dict(jwks) if jwks else None
        self._client = jwt.PyJWKClient(jwks_url) if jwks_url else None

    def _key(self, token: str) -> Any:
        if self._static is not None:
            kid = jwt.get_unverified_header(token).get("kid")
            for key in self._static.keys:
                if key.key_id == kid:
                    return key.key
            raise InvalidSocialToken()
        assert self._client is not None
        return self._client.get_signing_key_from_jwt(token).key

    async def verify(self, token: str) -> SocialIdentity:
        if not self.audiences:
            raise InvalidSocialToken(f"{self.provider} sign-in is not configured.")
        try:
            claims = jwt.decode(token, self._key(token), algorithms=["RS256"],
                                audience=self.audiences, options={"require": ["exp", "sub"]})
        except (jwt.PyJWTError, ValueError) as exc:
            raise InvalidSocialToken() from exc
        if claims.get("iss") not in self.issuers:
            raise InvalidSocialToken()
        email = claims.get("email") if claims.get("email_verified") in (True, "true") else None
        return SocialIdentity(self.provider, str(claims["sub"]), email)


class FacebookVerifier:
    """Graph API: GET /debug_token?input_token=...&access_token={app_id}|{app_secret}."""

    base_url = "https://graph.facebook.com"

    def __init__(self, app_id: str | None, app_secret: str | None,
                 client: httpx.AsyncClient | None = None) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.client = client

    async def verify(self, token: str) -> SocialIdentity:
        if not (self.app_id and self.app_secret):
            raise InvalidSocialToken("facebook sign-in is not configured.")
        params = {"input_token": token, "access_token": f"{self.app_id}|{self.app_secret}"}
        client = self.client or httpx.AsyncClient(base_url=self.base_url, timeout=10)
        try:
            response = await client.get("/debug_token", params=params)
            data = response.json().get("data", {}) if response.status_code == 200 else {}
        except httpx.HTTPError as exc:
            raise InvalidSocialToken("facebook could not be reached.") from exc
        finally:
            if self.client is None:
                await client.aclose()
        if not data.get("is_valid") or str(data.get("app_id")) != self.app_id:
            raise InvalidSocialToken()
        return SocialIdentity("facebook", str(data["user_id"]), None)


def verifiers_from(settings: Settings) -> dict[str, Verifier]:
    return {
        "google": JwksVerifier("google", ["https://accounts.google.com", "accounts.google.com"],
                               settings.google_client_ids,
                               jwks_url="https://www.googleapis.com/oauth2/v3/certs"),
        "apple": JwksVerifier("apple", ["https://appleid.apple.com"], settings.apple_client_ids,
                              jwks_url="https://appleid.apple.com/auth/keys"),
        "facebook": FacebookVerifier(
            settings.facebook_app_id,
            settings.facebook_app_secret.get_secret_value() if settings.facebook_app_secret
            else None),
    }
