"""What a newcomer sees: the demo credentials printed whole and again on demand, and a worker
log that is not flooded by routine periodic jobs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from gullak import seed, worker
from gullak.db.engine import Database
from gullak.settings import Settings


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gullak.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


async def test_gullak_demo_prints_the_credentials_again_unwrapped(
        fresh_db: Database, settings: Settings, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GULLAK_")}
    env.update(GULLAK_DATABASE_URL=fresh_db.url, GULLAK_DATA_DIR=str(settings.data_dir),
               GULLAK_LOG_FORMAT="json", COLUMNS="40")
    empty = cli("demo", env=env)
    assert empty.returncode == 1 and "gullak seed" in empty.stderr
    notes = await seed.load(fresh_db)
    out = cli("demo", env=env)
    assert out.returncode == 0, out.stderr
    # Every note on one line of its own, however narrow the terminal says it is.
    assert out.stdout.splitlines() == notes
    assert any("TOTP secret" in line and len(line) > 40 for line in notes)


def record(action: str, task_name: str) -> logging.LogRecord:
    rec = logging.LogRecord("procrastinate.worker", logging.INFO, __file__, 1, "job", None, None)
    rec.action, rec.job = action, {"task_name": task_name}
    return rec


def test_periodic_jobs_that_succeed_log_at_debug() -> None:
    worker.load_jobs()
    quiet = worker.QuietPeriodic()
    periodic = "ledger.expire_holds"
    assert periodic in worker.periodic_tasks()
    one_off = "merchants.verify_bank_account"
    assert one_off not in worker.periodic_tasks()
    logger = logging.getLogger("procrastinate.worker")
    level = logger.level
    try:
        logger.setLevel(logging.INFO)
        assert quiet.filter(record("job_success", periodic)) is False
        assert quiet.filter(record("start_job", periodic)) is False
        assert quiet.filter(record("job_success", one_off)) is True
        assert quiet.filter(record("job_error", periodic)) is True  # failures stay visible
        logger.setLevel(logging.DEBUG)
        shown = record("job_success", periodic)
        assert quiet.filter(shown) is True and shown.levelno == logging.DEBUG
    finally:
        logger.setLevel(level)


def test_task_registration_is_not_announced_at_info() -> None:
    from gullak.kit import logging as gullak_logging

    try:
        gullak_logging.configure("info", "json")
        for name in ("procrastinate.periodic", "procrastinate.blueprints"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO)
            assert logging.getLogger(name).isEnabledFor(logging.WARNING)
        gullak_logging.configure("debug", "json")
        assert logging.getLogger("procrastinate.periodic").isEnabledFor(logging.DEBUG)
    finally:
        gullak_logging.configure("info", "console")
