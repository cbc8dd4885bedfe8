"""Table views: the rows of a domain's browse query with server-side filters, sorting and
keyset pagination, as a page, as the htmx fragment of its next rows, or as a CSV download of
the whole view (same filters, same order)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import Response

from gullak.console.web import Page
from gullak.kit import clock
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import InvalidInput

PAGE_SIZE = 50
CSV_BATCH = 500
CSV_MAX_ROWS = 100_000
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE = re.compile(r"[\x00\ud800-\udfff]")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


@dataclass(frozen=True)
class Column:
    label: str
    value: Callable[[Any], Any]
    link: Callable[[Any], str | None] | None = None
    sort: str | None = None  # the browse sort key, when the column sorts
    numeric: bool = False


@dataclass(frozen=True)
class Filter:
    name: str
    label: str
    choices: tuple[tuple[str, str], ...] | None = None  # (value, label); None: free text
    placeholder: str = ""


Fetch = Callable[[Browse], Awaitable[Rows]]


def param(page: Page, name: str, *, max_length: int = 200) -> str | None:
    """A query parameter, trimmed; None when absent or empty. Refuses what no column holds."""
    value = page.request.query_params.get(name)
    if value is None or not value.strip():
        return None
    if len(value) > max_length or _UNSAFE.search(value):
        raise InvalidInput(f"The filter {name} is not valid.", code="invalid_filter", field=name)
    return value.strip()


def uuid_param(page: Page, name: str) -> uuid.UUID | None:
    value = param(page, name)
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(f"The filter {name} is not an id.", code="invalid_filter",
                           field=name) from None


def choice(page: Page, name: str, allowed: Sequence[str]) -> str | None:
    value = param(page, name)
    if value is not None and value not in allowed:
        raise InvalidInput(f"The filter {name} is one of: {', '.join(allowed)}.",
                           code="invalid_filter", field=name)
    return value


def _sorts(columns: Sequence[Column]) -> set[str]:
    keys = {c.sort for c in columns if c.sort}
    return keys | {f"-{k}" for k in keys} | {"id", "-id"}


async def table(page: Page, *, title: str, columns: Sequence[Column], fetch: Fetch,
                filters: Sequence[Filter] = (), default_sort: str = "-id",
                template: str = "table.html", **context: Any) -> Response:
    """The table page (or its next rows for htmx, or `?format=csv`)."""
    query = page.request.query_params
    sort = query.get("sort") or default_sort
    if sort not in _sorts(columns):
        raise InvalidInput("This table does not sort that way.", code="invalid_sort",
                           field="sort")
    if query.get("format") == "csv":
        return await _csv(title, columns, fetch, sort)
    rows = await fetch(Browse(sort=sort, cursor=param(page, "cursor", max_length=600),
                              limit=PAGE_SIZE))
    kept = {k: v for k, v in query.items() if k not in ("cursor", "format") and v}
    return await page.render(
        template, title=title, columns=columns, rows=rows.rows, filters=filters,
        values=kept, sort=sort,
        next_url=(f"?{urlencode({**kept, 'cursor': rows.next_cursor})}"
                  if rows.next_cursor else None),
        csv_url=f"?{urlencode({**kept, 'format': 'csv'})}",
        sort_url=lambda key: "?" + urlencode({**kept, "sort": key}),
        more=page.request.query_params.get("cursor") is not None, **context)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return str(value)


def _safe(text: str) -> str:
    # A plain number (a debit's "-30") is data, not a formula.
    return "'" + text if text.startswith(_FORMULA) and not _NUMBER.fullmatch(text) else text


async def _csv(title: str, columns: Sequence[Column], fetch: Fetch, sort: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.label for c in columns])
    cursor: str | None = None
    written = 0
    while written < CSV_MAX_ROWS:
        rows = await fetch(Browse(sort=sort, cursor=cursor, limit=CSV_BATCH))
        for row in rows.rows:
            writer.writerow([_safe(cell(c.value(row))) for c in columns])
        written += len(rows.rows)
        cursor = rows.next_cursor
        if cursor is None:
            break
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "table"
    name = f"{slug}-{clock.now().date().isoformat()}.csv"
    return Response(out.getvalue().encode(), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}"'})
