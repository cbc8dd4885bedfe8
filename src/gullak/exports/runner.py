"""Running an export: between units of work, as a file is written outside the database's
transaction. The run is marked running (one unit), the period's rows are streamed from the
dataset's domain into the file (one unit: one snapshot of the period), then the run
is marked done with its row count, size and checksum, or failed with what went wrong (one
unit each). The file is visible in the storage only once written whole."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import structlog

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.exports import formats, service
from gullak.exports.schemas import ExportOut
from gullak.exports.storage import LocalStorage, Storage, storage_for
from gullak.kit.errors import GullakError
from gullak.settings import Settings

log = structlog.get_logger("gullak.exports")


def _reason(exc: BaseException) -> str:
    """What the run log says went wrong: our own errors' words, a file system error's reason,
    and of anything else only its kind (a database error's text may quote the rows)."""
    if isinstance(exc, GullakError):
        return f"{exc.code}: {exc.detail}"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or 'file system error'}"
    return f"{type(exc).__name__}: the export stopped; the worker's log has the details"


async def execute(db: Database, settings: Settings, export_id: uuid.UUID, *,
                  storage: Storage | None = None) -> ExportOut:
    """Run a queued export to its end; the run as it ended. A run that is not queued is
    left as it is (a job delivered twice writes one file)."""
    async with unit_of_work(db) as session:
        row = await service.claim(session, export_id)
        if row is None:
            return await service.get_export(session, export_id)
        name, since, until, fmt = row.dataset, row.period_start, row.period_end, row.format
        location, path = row.location, row.path
    assert path is not None  # claim() gives every running export its path
    if location == "file":
        target: Storage = LocalStorage(Path(path).parent)
        key = Path(path).name
    else:
        target, key = storage or storage_for(settings), path
    log.info("export_started", export_id=str(export_id), dataset=name, since=str(since),
             until=str(until), format=fmt)
    try:
        dataset = service.dataset(name)
        start, end = service.bounds(since, until)
        with target.open_write(key) as raw:
            sink = formats.Sink(raw)
            async with unit_of_work(db) as session:
                count = await formats.write(fmt, dataset, dataset.rows(session, start, end),
                                            sink, row_group=settings.export_parquet_row_group)
    except Exception as exc:
        log.exception("export_failed", export_id=str(export_id), dataset=name)
        async with unit_of_work(db) as session:
            return await service.fail(session, export_id, _reason(exc))
    async with unit_of_work(db) as session:
        done = await service.finish(session, export_id, rows=count, size=sink.size,
                                    checksum=sink.checksum)
    log.info("export_done", export_id=str(export_id), rows=count, bytes=sink.size)
    return done


async def export_now(db: Database, settings: Settings, name: str, since: dt.date,
                     until: dt.date, fmt: str, *, out: Path | None = None,
                     requested_by_kind: str = "cli") -> ExportOut:
    """An export run here and now (the CLI): logged like any other, written to `out` when
    given, to the exports storage otherwise."""
    async with unit_of_work(db) as session:
        row = await service.create(
            session, name, since, until, fmt, requested_by=None,
            requested_by_kind=requested_by_kind, location="file" if out else "storage",
            path=str(out.resolve()) if out else None)
        export_id = row.id
    return await execute(db, settings, export_id)


def warehouse_datasets(settings: Settings) -> list[str]:
    return [n.strip() for n in settings.export_warehouse_datasets.split(",") if n.strip()]


async def warehouse_day(db: Database, settings: Settings, day: dt.date) -> list[ExportOut]:
    """The daily warehouse export: each configured dataset's `day`, once (a day exported by
    the schedule is not exported again unless that run failed); each run on its own, so one
    dataset's failure leaves the others exported."""
    runs: list[ExportOut] = []
    for name in warehouse_datasets(settings):
        fmt = settings.export_warehouse_format
        try:
            async with unit_of_work(db) as session:
                if await service.scheduled_exists(session, name, day, fmt):
                    continue
                row = await service.create(session, name, day, day + dt.timedelta(days=1),
                                           fmt, requested_by=None,
                                           requested_by_kind="schedule")
                export_id = row.id
        except GullakError as exc:  # a dataset named in the settings that does not exist
            log.warning("warehouse_export_refused", dataset=name, code=exc.code)
            continue
        runs.append(await execute(db, settings, export_id))
    return runs
