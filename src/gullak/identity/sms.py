"""Sending text messages: an interface, Twilio's REST API, and a local sandbox.

Messages are rows of `sms_outbox`, written in the transaction that caused them; the
`identity.send_sms` job hands each to the configured sender after that transaction committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from gullak.settings import Settings


@dataclass(frozen=True)
class Sent:
    provider: str
    provider_id: str | None
    sandbox: bool  # nothing left this machine: the body stays readable in sms_outbox


class SmsSender(Protocol):
    name: str

    async def send(self, phone: str, body: str) -> Sent: ...


class SandboxSms:
    """Sends nothing. The message stays in `sms_outbox` (status 'sandbox') so a developer can
    read the code there (`gullak sms outbox`); it never goes to the logs."""

    name = "sandbox"

    async def send(self, phone: str, body: str) -> Sent:
        return Sent(provider=self.name, provider_id=None, sandbox=True)


class TwilioSms:
    """Twilio Programmable Messaging: POST /2010-04-01/Accounts/{sid}/Messages.json with
    form fields To, From and Body, authenticated with the account SID and auth token."""

    name = "twilio"
    base_url = "https://api.twilio.com"

    def __init__(self, account_sid: str, auth_token: str, sender: str,
                 client: httpx.AsyncClient | None = None) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.client = client

    async def send(self, phone: str, body: str) -> Sent:
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        data = {"To": phone, "From": self.sender, "Body": body}
        auth = (self.account_sid, self.auth_token)
        if self.client is not None:
            response = await self.client.post(url, data=data, auth=auth)
        else:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(url, data=data, auth=auth)
        response.raise_for_status()
        return Sent(provider=self.name, provider_id=response.json().get("sid"), sandbox=False)


def sender_from(settings: Settings) -> SmsSender:
    if settings.sms_provider == "twilio":
        if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from):
            raise ValueError("GULLAK_SMS_PROVIDER=twilio needs GULLAK_TWILIO_ACCOUNT_SID, "
                             "GULLAK_TWILIO_AUTH_TOKEN and GULLAK_TWILIO_FROM")
        return TwilioSms(settings.twilio_account_sid,
                         settings.twilio_auth_token.get_secret_value(), settings.twilio_from)
    return SandboxSms()
