"""`gullak doctor`: a healthy installation passes, and each problem it names is found when it is
made to happen (a missing partition, a stuck job, a development secret in production, ...)."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest
from sqlalchemy import text

from gullak import worker
from gullak.activity import service as activity
from gullak.analytics import service as analytics
from gullak.db import partitions
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.offers import service as offers
from gullak.settings import Settings
from gullak.system import doctor
from gullak.system.doctor import Check

DATABASE_CHECKS = ("database", *doctor.DB_CHECKS)
Usage = namedtuple("Usage", "total used free")


async def make_months_ahead(db: Database, settings: Settings) -> None:
    """What the daily partition jobs do."""
    async with unit_of_work(db) as session:
        await partitions.ensure(session)
        await analytics.maintain_partitions(session, settings)
        await offers.ensure_partitions(session)
        await activity.ensure_partitions(session)


async def record_periodic_runs(db: Database, ago: dict[str, dt.timedelta] | None = None) -> None:
    """Every schedule deferred as a worker would: now, or `ago[task name]` before now."""
    worker.load_jobs()
    now = clock.now()
    rows = [{"task": task, "id": periodic_id,
             "at": int((now - (ago or {}).get(task, dt.timedelta(0))).timestamp())}
            for task, periodic_id in worker.queue.periodic_registry.periodic_tasks]
    async with unit_of_work(db) as session:
        await session.execute(text(
            "INSERT INTO procrastinate_periodic_defers (task_name, periodic_id, defer_timestamp)"
            " VALUES (:task, :id, :at)"), rows)


async def healthy(db: Database, settings: Settings) -> None:
    await make_months_ahead(db, settings)
    await record_periodic_runs(db)


async def sql(db: Database, statement: str, **params: object) -> object:
    async with unit_of_work(db) as session:
        result = await session.execute(text(statement), params)
        return result.scalar() if result.returns_rows else None


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def next_month() -> dt.datetime:
    return partitions.next_month(clock.now())


async def test_a_healthy_installation_passes(fresh_db: Database, settings: Settings) -> None:
    await healthy(fresh_db, settings)
    checks = by_name(await doctor.run(settings, fresh_db))
    assert set(checks) == {"configuration", "production settings", "disk space",
                           *DATABASE_CHECKS}
    problems = {n: c for n, c in checks.items() if c.status != "ok" and n != "disk space"}
    assert problems == {}
    assert checks["migrations"].detail.startswith("at head")
    assert "pg_trgm" in checks["extensions"].detail


@pytest.mark.parametrize(("table", "schema"), [
    ("activity_events", "analytics_partitions"),  # by time, with a DEFAULT partition
    ("audit_log", "partitions"),                   # by the month of a UUIDv7 id
    ("step_records", "partitions"),                # by date
    ("offer_views", "offer_partitions"),
])
async def test_a_missing_partition_for_next_month_fails_naming_its_table(
        fresh_db: Database, settings: Settings, table: str, schema: str) -> None:
    await healthy(fresh_db, settings)
    name = f"{schema}.{table}_p{next_month():%Y_%m}"
    await sql(fresh_db, f"ALTER TABLE {table} DETACH PARTITION {name}")
    check = by_name(await doctor.run(settings, fresh_db))["partitions"]
    assert check.status == "fail"
    assert check.detail == f"{table} has no partition from {next_month():%Y-%m-%d}"
    assert "gullak worker" in check.fix


async def test_a_job_waiting_an_hour_fails_the_queue_check(fresh_db: Database,
                                                            settings: Settings) -> None:
    await healthy(fresh_db, settings)
    insert = ("INSERT INTO procrastinate_jobs (queue_name, task_name, scheduled_at)"
              " VALUES ('default', 'system.prune_rate_limits', :at) RETURNING id")
    waiting = await sql(fresh_db, insert, at=None)
    later = await sql(fresh_db, insert, at=clock.now() + dt.timedelta(days=1))
    assert by_name(await doctor.run(settings, fresh_db))["job queue"].status == "ok"

    await sql(fresh_db, "UPDATE procrastinate_events SET at = now() - interval '1 hour'"
                        " WHERE job_id IN (:a, :b)", a=waiting, b=later)
    check = by_name(await doctor.run(settings, fresh_db))["job queue"]
    assert check.status == "fail"
    assert check.detail.startswith("1 runnable, the oldest waiting 60 min")  # not the later one


async def test_a_failed_job_is_a_warning(fresh_db: Database, settings: Settings) -> None:
    await healthy(fresh_db, settings)
    job = await sql(fresh_db, "INSERT INTO procrastinate_jobs (queue_name, task_name) VALUES"
                              " ('default', 'payouts.disburse') RETURNING id")
    for status in ("doing", "failed"):
        await sql(fresh_db, "UPDATE procrastinate_jobs SET status = CAST(:s AS"
                            " procrastinate_job_status) WHERE id = :id", s=status, id=job)
    checks = await doctor.run(settings, fresh_db)
    check = by_name(checks)["failed jobs"]
    assert check.status == "warn"
    assert "payouts.disburse" in check.detail and f"({job})" in check.fix
    assert doctor.report(checks)["ok"] is True  # a warning alone does not fail


def production(tmp_path: Path, **values: object) -> Settings:
    strong = {"secret_key": secrets.token_urlsafe(32),
              "encryption_key": secrets.token_urlsafe(32)}
    return Settings(**{"env": "production", "data_dir": tmp_path / "data",
                       "database_url": "postgresql://db.internal/gullak", **strong, **values})


def development_secret(tmp_path: Path) -> str:
    """The secret key a development server generated in this data folder."""
    return Settings(env="development", data_dir=tmp_path / "data").secret("secret_key")


def test_a_development_secret_in_production_fails_without_showing_it(tmp_path: Path) -> None:
    strong = doctor.production_settings(production(tmp_path))
    assert "GULLAK_SECRET_KEY" not in strong.detail

    leaked = development_secret(tmp_path)
    check = doctor.production_settings(production(tmp_path, secret_key=leaked))
    assert check.status == "fail"
    assert "GULLAK_SECRET_KEY is the development secret" in check.detail
    assert leaked not in doctor.to_json([check])

    short = doctor.production_settings(production(tmp_path, encryption_key="x" * 31 + ",k"))
    assert "GULLAK_ENCRYPTION_KEY is shorter than 32 characters" in short.detail


def test_unsafe_production_options_are_named_with_their_variable(tmp_path: Path) -> None:
    assert doctor.production_settings(Settings(env="development", api_docs=True)).status == "ok"
    check = doctor.production_settings(production(
        tmp_path, api_docs=True, partners_webhook_allow_private=True, https=True))
    assert "GULLAK_API_DOCS=true" in check.detail
    assert "GULLAK_PARTNERS_WEBHOOK_ALLOW_PRIVATE=true" in check.detail
    assert "GULLAK_PAYMENT_GATEWAY=sandbox" in check.detail
    assert "GULLAK_HTTPS" not in check.detail
    assert "set GULLAK_PARTNERS_WEBHOOK_ALLOW_PRIVATE=false" in check.fix


def test_a_start_up_error_is_a_failed_check(tmp_path: Path) -> None:
    check = doctor.configuration(production(tmp_path, database_url=None))
    assert check.status == "fail"
    assert "GULLAK_DATABASE_URL must be set" in check.detail


async def test_a_schedule_that_has_not_run_is_late(fresh_db: Database,
                                                   settings: Settings) -> None:
    await make_months_ahead(fresh_db, settings)
    await record_periodic_runs(fresh_db, {"system.ensure_partitions": dt.timedelta(days=3)})
    check = by_name(await doctor.run(settings, fresh_db))["periodic jobs"]
    assert check.status == "warn"
    assert check.detail.endswith("late: system.ensure_partitions (23 3 * * *): last 3 days ago")
    assert "gullak worker" in check.fix


async def test_no_schedule_run_on_an_old_database_fails(fresh_db: Database,
                                                        settings: Settings) -> None:
    clock.advance(dt.timedelta(days=3))  # the database (made just now) is three days old
    check = by_name(await doctor.run(settings, fresh_db))["periodic jobs"]
    assert check.status == "fail"
    assert "system.ensure_partitions (23 3 * * *): never" in check.detail


async def test_migrations_behind_or_unknown_fail(fresh_db: Database, settings: Settings) -> None:
    await sql(fresh_db, "UPDATE alembic_version SET version_num = '0037'")
    check = by_name(await doctor.run(settings, fresh_db))["migrations"]
    assert check.status == "fail"
    assert check.detail.startswith("at 0037, the newest is")
    assert check.fix == "run `gullak db upgrade`"

    await sql(fresh_db, "UPDATE alembic_version SET version_num = '9999'")
    check = by_name(await doctor.run(settings, fresh_db))["migrations"]
    assert check.status == "fail" and "does not know" in check.detail


async def test_a_missing_extension_fails(fresh_db: Database, settings: Settings) -> None:
    await sql(fresh_db, "DROP EXTENSION pg_trgm CASCADE")
    check = by_name(await doctor.run(settings, fresh_db))["extensions"]
    assert (check.status, check.detail) == ("fail", "missing: pg_trgm")
    assert "CREATE EXTENSION pg_trgm" in check.fix


async def test_clock_skew_fails_past_two_seconds(fresh_db: Database, settings: Settings) -> None:
    clock.advance(dt.timedelta(seconds=1))
    assert by_name(await doctor.run(settings, fresh_db))["clock"].status == "ok"
    clock.advance(dt.timedelta(seconds=29))
    check = by_name(await doctor.run(settings, fresh_db))["clock"]
    assert check.status == "fail"
    assert "behind this machine's" in check.detail and "NTP" in check.fix


async def test_an_unreachable_database_skips_its_checks(settings: Settings) -> None:
    db = Database("postgresql://postgres:hunter2hunter2@127.0.0.1:1/none", pool_size=1,
                  max_overflow=0)
    try:
        checks = await doctor.run(settings, db)
    finally:
        await db.dispose()
    found = by_name(checks)
    assert found["database"].status == "fail"
    assert "hunter2hunter2" not in doctor.to_json(checks)
    assert {found[n].status for n in doctor.DB_CHECKS} == {"skipped"}
    assert doctor.report(checks)["ok"] is False


@pytest.mark.parametrize(("free_gib", "status"), [(50, "ok"), (8, "warn"), (1.5, "warn"),
                                                  (4, "fail"), (0.5, "fail")])
def test_disk_space(tmp_path: Path, free_gib: float, status: str) -> None:
    def usage(path: Path) -> Usage:
        assert path == tmp_path  # the nearest folder that exists
        total = 100 * doctor.GIB if free_gib != 1.5 else 10 * doctor.GIB
        return Usage(total, total - free_gib * doctor.GIB, free_gib * doctor.GIB)

    assert doctor.disk_space(tmp_path / "data" / "not yet", usage).status == status


def gullak_doctor(url: str, tmp_path: Path, *args: str,
                  **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GULLAK_")}
    base.update(GULLAK_DATABASE_URL=url, GULLAK_DATA_DIR=str(tmp_path / "data"),
                GULLAK_LOG_FORMAT="json", **env)
    return subprocess.run([sys.executable, "-m", "gullak.cli", "doctor", *args], env=base,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


async def test_the_command_exits_0_when_healthy_and_1_on_a_problem(
        fresh_db: Database, settings: Settings, tmp_path: Path) -> None:
    await healthy(fresh_db, settings)
    out = gullak_doctor(fresh_db.url, tmp_path, "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    body = json.loads(out.stdout)
    assert body["ok"] is True
    assert {c["name"] for c in body["checks"]} >= set(DATABASE_CHECKS)

    table = gullak_doctor(fresh_db.url, tmp_path)
    assert table.returncode == 0 and "partitions" in table.stdout

    leaked = development_secret(tmp_path)
    out = gullak_doctor(fresh_db.url, tmp_path, "--json", GULLAK_ENV="production",
                        GULLAK_SECRET_KEY=leaked, GULLAK_ENCRYPTION_KEY=secrets.token_urlsafe(32))
    assert out.returncode == 1
    failed = {c["name"] for c in json.loads(out.stdout)["checks"] if c["status"] == "fail"}
    assert failed == {"production settings"}
    assert leaked not in out.stdout + out.stderr
