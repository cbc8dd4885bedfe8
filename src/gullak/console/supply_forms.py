"""Posted form fields as the domains' `In` schemas take them. A browser sends only strings:
these turn them into the values a JSON client would send (None for an empty field, a number
for digits, a list for comma-separated words, an aware time for a datetime-local field) and
leave anything else as typed, so that the schema refuses it with a 422 page."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import service as catalog
from gullak.catalog.schemas import CategoryNode
from gullak.kit.browse import Page as Rows
from gullak.merchants import service as merchants

Form = Mapping[str, str]
_INTEGER = re.compile(r"^-?\d{1,19}$")


def text(form: Form, name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def number(form: Form, name: str) -> int | str | None:
    """Digits as an int (the money fields are strict: "10" is not 10); anything else as
    typed, for the schema to refuse."""
    value = text(form, name)
    if value is None:
        return None
    return int(value) if _INTEGER.match(value) else value


def words(form: Form, name: str) -> list[str]:
    """A comma-separated field as its words."""
    return [w.strip() for w in form.get(name, "").split(",") if w.strip()]


def checked(form: Form, name: str) -> bool:
    return name in form and form[name] not in ("", "0", "false", "off")


def moment(form: Form, name: str) -> str | None:
    """A datetime-local value ("2024-05-01T10:00"), read as UTC as the console shows times;
    a value with an offset keeps it."""
    value = text(form, name)
    if value is None:
        return None
    if re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$", value):
        return value + "+00:00"
    return value


def input_time(value: dt.datetime | None) -> str:
    """A time as a datetime-local field shows it (UTC, to the minute)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M") if value else ""


def some(**values: Any) -> dict[str, Any]:
    """The fields that were filled in (a create form's empty field takes the default)."""
    return {k: v for k, v in values.items() if v is not None and v != []}


def joined(values: Iterable[Any] | None) -> str:
    return ", ".join(str(v) for v in values or ())


def uuid_or_none(form: Form, name: str) -> uuid.UUID | str | None:
    value = text(form, name)
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return value  # the schema names the field


async def categories(session: AsyncSession, *,
                     include_inactive: bool = True) -> list[tuple[CategoryNode, int]]:
    """The category tree flattened, parents before children, each with its depth."""
    flat: list[tuple[CategoryNode, int]] = []

    def walk(nodes: list[CategoryNode], depth: int) -> None:
        for node in nodes:
            flat.append((node, depth))
            walk(node.children, depth + 1)

    walk(await catalog.category_tree(session, include_inactive=include_inactive), 0)
    return flat


async def category_choices(session: AsyncSession) -> list[tuple[str, str]]:
    """(id, name indented by depth) of every category, for a select."""
    return [(str(node.id), "· " * depth + node.name) for node, depth in await categories(session)]


@dataclass(frozen=True)
class Owned:
    """A row of another domain's list with the name of the merchant it belongs to."""

    item: Any
    merchant: str


async def with_merchants(session: AsyncSession, rows: Rows) -> Rows:
    """The page's rows, each with its merchant's name (one query for the page)."""
    names = await merchants.merchant_names(session, [r.merchant_id for r in rows.rows])
    return Rows([Owned(r, names.get(r.merchant_id, str(r.merchant_id))) for r in rows.rows],
                rows.next_cursor)
