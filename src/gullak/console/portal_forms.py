"""What the merchant portal's pages share: the merchant a page acts for, posted form fields
turned into what a domain's `In` schema takes (the schema, not this module, decides what is
valid), and the domains' newest-first lists as table views."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any

from gullak.console.web import Page
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import Forbidden, InvalidInput

_INTEGER = re.compile(r"-?\d{1,19}")
_WINDOW = re.compile(r"\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def merchant_id(page: Page) -> uuid.UUID:
    """The merchant every read and write of this page is scoped to."""
    found = page.merchant_id
    if found is None:
        raise Forbidden("The merchant portal is for merchant users.")
    return found


def _integer(text: str) -> int | str:
    # A malformed number stays text, for the schema to refuse with the field's name.
    return int(text) if _INTEGER.fullmatch(text) else text


def _moment(text: str) -> dt.datetime | str:
    """A browser's datetime-local value, read as UTC (the console shows times in UTC)."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def posted(form: Mapping[str, str], names: Sequence[str], *, ints: Collection[str] = (),
           lists: Collection[str] = (), flags: Collection[str] = (),
           moments: Collection[str] = (), keep: Collection[str] = ()) -> dict[str, Any]:
    """The fields `names` of a form as a schema takes them: a blank field is None (or left
    out, when named in `keep`, so the schema's default or the stored value stays), a list is
    comma-separated, a checkbox is present or not, numbers and times are parsed."""
    values: dict[str, Any] = {}
    for name in names:
        raw = form.get(name)
        if name in flags:
            values[name] = bool(raw)
            continue
        text = (raw or "").strip()
        if name in lists:
            values[name] = split(text)
        elif not text:
            if name not in keep:
                values[name] = None
        elif name in ints:
            values[name] = _integer(text)
        elif name in moments:
            values[name] = _moment(text)
        else:
            values[name] = raw
    return values


def checked(form: Mapping[str, str], prefix: str, allowed: Collection[str]) -> list[str]:
    """The boxes ticked among `<prefix><value>` checkboxes, in `allowed` order."""
    return [value for value in allowed if form.get(f"{prefix}{value}")]


def windows(text: str) -> list[dict[str, str]] | str:
    """Time windows written as `09:00-13:00, 17:00-22:00`; malformed text stays text, for the
    schema to refuse."""
    found = []
    for part in split(text):
        match = _WINDOW.fullmatch(part)
        if match is None:
            return text
        found.append({"start": match.group(1).zfill(5), "end": match.group(2).zfill(5)})
    return found


def object_id(value: str | None, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value or "")
    except ValueError:
        raise InvalidInput("Not an id.", field=field) from None


Listing = Callable[[str | None, int], Awaitable[tuple[Sequence[Any], str | None]]]


def newest_first(listing: Listing) -> Callable[[Browse], Awaitable[Rows]]:
    """A table's fetch over a domain's keyset list (newest first, the cursor its last id): the
    one order such a list has."""

    async def fetch(browse: Browse) -> Rows:
        if browse.sort != "-id":
            raise InvalidInput("This table lists the newest first.", code="invalid_sort",
                               field="sort")
        rows, cursor = await listing(browse.cursor, browse.limit)
        return Rows(list(rows), cursor)

    return fetch


def amount(value: int | None, asset: str) -> str:
    """Minor units of an asset: rupees with paise for INR, whole units for coins."""
    if value is None:
        return ""
    if asset != "INR":
        return f"{value:,} {asset}"
    sign, whole = ("-" if value < 0 else ""), abs(value)
    return f"{sign}₹{whole // 100:,}.{whole % 100:02d}"


def when(moment: dt.datetime | None) -> str:
    """A time as the console shows it: UTC, to the minute."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if moment else ""
