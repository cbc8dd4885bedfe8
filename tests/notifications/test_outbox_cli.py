"""`gullak push outbox` and `gullak email outbox` show what the sandboxes kept."""

from __future__ import annotations

from pathlib import Path

from gullak.db.engine import Database
from gullak.notifications import flows
from gullak.settings import Settings
from tests.notifications.test_delivery import _notified
from tests.test_cli import base_env, gullak


async def test_the_sandbox_outboxes(fresh_db: Database, settings: Settings,
                                    tmp_path: Path) -> None:
    found = await _notified(fresh_db, phone=False, devices=("android",))
    senders = flows.senders_from(settings, fresh_db)
    for delivery in found:
        assert await flows.deliver(fresh_db, settings, senders, delivery.id) == "sent"
    env = base_env(tmp_path, fresh_db.url)
    push = gullak("push", "outbox", env=env)
    assert push.returncode == 0, push.stderr
    assert "Hi Asha — You have 2 new things" in push.stdout
    email = next(d for d in found if d.channel == "email")
    mail = gullak("email", "outbox", "--to", email.target.upper(), env=env)
    assert mail.returncode == 0, mail.stderr
    assert email.target in mail.stdout and "2 new things" in mail.stdout
    none = gullak("email", "outbox", "--to", "nobody@example.com", env=env)
    assert none.returncode == 0 and none.stdout.strip() == ""
