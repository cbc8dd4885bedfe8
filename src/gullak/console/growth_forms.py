"""Posted form fields as a domain's `In` schema expects them: a form sends only text, so
numbers, JSON, lists, check boxes and times are turned into values here, and anything that
does not parse is passed on as it came, for the schema to refuse it by name (a 422 page)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from gullak.kit.errors import InvalidInput

Form = Mapping[str, str]
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def text(form: Form, name: str) -> str | None:
    """A field's text, trimmed; None when it is absent or empty."""
    value = form.get(name, "").strip()
    return value or None


def integer(value: str | None) -> int | str | None:
    """An integer when the text is one (digit groups may be marked with , or _); otherwise
    the text, for the schema to refuse."""
    if value is None:
        return None
    bare = value.strip().replace(",", "").replace("_", "")
    return int(bare) if _INTEGER.fullmatch(bare) else value


def number(form: Form, name: str) -> int | str | None:
    return integer(text(form, name))


def checked(form: Form, name: str) -> bool:
    """A check box: sent when ticked, absent when not."""
    return form.get(name, "").lower() in ("on", "true", "1", "yes")


def lines(form: Form, name: str) -> list[str]:
    """One item per non-empty line."""
    return [line.strip() for line in form.get(name, "").splitlines() if line.strip()]


def words(form: Form, name: str) -> list[str]:
    """Items separated by commas or spaces."""
    return [w for w in re.split(r"[\s,]+", form.get(name, "")) if w]


def json_field(form: Form, name: str, default: Any) -> Any:
    """A JSON text area; `default` when it is left empty."""
    value = text(form, name)
    if value is None:
        return default
    try:
        return json.loads(value)
    except ValueError:
        raise InvalidInput(f"{name} is not valid JSON.", code="invalid_json",
                           field=name) from None


def moment(form: Form, name: str) -> dt.datetime | str | None:
    """A `datetime-local` field, read as UTC (the console shows every time in UTC); a value
    with its own offset keeps it."""
    value = text(form, name)
    if value is None:
        return None
    try:
        found = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return found if found.tzinfo is not None else found.replace(tzinfo=dt.UTC)


def pretty(value: Any) -> str:
    """JSON as a text area shows it for editing."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def local(value: dt.datetime | None) -> str:
    """A time as a `datetime-local` field's value, in UTC."""
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")


def only_given(values: dict[str, Any]) -> dict[str, Any]:
    """The fields that were filled in (an empty field leaves the schema's default)."""
    return {k: v for k, v in values.items() if v is not None}
