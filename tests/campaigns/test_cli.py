"""`gullak campaigns send`: one pass of the sender from the command line, on a real database."""

from __future__ import annotations

import uuid
from pathlib import Path

from typer.testing import CliRunner

from gullak.campaigns.models import Campaign
from gullak.cli import app
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from tests.campaigns.support import (
    make_segment,
    make_template,
    make_user,
    notifications_of,
    sending_campaign,
)
from tests.test_cli import base_env, gullak


def test_the_command_explains_itself() -> None:
    result = CliRunner().invoke(app, ["campaigns", "send", "--help"])
    assert result.exit_code == 0 and "throttle" in result.output


async def test_one_pass_sends_what_the_throttle_allows(fresh_db: Database,
                                                       tmp_path: Path) -> None:
    city = f"Cli{uuid.uuid4().hex[:6]}"
    async with unit_of_work(fresh_db) as session:
        users = [await make_user(session, city=city) for _ in range(3)]
        campaign = await sending_campaign(session, await make_segment(
            session, [{"type": "city", "city": city}]), await make_template(session),
            throttle=2)
        row = await session.get(Campaign, campaign)
        assert row is not None
        # The command runs on the real clock: due now.
        row.status, row.send_at, row.started_at = "scheduled", clock.now(), None
    out = gullak("campaigns", "send", env=base_env(tmp_path, fresh_db.url))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("2 users reached")
    async with unit_of_work(fresh_db) as session:
        sent = await notifications_of(session, campaign)
        assert len(sent) == 2 and set(sent) <= set(users) and set(sent.values()) == {1}
        row = await session.get(Campaign, campaign)
        assert row is not None and row.status == "sending"
