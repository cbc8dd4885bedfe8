"""SMS through identity's sender (the sandbox there sends nothing; the text stays on the
delivery row). Twilio's Messages API takes no idempotency key: a worker that dies between
Twilio's answer and our record sends the text once more when the lease runs out."""

from __future__ import annotations

from typing import Any

import httpx

from gullak.notifications.deliveries import Message, Outcome


class SmsChannel:
    def __init__(self, sender: Any) -> None:
        self.sender = sender
        self.name = str(sender.name)

    async def send(self, message: Message) -> Outcome:
        try:
            sent = await self.sender.send(message.target, message.content["text"])
        except httpx.HTTPStatusError as exc:
            code = exc.response.status_code
            temporary = code == 429 or code >= 500
            return Outcome("retry" if temporary else "failed", self.name, error=f"http {code}")
        except httpx.HTTPError as exc:
            return Outcome("retry", self.name, error=type(exc).__name__)
        return Outcome("sent", sent.provider, provider_id=sent.provider_id)
