"""The run log: a failed export says so (without quoting what it read), leaves no file and
cannot be downloaded; a run is claimed once; the daily warehouse export runs each configured
dataset's day once, and again only after a failure."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.exports import datasets, runner, service
from gullak.settings import Settings
from tests.exports.support import add_orders, as_admin, at, run_jobs

DAY, NEXT = dt.date(2026, 11, 10), dt.date(2026, 11, 11)
BODY = {"dataset": "orders", "since": str(DAY), "until": str(NEXT), "format": "csv"}


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def broken_orders(monkeypatch: pytest.MonkeyPatch) -> None:
    """The orders stream gives a few thousand rows, then fails with a message that must not
    reach the run log."""
    real = datasets.DATASETS["orders"]

    async def rows(session: AsyncSession, since: dt.datetime,
                   until: dt.datetime) -> AsyncIterator[dict[str, Any]]:
        async for row in real.rows(session, since, until):
            yield row
        blank = dict.fromkeys(real.names)
        for n in range(5_000):  # past the first CSV chunk: part of the file was written
            yield {**blank, "id": uuid.uuid4(), "number": f"N{n}", "total": n}
        raise RuntimeError("connection lost: password=hunter2 row=secret")

    monkeypatch.setitem(datasets.DATASETS, "orders",
                        datasets.Dataset("orders", real.columns, rows, real.description))


@pytest.mark.usefixtures("broken_orders")
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_a_failed_export_is_logged_and_leaves_no_file(
        api: httpx.AsyncClient, fresh_db: Database, settings: Settings, fmt: str) -> None:
    await add_orders(fresh_db, [at("2026-11-10")])
    asked = (await api.post("/v1/admin/exports", headers=as_admin(),
                            json={**BODY, "format": fmt})).json()

    assert await run_jobs(fresh_db, settings) == ["failed"]

    shown = (await api.get(f"/v1/admin/exports/{asked['id']}", headers=as_admin())).json()
    assert shown["status"] == "failed" and shown["finished_at"] is not None
    assert shown["error"].startswith("RuntimeError")
    assert "hunter2" not in shown["error"] and "secret" not in shown["error"]
    assert shown["rows"] is None and shown["checksum"] is None
    got = await api.get(f"/v1/admin/exports/{asked['id']}/download", headers=as_admin())
    assert got.status_code == 409 and got.json()["code"] == "export_failed"
    assert files(settings.data_dir / "exports") == []


async def test_an_unwritable_storage_fails_the_run_with_the_reason(
        fresh_db: Database, settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the exports folder should be")
    here = settings.model_copy(update={"export_dir": blocker})

    done = await runner.export_now(fresh_db, here, "orders", DAY, NEXT, "csv")

    assert done.status == "failed"
    assert done.error is not None and done.error.split(":")[0] in (
        "FileExistsError", "NotADirectoryError")


async def test_a_run_is_claimed_once(fresh_db: Database, settings: Settings) -> None:
    await add_orders(fresh_db, [at("2026-11-10")])
    async with unit_of_work(fresh_db) as session:
        row = await service.create(session, "orders", DAY, NEXT, "csv", requested_by=None,
                                   requested_by_kind="cli")
    first = await runner.execute(fresh_db, settings, row.id)
    again = await runner.execute(fresh_db, settings, row.id)  # the job delivered twice

    assert first.status == again.status == "done"
    assert (again.checksum, again.finished_at) == (first.checksum, first.finished_at)
    assert len(files(settings.data_dir / "exports")) == 1


async def test_the_warehouse_day_runs_each_dataset_once(fresh_db: Database,
                                                        settings: Settings) -> None:
    await add_orders(fresh_db, [at("2026-11-10"), at("2026-11-11")])
    here = settings.model_copy(update={"export_warehouse_datasets": "orders, withdrawals,nope",
                                       "export_warehouse_format": "csv"})

    runs = await runner.warehouse_day(fresh_db, here, DAY)
    again = await runner.warehouse_day(fresh_db, here, DAY)

    assert [(r.dataset, r.status, r.rows, r.requested_by_kind) for r in runs] == [
        ("orders", "done", 1, "schedule"), ("withdrawals", "done", 0, "schedule")]
    assert [(r.since, r.until) for r in runs] == [(DAY, NEXT)] * 2
    assert again == []
    async with fresh_db.engine.connect() as conn:
        logged = await conn.scalar(text("SELECT count(*) FROM warehouse_exports"))
    assert logged == 2


@pytest.mark.usefixtures("broken_orders")
async def test_a_failed_warehouse_day_runs_again_and_the_others_are_kept(
        fresh_db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    here = settings.model_copy(update={"export_warehouse_datasets": "orders,cashbacks"})

    first = await runner.warehouse_day(fresh_db, here, DAY)
    assert [(r.dataset, r.status) for r in first] == [("orders", "failed"),
                                                      ("cashbacks", "done")]
    monkeypatch.undo()
    second = await runner.warehouse_day(fresh_db, here, DAY)
    assert [(r.dataset, r.status) for r in second] == [("orders", "done")]


async def test_the_warehouse_schedule_is_daily_and_off_by_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from gullak.exports import jobs
    from gullak.worker import queue

    periodic = [p for p in queue.periodic_registry.periodic_tasks.values()
                if p.task.name == "exports.warehouse"]
    assert [p.cron for p in periodic] == ["30 1 * * *"]
    assert Settings().export_warehouse_enabled is False
    # Off: the job touches nothing (no worker database is even asked for).
    monkeypatch.setattr(jobs, "get_settings", lambda: Settings(export_warehouse_enabled=False))
    assert await jobs.warehouse(timestamp=1_790_000_000) == 0
