"""Firebase Cloud Messaging, HTTP v1 API (Android and web push).

Authentication is OAuth 2.0 with a service account: a JWT (RS256, signed with the account's
private key) with scope firebase.messaging is exchanged at the account's token_uri for an
access token (grant type jwt-bearer), reused until shortly before it expires. A message is
POST https://fcm.googleapis.com/v1/projects/{project}/messages:send with
{"message": {"token", "notification": {"title", "body"}, "data": {...}}}. FCM has no
idempotency key: ours travels in the data (`gullak_key`) for the app to drop a repeat.
Errors: 404 NOT_FOUND / UNREGISTERED and 400 INVALID_ARGUMENT on the token mean the token is
dead; 429 and 5xx are temporary.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt

from gullak.notifications.deliveries import Message, Outcome

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
SEND_URL = "https://fcm.googleapis.com/v1/projects/{project}/messages:send"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class FcmSender:
    name = "fcm"

    def __init__(self, project_id: str, service_account_json: str,
                 client: httpx.AsyncClient | None = None) -> None:
        account = json.loads(service_account_json)
        self.project_id = project_id
        self.client_email: str = account["client_email"]
        self.private_key: str = account["private_key"]
        self.token_uri: str = account.get("token_uri", "https://oauth2.googleapis.com/token")
        self.client = client or httpx.AsyncClient(timeout=10)
        self._token: tuple[str, float] | None = None

    async def access_token(self) -> str:
        now = time.time()
        if self._token is not None and self._token[1] > now + 60:
            return self._token[0]
        assertion = jwt.encode({"iss": self.client_email, "scope": SCOPE, "aud": self.token_uri,
                                "iat": int(now), "exp": int(now) + 3600},
                               self.private_key, algorithm="RS256")
        response = await self.client.post(self.token_uri,
                                          data={"grant_type": GRANT, "assertion": assertion})
        response.raise_for_status()
        body = response.json()
        self._token = (body["access_token"], now + float(body.get("expires_in", 3600)))
        return self._token[0]

    def payload(self, message: Message) -> dict[str, Any]:
        content = message.content
        # FCM data values must be strings.
        data = {str(k): str(v) for k, v in (content.get("data") or {}).items()}
        data["gullak_key"] = message.key
        return {"message": {"token": message.target,
                            "notification": {"title": content["title"], "body": content["body"]},
                            "data": data}}

    async def send(self, message: Message) -> Outcome:
        try:
            token = await self.access_token()
            response = await self.client.post(
                SEND_URL.format(project=self.project_id), json=self.payload(message),
                headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            return Outcome("retry", self.name, error=type(exc).__name__)
        if response.status_code == 200:
            return Outcome("sent", self.name, provider_id=response.json().get("name"))
        return self.failure(response)

    def failure(self, response: httpx.Response) -> Outcome:
        code = response.status_code
        try:
            error = response.json().get("error", {})
        except ValueError:
            error = {}
        status = str(error.get("status", ""))
        codes = {str(d.get("errorCode", "")) for d in error.get("details", [])
                 if isinstance(d, dict)}
        text = f"{code} {status} {' '.join(sorted(codes))}".strip()
        if "UNREGISTERED" in codes or code == 404:
            return Outcome("invalid_target", self.name, error=text)
        if status == "INVALID_ARGUMENT" and "token" in str(error.get("message", "")).lower():
            return Outcome("invalid_target", self.name, error=text)
        if code == 401:
            self._token = None  # expired or revoked: fetch a new one on the retry
        if code in (401, 429) or code >= 500:
            return Outcome("retry", self.name, error=text)
        return Outcome("failed", self.name, error=text)
