"""The database's statistics (`gullak db stats`, GET /v1/admin/db/stats): sizes with
partitioned tables rolled up, row estimates, dead tuples, unused indexes, and the slowest
statements only where pg_stat_statements is loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.db.engine import Database
from gullak.settings import Settings
from gullak.system import stats
from gullak.system.schemas import DatabaseStatsOut
from tests.helpers.admins import admin_with, log_in, make_admin
from tests.helpers.problems import assert_problem

STATS = "/v1/admin/db/stats"
PROBE = (
    "CREATE TABLE stats_probe (id bigint PRIMARY KEY, kind int NOT NULL, note text NOT NULL)",
    "CREATE INDEX stats_probe_note ON stats_probe (note)",
    "CREATE INDEX stats_probe_kind ON stats_probe (kind)",
)
EVENTS = text("""
INSERT INTO activity_events (id, occurred_at, received_at, name, source)
SELECT gen_random_uuid(), CAST(:at AS timestamptz), now(), 'probe', 'server'
FROM generate_series(1, :n)
""")


async def collect(db: Database, **options: object) -> DatabaseStatsOut:
    async with db.sessionmaker() as session, session.begin():
        return await stats.collect(session, **options)  # type: ignore[arg-type]


async def flush_counters(conn: AsyncConnection) -> None:
    """Commit, with this backend's counters (scans, deletes) sent to the shared statistics
    first: PostgreSQL 15+ sends them when the backend goes idle, only now and then unless
    asked."""
    if await conn.scalar(text("SELECT to_regproc('pg_stat_force_next_flush') IS NOT NULL")):
        await conn.execute(text("SELECT pg_stat_force_next_flush()"))
    await conn.commit()


async def test_tables_are_sized_and_partitions_roll_up_into_their_table(
        fresh_db: Database) -> None:
    async with fresh_db.engine.begin() as conn:
        await conn.execute(EVENTS, {"at": "now", "n": 40})
        # A month without a partition: the rows wait in the default one.
        await conn.execute(EVENTS, {"at": "2099-01-15T00:00:00Z", "n": 10})
        await conn.execute(text("ANALYZE activity_events"))

    rolled = await collect(fresh_db, limit=500)
    assert [t for t in rolled.tables if t.kind == "partition"] == []
    events = next(t for t in rolled.tables if t.name == "activity_events")
    assert (events.kind, events.parent, events.rows_estimate) == ("partitioned", None, 50)
    assert events.total_bytes > 0 and events.partitions >= 3
    for t in rolled.tables:
        assert t.total_bytes == t.table_bytes + t.toast_bytes + t.index_bytes, t
    sizes = [t.total_bytes for t in rolled.tables]
    assert sizes == sorted(sizes, reverse=True)
    assert rolled.size_bytes >= sum(sizes)

    listed = await collect(fresh_db, limit=500, partitions=True)
    at = [t.name for t in listed.tables].index("activity_events")
    parts = listed.tables[at + 1:at + 1 + events.partitions]
    assert {p.parent for p in parts} == {"activity_events"}
    assert {p.kind for p in parts} == {"partition"}
    assert {p.schema_name for p in parts} == {"analytics_partitions"}
    assert sum(p.total_bytes for p in parts) == events.total_bytes
    assert sum(p.index_bytes for p in parts) == events.index_bytes
    assert {p.name: p.rows_estimate for p in parts}["activity_events_default"] == 10
    assert sum(p.rows_estimate or 0 for p in parts) == 50
    # The partitions come only on request, and the limit counts tables, not partitions.
    assert [t.name for t in (await collect(fresh_db, limit=2)).tables] == \
        [t.name for t in rolled.tables[:2]]


async def test_unused_indexes_dead_tuples_and_unknown_row_estimates(fresh_db: Database) -> None:
    async with fresh_db.engine.connect() as conn:
        for statement in PROBE:
            await conn.execute(text(statement))
        await conn.execute(text("INSERT INTO stats_probe SELECT g, g % 3, 'n' || g"
                                " FROM generate_series(1, 10) g"))
        await conn.commit()
        await conn.execute(text("SET enable_seqscan = off"))
        assert await conn.scalar(text("SELECT count(*) FROM stats_probe WHERE kind = 1")) == 4
        await conn.commit()
        await conn.execute(text("DELETE FROM stats_probe WHERE id <= 6"))
        await flush_counters(conn)

    out = await collect(fresh_db, limit=500)
    probe = next(t for t in out.tables if t.name == "stats_probe")
    # Too few changes for autovacuum to analyze it: the planner has no estimate yet.
    assert probe.rows_estimate is None
    assert (probe.live_tuples, probe.dead_tuples, probe.dead_ratio) == (4, 6, 0.6)
    assert probe.total_bytes > 0 and probe.index_bytes > 0

    async with fresh_db.sessionmaker() as session, session.begin():
        indexes = {i.name: i for i in await stats.index_stats(session)}
    note, kind, key = (indexes[n] for n in ("stats_probe_note", "stats_probe_kind",
                                             "stats_probe_pkey"))
    assert (note.table, note.scans, note.unused) == ("stats_probe", 0, True)
    assert kind.scans >= 1 and not kind.unused
    assert (key.primary, key.constraint, key.unused) == (True, True, False)
    assert {i.name for i in out.unused_indexes} == {n for n, i in indexes.items() if i.unused}
    assert out.unused_index_count == len(out.unused_indexes)
    # A partitioned table's index is one row, the sum of its partitions' indexes.
    events_key = indexes["pk_activity_events"]
    assert (events_key.table, events_key.primary) == ("activity_events", True)
    assert events_key.bytes > 0
    assert [n for n, i in indexes.items() if i.table.startswith("activity_events_")] == []


async def server_loads_statements(session: AsyncSession) -> bool:
    loaded = await session.scalar(text("SELECT current_setting('shared_preload_libraries')"))
    return "pg_stat_statements" in str(loaded)


async def test_without_pg_stat_statements_the_answer_says_how_to_enable_it(
        session: AsyncSession) -> None:
    if await server_loads_statements(session):
        pytest.skip("this server loads pg_stat_statements")
    out = await stats.statement_stats(session, limit=5)
    assert (out.available, out.slowest) == (False, [])
    assert out.reason == stats.NOT_INSTALLED
    assert "shared_preload_libraries" in out.reason and "CREATE EXTENSION" in out.reason


async def test_an_extension_the_server_did_not_load_is_reported_not_raised(
        fresh_db: Database) -> None:
    async with fresh_db.sessionmaker() as session, session.begin():
        if await server_loads_statements(session):
            pytest.skip("this server loads pg_stat_statements")
        try:
            async with session.begin_nested():
                await session.execute(text("CREATE EXTENSION pg_stat_statements"))
        except Exception:
            pytest.skip("this server or user cannot create pg_stat_statements")
        out = await stats.collect(session, limit=5)
        assert (out.statements.available, out.statements.reason) == (False, stats.NOT_LOADED)
        # The refusal cost the statement only: the transaction goes on.
        assert await session.scalar(text("SELECT 1")) == 1
        assert out.tables


async def test_the_endpoint_needs_system_read(client: httpx.AsyncClient, session: AsyncSession,
                                              settings: Settings) -> None:
    reader = await admin_with(client, session, settings, "system.read")
    r = await client.get(STATS, headers=reader.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    tables = {t["name"]: t for t in body["tables"]}
    assert tables["activity_events"]["kind"] == "partitioned"
    assert not any(t["kind"] == "partition" for t in body["tables"])
    assert len(body["tables"]) == 20 and body["statements"]["available"] is False

    r = await client.get(STATS, params={"limit": 3, "partitions": "true"},
                         headers=reader.headers)
    assert r.status_code == 200, r.text
    listed = r.json()
    shown = [t["name"] for t in listed["tables"] if t["parent"] is None]
    assert len(shown) == 3 and {t["parent"] for t in listed["tables"]} <= {None, *shown}
    assert len(listed["indexes"]) == 3 and len(listed["unused_indexes"]) <= 3

    assert_problem(await client.get(STATS, params={"limit": 0}, headers=reader.headers),
                   422, "validation_error")
    other = await admin_with(client, session, settings, "audit.read")
    refused = assert_problem(await client.get(STATS, headers=other.headers), 403, "forbidden")
    assert refused["permission"] == "system.read"
    assert_problem(await client.get(STATS), 401, "unauthorized")
    # The built-in super admin holds every permission, this one included.
    root = await log_in(client, await make_admin(session, settings, ["super_admin"]))
    assert (await client.get(STATS, headers=root.headers)).status_code == 200


def gullak(*args: str, url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GULLAK_")}
    env.update(GULLAK_DATABASE_URL=url, GULLAK_DATA_DIR=str(tmp_path / "data"),
               GULLAK_LOG_FORMAT="json", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "gullak.cli", "db", "stats", *args], env=env,
                          capture_output=True, text=True, timeout=120)


async def test_the_command_prints_json_or_tables(fresh_db: Database, tmp_path: Path) -> None:
    done = gullak("--json", "--limit", "500", "--partitions", url=fresh_db.url,
                  tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    out = DatabaseStatsOut.model_validate(json.loads(done.stdout))
    assert out.database == fresh_db.url.rsplit("/", 1)[1].split("?")[0]
    events = next(t for t in out.tables if t.name == "activity_events")
    assert events.kind == "partitioned"
    assert len([t for t in out.tables if t.parent == "activity_events"]) == events.partitions

    done = gullak("--limit", "500", url=fresh_db.url, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"activity_events ({events.partitions} partitions)" in done.stdout
    assert "slowest statements: not available" in done.stdout
