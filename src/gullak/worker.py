"""The job queue (Procrastinate on our own PostgreSQL) and the worker that runs it.

Jobs are rows in the same database as everything else. `enqueue` writes the job over the
session's own connection, so it commits or rolls back with the work that caused it: no job
for a rolled-back change, no lost job for a committed one.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import procrastinate
import structlog
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import collector

log = structlog.get_logger("gullak.worker")

queue = procrastinate.App(connector=procrastinate.PsycopgConnector())
_db: Database | None = None


def worker_db() -> Database:
    """The database jobs open their units of work on (set while the worker runs)."""
    if _db is None:
        raise RuntimeError("the worker is not running")
    return _db


async def drain(step: Callable[..., Awaitable[int]], batch: int) -> int:
    """Run `step(session, limit=batch)` in its own unit of work until a batch comes back short:
    a long backlog commits as it goes instead of holding one huge transaction."""
    total = 0
    while True:
        async with unit_of_work(worker_db()) as session:
            done = await step(session, limit=batch)
        total += done
        if done < batch:
            return total


class QuietPeriodic(logging.Filter):
    """A periodic job that succeeds is routine: its lines go to debug, so that a worker's log
    shows what needs reading (failures, one-off jobs) instead of a line a minute per job."""

    ROUTINE = {"periodic_task_deferred", "start_job", "job_success"}

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "action", None) not in self.ROUTINE:
            return True
        job = getattr(record, "job", None) or {}
        if job.get("task_name") not in periodic_tasks():
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def periodic_tasks() -> set[str]:
    return {p.task.name for p in queue.periodic_registry.periodic_tasks.values()}


def quiet_periodic_logs() -> None:
    # On the handlers: procrastinate logs through per-worker child loggers too.
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, QuietPeriodic) for f in handler.filters):
            handler.addFilter(QuietPeriodic())


def load_jobs() -> None:
    """Import every domain's jobs (their tasks register on `queue`) and wire the domains, so
    that a worker started alone audits and authorises exactly as the API does."""
    from gullak import domains

    domains.install()
    for module in domains.job_modules():
        importlib.import_module(module)


async def enqueue(
    session: AsyncSession, task: procrastinate.tasks.Task[Any, Any, Any], /, **kwargs: Any
) -> int:
    """Write a job in the session's transaction; returns the job id."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    job_id: int = await task.configure(connection=raw.driver_connection).defer_async(**kwargs)
    return job_id


def open_pool(url: str, *, max_size: int, pgbouncer: bool = False) -> AsyncConnectionPool:
    # Procrastinate returns rows as dicts: its pool needs no row factory of ours. Behind
    # PgBouncer's transaction pooling a prepared statement may meet another server connection.
    kwargs: dict[str, Any] = {"application_name": "gullak-worker"}
    if pgbouncer:
        kwargs["prepare_threshold"] = None
    return AsyncConnectionPool(url, min_size=1, max_size=max_size, open=False, kwargs=kwargs)


async def run(url: str, *, concurrency: int, stop_after_idle: bool = False,
              pgbouncer: bool | None = None) -> None:
    """Run the worker until cancelled (or, with `stop_after_idle`, until the queue is empty).
    `pgbouncer` defaults to the GULLAK_DATABASE_PGBOUNCER setting."""
    global _db
    if pgbouncer is None:
        from gullak.settings import get_settings

        pgbouncer = get_settings().database_pgbouncer
    load_jobs()
    quiet_periodic_logs()
    pool = open_pool(url, max_size=concurrency + 2, pgbouncer=pgbouncer)
    await pool.open(wait=True)
    _db = Database(url, pool_size=concurrency, max_overflow=0, pgbouncer=pgbouncer)
    collector.settle()
    # A connector per run: Procrastinate's connector keeps an external pool after closing,
    # so a second run in the same process (tests, restarts) must not reuse it.
    try:
        with queue.replace_connector(procrastinate.PsycopgConnector()):
            async with queue.open_async(pool):
                log.info("worker_started", concurrency=concurrency)
                await queue.run_worker_async(
                    concurrency=concurrency,
                    wait=not stop_after_idle,
                    install_signal_handlers=False,
                    shutdown_graceful_timeout=10,
                )
    finally:
        await _db.dispose()
        _db = None
        await pool.close()
