"""The database's statistics, read from the catalog: table and index sizes, row estimates,
dead tuples, unused indexes, and the slowest statements when pg_stat_statements is there.

Partitioned tables (and their indexes) are rolled up: the parent carries the sum of its
partitions, which are listed one by one only on request.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.system.schemas import (
    DatabaseStatsOut,
    IndexStats,
    StatementsStats,
    StatementStats,
    TableStats,
)

Kind = Literal["table", "partitioned", "partition"]
QUERY_CHARS = 1000
USER_SCHEMAS = ("c.relpersistence <> 't' AND n.nspname <> 'information_schema'"
                " AND n.nspname NOT LIKE 'pg\\_%'")

_DATABASE = text("""
SELECT current_database() AS name, current_setting('server_version') AS version,
       pg_database_size(current_database()) AS size,
       (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()) AS reset
""")

_TABLES = text(f"""
SELECT c.oid, n.nspname AS schema_name, c.relname AS name, c.relkind,
       CASE WHEN c.relispartition THEN pg_partition_root(c.oid)::oid END AS root,
       c.reltuples, pg_relation_size(c.oid) AS main_bytes,
       pg_total_relation_size(c.oid) AS total_bytes, pg_indexes_size(c.oid) AS index_bytes,
       CASE WHEN c.reltoastrelid <> 0 THEN pg_total_relation_size(c.reltoastrelid) ELSE 0
       END AS toast_bytes,
       coalesce(s.n_live_tup, 0) AS live, coalesce(s.n_dead_tup, 0) AS dead,
       greatest(s.last_vacuum, s.last_autovacuum) AS vacuumed,
       greatest(s.last_analyze, s.last_autoanalyze) AS analyzed
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'm') AND {USER_SCHEMAS}
""")

_INDEXES = text(f"""
SELECT x.oid, n.nspname AS schema_name, c.relname AS table_name, x.relname AS name,
       CASE WHEN x.relispartition THEN pg_partition_root(x.oid)::oid END AS root,
       pg_relation_size(x.oid) AS bytes, coalesce(s.idx_scan, 0) AS scans,
       i.indisunique AS is_unique, i.indisprimary AS is_primary,
       EXISTS (SELECT 1 FROM pg_constraint k
               WHERE k.conindid = x.oid AND k.contype IN ('p', 'u', 'x')) AS backs
FROM pg_index i
JOIN pg_class x ON x.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = x.oid
WHERE c.relkind IN ('r', 'p', 'm') AND {USER_SCHEMAS}
""")

_EXTENSION = text("""
SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'
""")
_COLUMNS = text("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:view)"
                " AND attnum > 0 AND NOT attisdropped")

ENABLE = ("add pg_stat_statements to shared_preload_libraries in postgresql.conf, restart the"
          " server, then run CREATE EXTENSION pg_stat_statements in this database")
NOT_INSTALLED = f"pg_stat_statements is not installed in this database: {ENABLE}."
NOT_LOADED = ("pg_stat_statements is installed but the server did not load it: add it to"
              " shared_preload_libraries in postgresql.conf and restart the server.")
NOT_ALLOWED = ("this database user may not read pg_stat_statements: grant it the role"
               " pg_read_all_stats.")
# SQLSTATEs the view answers with when it cannot be read, and what each means.
REFUSALS = {"55000": NOT_LOADED, "42501": NOT_ALLOWED}


async def collect(session: AsyncSession, *, limit: int = 20,
                  partitions: bool = False) -> DatabaseStatsOut:
    """The `limit` largest tables and indexes, the largest unused indexes and the slowest
    statements; with `partitions`, each listed partitioned table's partitions after it."""
    database = (await session.execute(_DATABASE)).one()
    tables = await table_stats(session, limit=limit, partitions=partitions)
    indexes = await index_stats(session)
    unused = [i for i in indexes if i.unused]
    return DatabaseStatsOut(
        database=database.name, server_version=database.version, size_bytes=database.size,
        stats_reset=database.reset, tables=tables, indexes=indexes[:limit],
        unused_indexes=unused[:limit], unused_index_count=len(unused),
        statements=await statement_stats(session, limit=limit))


@dataclass
class _Sum:
    """A table's figures, or a partitioned table's as the sum of its partitions."""

    bytes: list[int]  # total, table, toast, index
    rows: int | None
    live: int
    dead: int
    vacuumed: dt.datetime | None
    analyzed: dt.datetime | None

    def add(self, other: _Sum) -> None:
        self.bytes = [a + b for a, b in zip(self.bytes, other.bytes, strict=True)]
        self.rows = None if self.rows is None or other.rows is None else self.rows + other.rows
        self.live += other.live
        self.dead += other.dead
        self.vacuumed = _latest(self.vacuumed, other.vacuumed)
        self.analyzed = _latest(self.analyzed, other.analyzed)


def _latest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _figures(row: Any) -> _Sum:
    if row.relkind == "p":
        # Its rows are its partitions' (ANALYZE of the parent counts them again on it).
        return _Sum([0, 0, 0, 0], 0, 0, 0, row.vacuumed, row.analyzed)
    # reltuples is -1 until the first ANALYZE; a table of no pages has no rows all the same,
    # which keeps a partitioned table's sum known while its empty months await analysis.
    rows = int(row.reltuples) if row.reltuples >= 0 else 0 if row.main_bytes == 0 else None
    table = row.total_bytes - row.index_bytes - row.toast_bytes
    return _Sum([row.total_bytes, table, row.toast_bytes, row.index_bytes], rows, row.live,
                row.dead, row.vacuumed, row.analyzed)


def _table(row: Any, kind: Kind, figures: _Sum, *, parent: str | None = None,
           count: int = 0) -> TableStats:
    total, table, toast, index = figures.bytes
    seen = figures.live + figures.dead
    return TableStats(
        schema_name=row.schema_name, name=row.name, kind=kind, parent=parent, partitions=count,
        rows_estimate=figures.rows, total_bytes=total, table_bytes=table, toast_bytes=toast,
        index_bytes=index, live_tuples=figures.live, dead_tuples=figures.dead,
        dead_ratio=round(figures.dead / seen, 4) if seen else None,
        last_vacuum=figures.vacuumed, last_analyze=figures.analyzed)


async def table_stats(session: AsyncSession, *, limit: int,
                      partitions: bool) -> list[TableStats]:
    rows = (await session.execute(_TABLES)).all()
    tops = [r for r in rows if r.root is None]
    leaves: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        if row.root is not None and row.relkind != "p":  # a sub-partitioned one has no data
            leaves[row.root].append(row)
    shown: list[tuple[TableStats, list[TableStats]]] = []
    for top in tops:
        figures = _figures(top)
        for leaf in leaves[top.oid]:
            figures.add(_figures(leaf))
        kind: Kind = "partitioned" if top.relkind == "p" else "table"
        parts = [_table(leaf, "partition", _figures(leaf), parent=top.name)
                 for leaf in leaves[top.oid]]
        shown.append((_table(top, kind, figures, count=len(parts)), parts))
    shown.sort(key=lambda pair: (-pair[0].total_bytes, pair[0].schema_name, pair[0].name))
    out: list[TableStats] = []
    for table, parts in shown[:limit]:
        out.append(table)
        if partitions:
            out += sorted(parts, key=lambda p: (-p.total_bytes, p.schema_name, p.name))
    return out


async def index_stats(session: AsyncSession) -> list[IndexStats]:
    """Every index, largest first, a partitioned one with the sum of its partitions."""
    rows = (await session.execute(_INDEXES)).all()
    sizes: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        key = row.oid if row.root is None else row.root
        sizes[key][0] += row.bytes
        sizes[key][1] += row.scans
    out = []
    for row in rows:
        if row.root is not None:
            continue
        size, scans = sizes[row.oid]
        out.append(IndexStats(
            schema_name=row.schema_name, table=row.table_name, name=row.name, bytes=size,
            scans=scans, unique=row.is_unique, primary=row.is_primary, constraint=row.backs,
            unused=scans == 0 and not (row.is_unique or row.is_primary or row.backs)))
    out.sort(key=lambda i: (-i.bytes, i.schema_name, i.name))
    return out


async def statement_stats(session: AsyncSession, *, limit: int) -> StatementsStats:
    schema = await session.scalar(_EXTENSION)
    if schema is None:
        return StatementsStats(available=False, reason=NOT_INSTALLED, slowest=[])
    view = f"{schema}.pg_stat_statements"
    columns = set(await session.scalars(_COLUMNS, {"view": view}))
    # PostgreSQL 13 split planning from execution and renamed the columns.
    total, mean = (("total_exec_time", "mean_exec_time") if "total_exec_time" in columns
                   else ("total_time", "mean_time"))
    # Utility statements (ALTER ROLE ... PASSWORD '...') keep their literals: only queries,
    # whose constants pg_stat_statements replaces with $1, are shown.
    query = text(f"""
        SELECT query, calls, {total} AS total_ms, {mean} AS mean_ms, rows FROM {view}
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND query ~* '^\\s*(select|insert|update|delete|with|merge|values|table)\\M'
        ORDER BY {total} DESC LIMIT :limit""")
    try:
        # A refusal aborts the statement only, not the caller's transaction.
        async with session.begin_nested():
            rows = (await session.execute(query, {"limit": limit})).all()
    except DBAPIError as exc:
        reason = REFUSALS.get(getattr(exc.orig, "sqlstate", None) or "")
        if reason is None:
            raise
        return StatementsStats(available=False, reason=reason, slowest=[])
    return StatementsStats(available=True, reason=None, slowest=[
        StatementStats(query=_cut(r.query or ""), calls=r.calls, total_ms=round(r.total_ms, 3),
                       mean_ms=round(r.mean_ms, 3), rows=r.rows) for r in rows])


def _cut(query: str) -> str:
    return query if len(query) <= QUERY_CHARS else query[:QUERY_CHARS - 1] + "…"
