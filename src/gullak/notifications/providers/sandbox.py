"""Sandbox senders: nothing leaves the machine. Push and email keep the message in a table,
one row per idempotency key (a second send with the same key counts in `sends` and changes
nothing else), readable with `gullak push outbox` and `gullak email outbox`."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.notifications.deliveries import Message, Outcome
from gullak.notifications.models import SandboxEmail, SandboxPush


class SandboxPushSender:
    name = "sandbox"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def send(self, message: Message) -> Outcome:
        content = message.content
        stmt = insert(SandboxPush).values(
            key=message.key, token=message.target, title=content["title"], body=content["body"],
            data=content.get("data", {}), created_at=clock.now())
        async with unit_of_work(self.db) as session:
            await session.execute(stmt.on_conflict_do_update(
                index_elements=["key"], set_={"sends": SandboxPush.sends + 1}))
        return Outcome("sent", self.name, provider_id=f"sandbox-push-{message.key}")


class SandboxEmailSender:
    name = "sandbox"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def send(self, message: Message) -> Outcome:
        content = message.content
        stmt = insert(SandboxEmail).values(
            key=message.key, to_address=message.target, subject=content["subject"],
            text_body=content["text"], html_body=content.get("html"), created_at=clock.now())
        async with unit_of_work(self.db) as session:
            await session.execute(stmt.on_conflict_do_update(
                index_elements=["key"], set_={"sends": SandboxEmail.sends + 1}))
        return Outcome("sent", self.name, provider_id=f"<{message.key}@sandbox>")
