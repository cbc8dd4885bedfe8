"""The exports domain's tables: `warehouse_exports`, the run log of every export (asked for
by an admin, the CLI or the daily warehouse schedule): what was exported, of which period, in
which format, how it went, and where the file is, with its row count, size and checksum."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, Date, Index, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from gullak.db.base import Base, Timestamped, one_of
from gullak.kit.ids import uuid7

STATUSES = ("queued", "running", "done", "failed")
FORMATS = ("csv", "parquet")
# Who asked: an admin or a service client through the API, the CLI, the daily schedule.
REQUESTERS = ("admin", "service", "cli", "schedule")
# Where the file went: the exports storage (downloadable), or a path given to the CLI.
LOCATIONS = ("storage", "file")


class WarehouseExport(Timestamped, Base):
    """One export run. The period is [period_start, period_end): whole UTC days, the end day
    excluded. A scheduled export of a dataset and period runs once unless it failed."""

    __tablename__ = "warehouse_exports"
    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(one_of("format", FORMATS), name="format"),
        CheckConstraint(one_of("requested_by_kind", REQUESTERS), name="requester"),
        CheckConstraint(one_of("location", LOCATIONS), name="location"),
        CheckConstraint("period_end > period_start", name="period"),
        CheckConstraint("status <> 'done' OR (row_count >= 0 AND byte_count >= 0"
                        " AND checksum IS NOT NULL AND path IS NOT NULL"
                        " AND finished_at IS NOT NULL)", name="done"),
        CheckConstraint("status <> 'failed' OR error IS NOT NULL", name="failed"),
        Index("ix_warehouse_exports_status", "status", "id"),
        Index("ix_warehouse_exports_dataset", "dataset", "id"),
        Index("uq_warehouse_exports_scheduled", "dataset", "period_start", "format",
              unique=True, postgresql_where=text(
                  "requested_by_kind = 'schedule' AND status <> 'failed'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    dataset: Mapped[str] = mapped_column(Text)
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    format: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'queued'"))
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    byte_count: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(Text)  # SHA-256 of the file, hex
    location: Mapped[str] = mapped_column(Text, server_default=text("'storage'"))
    path: Mapped[str | None] = mapped_column(Text)  # a storage key, or the CLI's file path
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[uuid.UUID | None]
    requested_by_kind: Mapped[str] = mapped_column(Text)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
