"""Server-side browsing of a list: one page sorted by any of a few named columns, after an
opaque cursor (keyset pagination on the sort column and the id, so a page costs the same
deep in the list as at its start), for the console's tables and their CSV downloads.

A domain's service builds the query with its own filters and names its sortable columns;
this module adds the order, the cursor's condition and the limit."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from gullak.kit.errors import InvalidInput

MAX_LIMIT = 500


@dataclass(frozen=True)
class Browse:
    """What a table view asks for: a sort key (`-` in front for descending), a cursor from
    the page before, a page size."""

    sort: str = "-id"
    cursor: str | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInput(f"A page holds 1 to {MAX_LIMIT} rows.", code="invalid_limit",
                               field="limit")


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | uuid.UUID):
        return str(value)
    return value


def _decode(column: ColumnElement[Any], value: Any) -> Any:
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return value
    if value is None:
        return None
    if kind in (dt.datetime, dt.date, uuid.UUID) and not isinstance(value, str):
        raise ValueError("not text")  # a forged cursor: their parsers take only text
    if kind is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if kind is dt.date:
        return dt.date.fromisoformat(value)
    if kind is uuid.UUID:
        return uuid.UUID(value)
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("not an int")
        return value
    if kind is str and not isinstance(value, str):
        raise ValueError("not a str")
    return value


def cursor_of(sort: str, value: Any, row_id: uuid.UUID) -> str:
    raw = orjson.dumps([sort, _encode(value), str(row_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse(cursor: str, sort: str, column: ColumnElement[Any]) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        named, value, row_id = orjson.loads(raw)
        if named != sort or not isinstance(row_id, str):
            raise ValueError("another sort, or a forged row id")
        return _decode(column, value), uuid.UUID(row_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput("Malformed cursor.", code="invalid_cursor", field="cursor") from None


async def page(session: AsyncSession, query: Select[Any], browse: Browse, id_column: Any,
               columns: dict[str, Any], *, scalars: bool = True) -> Page:
    """One page of `query` sorted by `browse.sort`, one of `columns` (NOT NULL columns: a
    NULL has no place in a keyset) or "id"; ties broken by the id, in the same direction."""
    name, descending = browse.sort.removeprefix("-"), browse.sort.startswith("-")
    if name != "id" and name not in columns:
        allowed = ", ".join(sorted({"id", *columns}))
        raise InvalidInput(f"Sort by one of: {allowed}.", code="invalid_sort", field="sort")
    column = id_column if name == "id" else columns[name]
    if browse.cursor:
        value, after = _parse(browse.cursor, browse.sort, column)
        key = id_column if name == "id" else tuple_(column, id_column)
        bound = after if name == "id" else tuple_(value, after)
        query = query.where(key < bound if descending else key > bound)
    order = [column.desc() if descending else column.asc()]
    if name != "id":
        order.append(id_column.desc() if descending else id_column.asc())
    query = query.order_by(*order).limit(browse.limit + 1)
    result = await session.execute(query)
    rows = list(result.scalars() if scalars else result.all())
    more = len(rows) > browse.limit
    rows = rows[:browse.limit]
    if not more:
        return Page(rows, None)
    last = rows[-1]
    key_name = id_column.key
    last_id = getattr(last, key_name)
    last_value = last_id if name == "id" else getattr(last, columns[name].key)
    return Page(rows, cursor_of(browse.sort, last_value, last_id))
