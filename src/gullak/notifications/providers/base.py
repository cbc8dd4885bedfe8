"""The interface every sender has, and how the configured ones are chosen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gullak.notifications.deliveries import Message, Outcome


class Sender(Protocol):
    name: str

    async def send(self, message: Message) -> Outcome:
        """Send once; `message.key` is the idempotency key: the same key sent again is the
        same message to the provider (where it allows) and to the sandboxes."""
        ...


@dataclass(frozen=True)
class Senders:
    android: Sender  # and web: FCM
    ios: Sender
    sms: Sender
    email: Sender

    def for_message(self, message: Message) -> Sender:
        if message.channel == "push":
            return self.ios if message.platform == "ios" else self.android
        return self.sms if message.channel == "sms" else self.email
