"""Apple Push Notification service (iOS push), token-based authentication.

A provider token is a JWT signed ES256 with the team's .p8 key: header {alg, kid: key id},
claims {iss: team id, iat}; Apple accepts one for up to an hour, so it is reused for 50
minutes. A notification is POST /3/device/{device token} on api.push.apple.com (or
api.sandbox.push.apple.com for development builds) over HTTP/2, with headers
authorization: bearer <jwt>, apns-topic (the bundle id), apns-push-type: alert and
apns-id: our idempotency key (a UUID; Apple echoes it and it identifies the notification).
410 (Unregistered) and 400 BadDeviceToken / DeviceTokenNotForTopic mean the token is dead;
429 and 5xx are temporary, as is 403 ExpiredProviderToken (a new token is made).

HTTP/2 needs httpx's `http2` extra (the h2 package); without it the sender refuses to start.
"""

from __future__ import annotations

import importlib.util
import time
import uuid
from typing import Any

import httpx
import jwt

from gullak.notifications.deliveries import Message, Outcome

HOST = "https://api.push.apple.com"
DEVELOPMENT_HOST = "https://api.sandbox.push.apple.com"
DEAD = {"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered"}


def http2_available() -> bool:
    return importlib.util.find_spec("h2") is not None


class ApnsSender:
    name = "apns"

    def __init__(self, team_id: str, key_id: str, private_key: str, topic: str, *,
                 development: bool = False, client: httpx.AsyncClient | None = None) -> None:
        if client is None and not http2_available():
            raise RuntimeError("APNs needs HTTP/2: install httpx[http2] (the h2 package)")
        self.team_id, self.key_id, self.private_key, self.topic = (team_id, key_id, private_key,
                                                                   topic)
        self.host = DEVELOPMENT_HOST if development else HOST
        self.client = client or httpx.AsyncClient(http2=True, timeout=10)
        self._token: tuple[str, float] | None = None

    def provider_token(self) -> str:
        now = time.time()
        if self._token is not None and now - self._token[1] < 50 * 60:
            return self._token[0]
        token = jwt.encode({"iss": self.team_id, "iat": int(now)}, self.private_key,
                           algorithm="ES256", headers={"kid": self.key_id})
        self._token = (token, now)
        return token

    def payload(self, message: Message) -> dict[str, Any]:
        content = message.content
        return {"aps": {"alert": {"title": content["title"], "body": content["body"]},
                        "sound": "default"},
                **{str(k): v for k, v in (content.get("data") or {}).items()}}

    def headers(self, message: Message) -> dict[str, str]:
        return {"authorization": f"bearer {self.provider_token()}", "apns-topic": self.topic,
                "apns-push-type": "alert", "apns-priority": "10",
                "apns-id": str(uuid.UUID(message.key))}

    async def send(self, message: Message) -> Outcome:
        try:
            response = await self.client.post(f"{self.host}/3/device/{message.target}",
                                              json=self.payload(message),
                                              headers=self.headers(message))
        except httpx.HTTPError as exc:
            return Outcome("retry", self.name, error=type(exc).__name__)
        if response.status_code == 200:
            return Outcome("sent", self.name,
                           provider_id=response.headers.get("apns-id", message.key))
        return self.failure(response)

    def failure(self, response: httpx.Response) -> Outcome:
        code = response.status_code
        try:
            reason = str(response.json().get("reason", ""))
        except ValueError:
            reason = ""
        text = f"{code} {reason}".strip()
        if code == 410 or reason in DEAD:
            return Outcome("invalid_target", self.name, error=text)
        if reason == "ExpiredProviderToken":
            self._token = None
            return Outcome("retry", self.name, error=text)
        if code == 429 or code >= 500:
            return Outcome("retry", self.name, error=text)
        return Outcome("failed", self.name, error=text)
