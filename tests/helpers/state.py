"""Reading the database's state: to show that a refused request wrote nothing, and what the
audit log holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_tables: list[str] = []


async def table_names(connection: AsyncConnection) -> list[str]:
    # The schema is the same for the whole run: read it once.
    if not _tables:
        _tables.extend((await connection.scalars(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'alembic_version' ORDER BY tablename"))).all())
    return list(_tables)


async def fingerprint(connection: AsyncConnection, *,
                      exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """A digest of every table's rows: equal fingerprints mean nothing was written. (A refused
    permission is audited on purpose: such tests exclude audit_log.)"""
    names = [n for n in await table_names(connection) if n not in exclude]
    query = " UNION ALL ".join(
        f"SELECT '{n}' AS name, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
        f" AS digest FROM \"{n}\" t" for n in names)
    return {r.name: r.digest for r in await connection.execute(text(query))}


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))


async def snapshot(connection: AsyncConnection, *, mentioning: tuple[str, ...] = (),
                   exclude: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Every row of every table as text (only rows that mention one of `mentioning`, if
    given): two snapshots are equal when nothing was written in between."""
    tables = [t for t in await table_names(connection) if t not in exclude]
    where, params = "", {}
    if mentioning:
        where = " WHERE " + " OR ".join(f"x::text LIKE :n{i}" for i in range(len(mentioning)))
        params = {f"n{i}": f"%{needle}%" for i, needle in enumerate(mentioning)}
    query = " UNION ALL ".join(f"SELECT '{t}' AS t, x::text AS row FROM \"{t}\" x{where}"
                               for t in tables)
    state: dict[str, list[str]] = {t: [] for t in tables}
    for table, row in await connection.execute(text(query), params):
        state[table].append(row)
    return {t: sorted(rows) for t, rows in state.items()}


async def count(connection: AsyncConnection, sql: str, **params: Any) -> int:
    return int(await connection.scalar(text(sql), params) or 0)


async def audit_rows(connection: AsyncConnection, **where: Any) -> list[dict[str, Any]]:
    """Audit entries matching every column = value given, oldest first."""
    clause = " AND ".join(f"{column} = :{column}" for column in where) or "true"
    rows = await connection.execute(text(f"SELECT * FROM audit_log WHERE {clause} ORDER BY id"),
                                    where)
    return [dict(r) for r in rows.mappings()]
