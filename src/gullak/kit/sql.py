"""SQLAlchemy Core conditions inside hand-written SQL.

Some hot queries are written as text, because their exact shape is what makes them fast, and
still need a condition that another domain builds with Core (so that its tables and rules stay
its own). `inline` renders such a condition for a `text()` query. `xact_lock` queues the
transactions that name one key (an idempotency key's first use, say) behind each other.
`keyset_page` reads one page of a list, newest first, after a cursor. `Array` sends a list
as a binary array, `custom_plans` plans a batch's statements for their own parameters.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import psycopg
from psycopg.types.array import ListBinaryDumper
from sqlalchemy import Select, text
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ClauseElement

from gullak.db.engine import driver_rows
from gullak.kit.ids import parse_cursor



class Array(list[Any]):
    """A list sent to PostgreSQL as a binary array: psycopg dumps a plain list as an array's
    text, escaping element by element in Python, about seven times the CPU of the binary form;
    a batch statement over thousands of rows spends more in that than PostgreSQL spends on the
    rows. The elements' type is sent with it, so the statement casts to the type it wants
    (`CAST(:ids AS uuid[])`, a list of str being text[])."""


psycopg.adapters.register_dumper(Array, ListBinaryDumper)

# Named parameters (":name"), as text() reads them, and no "::type" casts after them, which
# text() would take for part of the name.
_DIALECT = PGDialect(paramstyle="named")
_BIND = re.compile(r"(?<![:\w]):(\w+)")


def inline(clause: ClauseElement, params: dict[str, Any], prefix: str = "inlined") -> str:
    """`clause` as SQL for a `text()` query. Its bound values are added to `params` under
    names starting with `prefix`, apart from the query's own; they are passed as they are (no
    type processing), which suits plain values: strings, numbers, datetimes, UUIDs."""
    compiled = clause.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    names = {name: f"{prefix}_{name}" for name in compiled.params}
    if params.keys() & names.values():
        raise ValueError(f"Parameters starting with {prefix!r} are already in use.")
    params.update({names[name]: value for name, value in compiled.params.items()})
    return _BIND.sub(lambda m: f":{names.get(m.group(1), m.group(1))}", compiled.string)


_XACT_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


async def xact_lock(session: AsyncSession, key: str) -> None:
    """Wait for, then hold until the transaction ends, the advisory lock named `key`."""
    await driver_rows(session, _XACT_LOCK, (key,))


Row = TypeVar("Row")


async def keyset_page(session: AsyncSession, query: Select[Row], id_column: Any,
                      cursor: str | None, limit: int) -> tuple[list[Row], str | None]:
    """One page of `query`'s rows, newest first by their time-ordered id, after `cursor` (the
    last id of the page before), and the cursor of the next page (None on the last)."""
    after = parse_cursor(cursor)
    if after is not None:
        query = query.where(id_column < after)
    rows = list(await session.scalars(query.order_by(id_column.desc()).limit(limit + 1)))
    more = len(rows) > limit
    return rows[:limit], str(rows[limit - 1].id) if more else None  # type: ignore[attr-defined]


async def custom_plans(session: AsyncSession) -> None:
    """Plan every statement of this transaction for its own parameters. A statement over a
    batch (`= ANY(:ids)` joined through CTEs) has estimates that a prepared statement's
    generic plan gets wrong by orders of magnitude (a nested loop over thousands of rows),
    and psycopg prepares a statement from its fifth run."""
    await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
