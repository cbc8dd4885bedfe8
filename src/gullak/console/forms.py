"""Posted form fields read the way a domain's `In` schema takes them, and values written the way
the console's form fields, pages and CSV files show them.

A browser sends only text: an empty field becomes None, digits an int, a datetime-local value an
aware time, a list its items. Text that does not parse is passed on as it came, so that the
schema, not a guess made here, refuses it by the field's name (a 422 page)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from gullak.kit.errors import InvalidInput
from gullak.kit.schemas import read_json

Form = Mapping[str, str]
# ASCII digits only ("１２" is not a number here), at most a bigint's width. Digit groups such
# as "1,000" are not read either: in an amount a comma may have been meant as a decimal point.
_INTEGER = re.compile(r"-?[0-9]{1,19}")
_TICKS = ("on", "true", "1", "yes")


# -- reading a posted form --------------------------------------------------------------------

def text(form: Form, name: str) -> str | None:
    """A field's text, trimmed; None when it is absent or empty."""
    value = form.get(name, "").strip()
    return value or None


def integer(value: str | None) -> int | str | None:
    """Text holding a whole number as an int; any other text as it came."""
    if value is None:
        return None
    bare = value.strip()
    return int(bare) if _INTEGER.fullmatch(bare) else value


def number(form: Form, name: str) -> int | str | None:
    """A whole-number field as an int (strict schemas refuse "10" for 10)."""
    return integer(text(form, name))


def checked(form: Form, name: str) -> bool:
    """A check box: sent when ticked ("on", or its value "1", "yes" or "true"), absent when
    not; "false", "no" or any other text is not a tick."""
    return form.get(name, "").strip().lower() in _TICKS


def ticked(form: Form, prefix: str, allowed: Iterable[str]) -> list[str]:
    """The boxes ticked among `<prefix><value>` check boxes, in `allowed` order."""
    return [value for value in allowed if checked(form, f"{prefix}{value}")]


def split_commas(value: str) -> list[str]:
    """Comma-separated items, trimmed; an item may hold spaces ("Navi Mumbai")."""
    return [part.strip() for part in value.split(",") if part.strip()]


def comma_list(form: Form, name: str) -> list[str]:
    return split_commas(form.get(name, ""))


def words(form: Form, name: str) -> list[str]:
    """Items separated by commas or spaces (names, which hold no spaces)."""
    return [w for w in re.split(r"[\s,]+", form.get(name, "")) if w]


def lines(form: Form, name: str) -> list[str]:
    """One item per non-empty line."""
    return [line.strip() for line in form.get(name, "").splitlines() if line.strip()]


def json_field(form: Form, name: str, default: Any) -> Any:
    """A JSON text area; `default` when it is left empty."""
    value = text(form, name)
    if value is None:
        return default
    try:
        return read_json(value)
    except ValueError:
        raise InvalidInput(f"{name} is not valid JSON.", code="invalid_json",
                           field=name) from None


def moment(form: Form, name: str) -> dt.datetime | str | None:
    """A datetime-local field, read as UTC (the console shows every time in UTC); a value with
    its own offset keeps it."""
    value = text(form, name)
    if value is None:
        return None
    try:
        found = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return found if found.tzinfo is not None else found.replace(tzinfo=dt.UTC)


def object_id(form: Form, name: str) -> uuid.UUID | str | None:
    """An id field as a UUID; other text as it came."""
    value = text(form, name)
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return value


def given(values: Mapping[str, Any] | None = None, /, **fields: Any) -> dict[str, Any]:
    """The fields that were filled in (taken as dict() takes them), so that an empty one takes
    the schema's default. Empty text or an empty list is a value: an edit may clear a field."""
    return {k: v for k, v in {**(values or {}), **fields}.items() if v is not None}


def posted(form: Form, names: Sequence[str], *, ints: Collection[str] = (),
           lists: Collection[str] = (), flags: Collection[str] = (),
           moments: Collection[str] = (), keep: Collection[str] = ()) -> dict[str, Any]:
    """The fields `names` of a form as a schema takes them: a blank field is None (or left
    out, when named in `keep`, so the schema's default or the stored value stays), a list is
    comma-separated, a check box is ticked or not, numbers and times are parsed; other text is
    passed as it came."""
    values: dict[str, Any] = {}
    for name in names:
        value = text(form, name)
        if name in flags:
            values[name] = checked(form, name)
        elif name in lists:
            values[name] = comma_list(form, name)
        elif value is None:
            if name not in keep:
                values[name] = None
        elif name in ints:
            values[name] = integer(value)
        elif name in moments:
            values[name] = moment(form, name)
        else:
            values[name] = form[name]
    return values


# -- writing values ---------------------------------------------------------------------------

def input_time(value: dt.datetime | None) -> str:
    """A time as a datetime-local field's value: UTC, to the minute."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M") if value else ""


def joined(values: Iterable[Any] | None) -> str:
    """A list as a comma-separated field shows it."""
    return ", ".join(str(v) for v in values or ())


def pretty(value: Any) -> str:
    """JSON as a text area shows it for editing."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def when(value: dt.datetime | None) -> str:
    """A time as the console shows it: UTC, to the minute."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if value else ""


def decimal(value: int | None, scale: int = 2) -> str:
    """Minor units as a plain decimal, the same on a page and in a CSV (no grouping): 12345
    at scale 2 is 123.45."""
    if value is None:
        return ""
    if scale == 0:
        return str(value)
    sign, whole = ("-" if value < 0 else ""), abs(value)
    return f"{sign}{whole // 10 ** scale}.{whole % 10 ** scale:0{scale}d}"


def amount(value: int | None, asset: str) -> str:
    """Minor units of an asset as a merchant reads them: rupees with paise for INR, whole
    units for coins."""
    if value is None:
        return ""
    if asset != "INR":
        return f"{value:,} {asset}"
    sign, whole = ("-" if value < 0 else ""), abs(value)
    return f"{sign}₹{whole // 100:,}.{whole % 100:02d}"


def size(count: int | None) -> str:
    """Bytes as people read them: 1.5 MB."""
    if count is None:
        return ""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"
