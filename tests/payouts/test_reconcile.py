"""Reconciliation: a day's disbursements against the provider's statement and the payout
clearing account; any difference is reported and the CLI exits 1."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from sqlalchemy import text

from gullak.db.engine import Database
from gullak.kit import clock
from gullak.payouts import flows
from gullak.payouts.providers.sandbox import Sandbox
from gullak.settings import Settings
from tests.payments.test_reconcile import gullak
from tests.payouts.support import add_bank, as_admin, as_user, fund, make_user, run_jobs


async def paid(api: httpx.AsyncClient, db: Database, settings: Settings, user: uuid.UUID,
               method: str, amount: int) -> str:
    w = (await api.post("/v1/me/withdrawals", headers=as_user(user),
                        json={"amount": amount, "method_id": method})).json()
    await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(2),
                   json={"reason": "fine"})
    assert await run_jobs(db, settings) == ["succeeded"]
    got = (await api.get(f"/v1/me/withdrawals/{w['id']}", headers=as_user(user))).json()
    return str(got["disbursements"][0]["provider_ref"])


async def test_a_day_of_payouts_reconciles_and_differences_are_found(
        api: httpx.AsyncClient, fresh_db: Database, settings: Settings, sandbox: Sandbox,
        tmp_path: Path) -> None:
    user = await make_user(fresh_db)
    await fund(fresh_db, user, 1_000_000)
    method = (await add_bank(api, settings, user))["id"]
    await paid(api, fresh_db, settings, user, method, 150_000)
    bounced = await paid(api, fresh_db, settings, user, method, 250_000)
    sent = await sandbox.settle(bounced, "reversed")
    assert sent is not None
    await api.post("/v1/payouts/callbacks/sandbox", content=sent[1], headers=sent[0])
    assert await run_jobs(fresh_db, settings) == ["reversed"]

    today = clock.now().date()
    report = await flows.reconcile_day(fresh_db, settings, today)
    assert report.ok, report.differences
    assert (report.paid, report.reversed, report.clearing_movement) == (
        {"INR": 400_000}, {"INR": 250_000}, {"INR": 150_000})
    assert report.checked == 2 and report.provider_paid == {"sandbox": 150_000}
    out = gullak(tmp_path, fresh_db.url, "payouts", "reconcile", "--day", today.isoformat())
    assert out.returncode == 0, out.stderr + out.stdout

    # The provider paid something we never asked for, and paid another amount than asked.
    async with fresh_db.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO payout_sandbox (ref, key, reference, amount, currency, destination,"
            " status, day) VALUES ('sandbox_pout_stray', 'stray', 'none', 999, 'INR',"
            " 'XXXX0001', 'succeeded', :day)"), {"day": today})
        await conn.execute(text("UPDATE payout_sandbox SET amount = amount + 1"
                                " WHERE status = 'succeeded' AND ref <> 'sandbox_pout_stray'"))
    report = await flows.reconcile_day(fresh_db, settings, today)
    assert sorted(d.what for d in report.differences) == ["amount", "unknown_to_us"]
    out = gullak(tmp_path, fresh_db.url, "payouts", "reconcile", "--day", today.isoformat())
    assert out.returncode == 1
    assert "unknown_to_us" in out.stderr + out.stdout
    assert (await flows.reconcile_day(fresh_db, settings, today.replace(year=2020))).ok
