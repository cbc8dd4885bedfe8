"""Exports request and response shapes. A period is whole UTC days: `since` included,
`until` excluded (yesterday's export runs from yesterday until today)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from gullak.kit.schemas import In, Out

DatasetName = Literal["transfers", "orders", "cashbacks", "withdrawals", "user_summaries",
                      "merchant_summaries", "offer_summaries", "platform_summaries"]
Format = Literal["csv", "parquet"]
Status = Literal["queued", "running", "done", "failed"]
Requester = Literal["admin", "service", "cli", "schedule"]


class ExportIn(In):
    dataset: DatasetName
    since: dt.date
    until: dt.date
    format: Format = "csv"


class ExportOut(Out):
    id: uuid.UUID
    dataset: str
    since: dt.date
    until: dt.date
    format: Format
    status: Status
    rows: int | None
    bytes: int | None
    checksum: str | None  # SHA-256 of the file, hex
    location: Literal["storage", "file"]
    path: str | None  # a storage key, or the file the CLI wrote
    error: str | None
    requested_by: uuid.UUID | None
    requested_by_kind: Requester
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class ExportPage(Out):
    items: list[ExportOut]
    next_cursor: str | None
