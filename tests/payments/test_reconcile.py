"""Reconciliation: the periodic check finds payments whose webhook never came, and the day's
comparison with the gateway and the clearing account reports any difference (the CLI exits 1).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from sqlalchemy import text
from typer.testing import CliRunner

from gullak.cli import app as cli
from gullak.db.engine import Database
from gullak.kit import clock
from gullak.payments import flows
from tests.payments.support import as_user, count, run_payment_jobs, wallet


def gullak(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GULLAK_")}
    env.update(GULLAK_DATABASE_URL=url, GULLAK_DATA_DIR=str(tmp_path / "data"),
               GULLAK_LOG_FORMAT="json")
    return subprocess.run([sys.executable, "-m", "gullak.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


async def test_lost_webhook_found_by_the_check_and_the_day_reconciles(
        pay: httpx.AsyncClient, fresh_db: Database, tmp_path: Path) -> None:
    user = uuid.uuid4()
    topup = (await pay.post("/v1/me/topups", json={"amount": 8_000},
                            headers=as_user(user))).json()
    today = clock.now().date()
    clean = await flows.reconcile_day(fresh_db, today)
    assert clean.ok and clean.checked == 1 and clean.captured == 0
    # The person paid, the webhook never came: the gateway says captured, we say pending.
    async with fresh_db.engine.begin() as conn:
        await conn.execute(text("UPDATE payment_sandbox_orders SET status = 'paid'"))
    report = await flows.reconcile_day(fresh_db, today)
    assert not report.ok
    assert [(d.what, d.ours, d.theirs) for d in report.differences] == [("captured", 0, 8_000)]
    out = gullak(tmp_path, fresh_db.url, "payments", "reconcile", "--day", today.isoformat())
    assert out.returncode == 1, out.stderr
    assert "captured" in out.stderr + out.stdout

    # Not yet overdue: nothing asked. Past the deadline: asked, and credited once.
    assert await flows.check_overdue(fresh_db, dt.timedelta(minutes=30)) == 0
    assert await flows.check_overdue(fresh_db, dt.timedelta(0)) == 1
    assert await wallet(fresh_db, user) == 8_000
    assert await count(fresh_db, "gateway_events", "event_id LIKE 'poll:%'") == 1
    assert await flows.check(fresh_db, uuid.UUID(topup["id"])) == "already_polled"
    assert await run_payment_jobs(fresh_db) == []
    report = await flows.reconcile_day(fresh_db, today)
    assert report.ok, report.differences
    assert (report.captured, report.clearing_movement) == (8_000, -8_000)
    out = gullak(tmp_path, fresh_db.url, "payments", "reconcile", "--day", today.isoformat())
    assert out.returncode == 0, out.stderr + out.stdout


async def test_a_refund_the_gateway_does_not_know_is_a_difference(
        pay: httpx.AsyncClient, fresh_db: Database) -> None:
    topup = (await pay.post("/v1/me/topups", json={"amount": 3_000},
                            headers=as_user(uuid.uuid4()))).json()
    await pay.post(httpx.URL(topup["checkout_url"]).path, params={"outcome": "paid"})
    await run_payment_jobs(fresh_db)
    await flows.refund(fresh_db, uuid.UUID(topup["id"]), 1_000, "r-1")
    today = clock.now().date()
    assert (await flows.reconcile_day(fresh_db, today)).ok
    async with fresh_db.engine.begin() as conn:
        await conn.execute(text("UPDATE payment_sandbox_orders SET refunded = 0"))
    report = await flows.reconcile_day(fresh_db, today)
    assert [(d.what, d.ours, d.theirs) for d in report.differences] == [("refunded", 1_000, 0)]
    # Another day has none of it.
    other = await flows.reconcile_day(fresh_db, today - dt.timedelta(days=3))
    assert other.ok and other.checked == 0 and other.captured == 0


def test_reconcile_refuses_a_bad_day() -> None:
    result = CliRunner().invoke(cli, ["payments", "reconcile", "--day", "2026-13-01"])
    assert result.exit_code == 2
