"""Exports commands and queries: the run log (`warehouse_exports`), and the checks on what an
export may be asked for. Writing the files is runner.py's, between units of work. Services
never commit: the caller's unit of work does."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.exports import errors
from gullak.exports.datasets import DATASETS, Dataset
from gullak.exports.models import WarehouseExport
from gullak.exports.schemas import ExportOut, ExportPage
from gullak.kit import clock
from gullak.kit.sql import keyset_page

EXTENSIONS = {"csv": "csv", "parquet": "parquet"}
ERROR_LENGTH = 500


def dataset(name: str) -> Dataset:
    found = DATASETS.get(name)
    if found is None:
        raise errors.UnknownDataset(f"No dataset {name!r}; there are {', '.join(DATASETS)}.",
                                    field="dataset")
    return found


def bounds(since: dt.date, until: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The period [since, until) as UTC instants."""
    if until <= since:
        raise errors.InvalidPeriod("`until` must be a later day than `since` (it is excluded).",
                                   field="until")
    return (dt.datetime.combine(since, dt.time.min, dt.UTC),
            dt.datetime.combine(until, dt.time.min, dt.UTC))


def out(row: WarehouseExport) -> ExportOut:
    return ExportOut(
        id=row.id, dataset=row.dataset, since=row.period_start, until=row.period_end,
        format=row.format, status=row.status, rows=row.row_count,  # type: ignore[arg-type]
        bytes=row.byte_count, checksum=row.checksum, location=row.location,  # type: ignore[arg-type]
        path=row.path, error=row.error, requested_by=row.requested_by,
        requested_by_kind=row.requested_by_kind,  # type: ignore[arg-type]
        created_at=row.created_at, started_at=row.started_at, finished_at=row.finished_at)


def file_name(row: WarehouseExport) -> str:
    """What a downloaded file is called: the dataset, its period, the format's extension."""
    return f"{row.dataset}_{row.period_start}_{row.period_end}.{EXTENSIONS[row.format]}"


def storage_key(row: WarehouseExport) -> str:
    return f"{row.dataset}/{row.period_start}/{row.id}.{EXTENSIONS[row.format]}"


async def create(session: AsyncSession, name: str, since: dt.date, until: dt.date, fmt: str,
                 *, requested_by: uuid.UUID | None, requested_by_kind: str,
                 location: str = "storage", path: str | None = None) -> WarehouseExport:
    """A queued run of the log, after checking the dataset and the period."""
    dataset(name)
    bounds(since, until)
    if fmt not in EXTENSIONS:
        raise errors.UnknownFormat(f"No format {fmt!r}; there are csv and parquet.",
                                   field="format")
    row = WarehouseExport(dataset=name, period_start=since, period_end=until, format=fmt,
                          status="queued", location=location, path=path,
                          requested_by=requested_by, requested_by_kind=requested_by_kind,
                          created_at=clock.now())
    session.add(row)
    await session.flush()
    return row


async def _row(session: AsyncSession, export_id: uuid.UUID, *,
               lock: bool = False) -> WarehouseExport:
    query = select(WarehouseExport).where(WarehouseExport.id == export_id)
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise errors.ExportNotFound(field="export_id")
    return row


async def get_export(session: AsyncSession, export_id: uuid.UUID) -> ExportOut:
    return out(await _row(session, export_id))


async def list_exports(session: AsyncSession, *, dataset: str | None = None,
                       status: str | None = None, cursor: str | None = None,
                       limit: int = 50) -> ExportPage:
    """Newest first, a keyset page at a time."""
    query = select(WarehouseExport)
    if dataset is not None:
        query = query.where(WarehouseExport.dataset == dataset)
    if status is not None:
        query = query.where(WarehouseExport.status == status)
    rows, next_cursor = await keyset_page(session, query, WarehouseExport.id, cursor, limit)
    return ExportPage(items=[out(r) for r in rows], next_cursor=next_cursor)


async def downloadable(session: AsyncSession, export_id: uuid.UUID) -> tuple[ExportOut, str, str]:
    """A finished export in the storage: it, its storage key and its file name; 409 with a
    code saying why not otherwise."""
    row = await _row(session, export_id)
    if row.status == "failed":
        raise errors.ExportFailed(status=row.status)
    if row.status != "done":
        raise errors.ExportNotReady(status=row.status)
    if row.location != "storage" or row.path is None:
        raise errors.ExportNotDownloadable()
    return out(row), row.path, file_name(row)


async def claim(session: AsyncSession, export_id: uuid.UUID) -> WarehouseExport | None:
    """Mark a queued run as running (locked, so two workers cannot both take it); None when it
    is not queued (run already, or running)."""
    row = await _row(session, export_id, lock=True)
    if row.status != "queued":
        return None
    row.status = "running"
    row.started_at = clock.now()
    if row.location == "storage":
        row.path = storage_key(row)
    await session.flush()
    return row


async def finish(session: AsyncSession, export_id: uuid.UUID, *, rows: int, size: int,
                 checksum: str) -> ExportOut:
    row = await _row(session, export_id, lock=True)
    row.status, row.row_count, row.byte_count, row.checksum = "done", rows, size, checksum
    row.finished_at = clock.now()
    await session.flush()
    return out(row)


async def fail(session: AsyncSession, export_id: uuid.UUID, error: str) -> ExportOut:
    row = await _row(session, export_id, lock=True)
    row.status, row.error = "failed", error[:ERROR_LENGTH]
    row.row_count = row.byte_count = row.checksum = None
    row.finished_at = clock.now()
    await session.flush()
    return out(row)


async def scheduled_exists(session: AsyncSession, name: str, day: dt.date, fmt: str) -> bool:
    """Whether the schedule exported this dataset's day in this format already (or is on it)."""
    found = await session.scalar(select(WarehouseExport.id).where(
        WarehouseExport.dataset == name, WarehouseExport.period_start == day,
        WarehouseExport.format == fmt, WarehouseExport.requested_by_kind == "schedule",
        WarehouseExport.status != "failed"))
    return found is not None
