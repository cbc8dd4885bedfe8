"""The file formats: CSV (RFC 4180, UTF-8, a header row) and Parquet (an explicit schema, row
groups of a set size). Both write as rows arrive, so an export's memory is one chunk or one
row group, whatever the size of the period. Every byte goes through a `Sink`, which counts
and hashes it on the way to the file."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import operator
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from gullak.exports.datasets import Dataset, Kind

CSV_CHUNK_ROWS = 1_000
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
ARROW: dict[Kind, pa.DataType] = {
    "uuid": pa.string(), "text": pa.string(), "int": pa.int64(), "bool": pa.bool_(),
    "time": pa.timestamp("us", tz="UTC"), "date": pa.date32(),
}


class Sink:
    """A file that counts and hashes (SHA-256) what is written to it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.size = 0
        self.closed = False
        self._hash = hashlib.sha256()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        chunk = bytes(data)
        self._hash.update(chunk)
        self.size += len(chunk)
        self.raw.write(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.raw.flush()

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True  # the file itself is the storage's to close

    @property
    def checksum(self) -> str:
        return self._hash.hexdigest()


def csv_cell(value: Any) -> Any:
    """A value as it reads in CSV: null is an empty field, times are ISO 8601 in UTC, booleans
    are true/false. Text is written as it is (the csv module quotes commas, quotes and line
    breaks): this is data for a warehouse, not a sheet for a spreadsheet."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date | uuid.UUID):
        return str(value)
    return value


def _csv_time(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(dt.UTC).isoformat()


def _csv_bool(value: bool | None) -> str:
    return "" if value is None else "true" if value else "false"


async def write_csv(dataset: Dataset, rows: AsyncIterator[dict[str, Any]], sink: Sink) -> int:
    """As `csv_cell` says, with the work per cell kept to the columns that need it (the csv
    module itself writes None as an empty field and ids and days by str()): the per-cell
    call was most of an export's time."""
    names = dataset.names
    pick = operator.itemgetter(*names)
    fix: list[tuple[int, Callable[[Any], str]]] = [
        (i, _csv_time if kind == "time" else _csv_bool)
        for i, (_, kind) in enumerate(dataset.columns) if kind in ("time", "bool")]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(names)
    count = 0
    async for row in rows:
        values = list(pick(row))
        for i, convert in fix:
            values[i] = convert(values[i])
        writer.writerow(values)
        count += 1
        if count % CSV_CHUNK_ROWS == 0:
            sink.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
    sink.write(buffer.getvalue().encode())
    return count


def arrow_schema(dataset: Dataset) -> pa.Schema:
    return pa.schema([pa.field(name, ARROW[kind]) for name, kind in dataset.columns])


async def write_parquet(dataset: Dataset, rows: AsyncIterator[dict[str, Any]], sink: Sink,
                        row_group: int) -> int:
    schema = arrow_schema(dataset)
    names = dataset.names
    pick = operator.itemgetter(*names)
    uuids = [name for name, kind in dataset.columns if kind == "uuid"]
    buffered: list[tuple[Any, ...]] = []
    count = 0
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:

        def flush() -> None:
            columns = {name: list(values) for name, values in zip(names, zip(*buffered))} \
                if buffered else {name: [] for name in names}
            for name in uuids:
                columns[name] = [None if v is None else str(v) for v in columns[name]]
            writer.write_table(pa.Table.from_pydict(columns, schema=schema),
                               row_group_size=row_group)
            buffered.clear()

        async for row in rows:
            buffered.append(pick(row))
            count += 1
            if count % row_group == 0:
                flush()
        if count == 0 or count % row_group:
            flush()
    return count


async def write(fmt: str, dataset: Dataset, rows: AsyncIterator[dict[str, Any]], sink: Sink,
                *, row_group: int) -> int:
    """Write the rows in `fmt`; how many were written."""
    if fmt == "parquet":
        return await write_parquet(dataset, rows, sink, row_group)
    return await write_csv(dataset, rows, sink)
