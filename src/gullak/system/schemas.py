"""Response shapes of the database's statistics (`gullak db stats`, GET /v1/admin/db/stats).
Sizes are bytes; times are UTC."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from gullak.kit.schemas import Out


class TableStats(Out):
    schema_name: str = Field(description="The table's schema")
    name: str
    kind: Literal["table", "partitioned", "partition"] = Field(
        description="`partitioned`: the figures are the sum of its partitions")
    parent: str | None = Field(
        description="For a partition: the partitioned table it rolls up into")
    partitions: int = Field(description="For a partitioned table: how many it has")
    rows_estimate: int | None = Field(
        description="The planner's estimate; null when the table was never analyzed")
    total_bytes: int = Field(description="table_bytes + toast_bytes + index_bytes")
    table_bytes: int
    toast_bytes: int
    index_bytes: int
    live_tuples: int
    dead_tuples: int
    dead_ratio: float | None = Field(
        description="dead / (live + dead); null when both are 0")
    last_vacuum: dt.datetime | None = Field(
        description="The later of manual and automatic; for a partitioned table, the latest"
        " of its partitions")
    last_analyze: dt.datetime | None = Field(description="As last_vacuum, for ANALYZE")


class IndexStats(Out):
    schema_name: str
    table: str
    name: str
    bytes: int = Field(description="For a partitioned index: the sum of its partitions")
    scans: int = Field(description="Index scans since the statistics were reset")
    unique: bool
    primary: bool
    constraint: bool = Field(description="Backs a constraint (primary key, unique, exclusion)")
    unused: bool = Field(description="Never scanned, and neither unique nor backing a"
                         " constraint: a candidate to drop")


class StatementStats(Out):
    query: str = Field(description="Normalised by pg_stat_statements ($1 for literals),"
                       " cut to 1000 characters")
    calls: int
    total_ms: float
    mean_ms: float
    rows: int


class StatementsStats(Out):
    available: bool
    reason: str | None = Field(description="Why not, and how to enable it; null when available")
    slowest: list[StatementStats] = Field(description="By total time, most first")


class DatabaseStatsOut(Out):
    database: str
    server_version: str
    size_bytes: int
    stats_reset: dt.datetime | None = Field(
        description="Since when scans and tuples are counted; null: since the server was made")
    tables: list[TableStats] = Field(
        description="The largest tables by total_bytes, each partitioned one rolled up;"
        " with `partitions`, each one's partitions follow it")
    indexes: list[IndexStats] = Field(description="The largest indexes")
    unused_indexes: list[IndexStats] = Field(description="The largest unused indexes")
    unused_index_count: int
    statements: StatementsStats
