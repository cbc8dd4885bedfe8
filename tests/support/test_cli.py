"""`gullak support breaches`: what the periodic check does, by hand, on a real database."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

from typer.testing import CliRunner

from gullak.cli import app
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.settings import Settings
from gullak.support import service
from gullak.support.schemas import TicketIn


def gullak(*args: str, url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GULLAK_")}
    env.update(GULLAK_DATABASE_URL=url, GULLAK_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run([sys.executable, "-m", "gullak.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_command_explains_itself() -> None:
    result = CliRunner().invoke(app, ["support", "breaches", "--help"])
    assert result.exit_code == 0 and "SLA" in result.output


async def test_breaches_are_flagged_once(fresh_db: Database, tmp_path: Path,
                                         settings: Settings) -> None:
    clock.freeze(dt.datetime.now(dt.UTC) - dt.timedelta(days=30))
    async with unit_of_work(fresh_db) as session:
        await service.open_ticket(session, settings, uuid.uuid4(),
                                  TicketIn(title="Old", body="Nobody answered"))
    clock.reset()
    async with unit_of_work(fresh_db) as session:
        await service.open_ticket(session, settings, uuid.uuid4(),
                                  TicketIn(title="New", body="Just now"))
    first = gullak("support", "breaches", url=fresh_db.url, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "1 tickets newly flagged, 1 open tickets breached" in first.stdout
    again = gullak("support", "breaches", url=fresh_db.url, tmp_path=tmp_path)
    assert "0 tickets newly flagged, 1 open tickets breached" in again.stdout
