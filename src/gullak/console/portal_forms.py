"""What the merchant portal's pages share: the merchant a page acts for, an offer's time
windows as typed, and the domains' newest-first lists as table views."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from gullak.console.forms import split_commas
from gullak.console.web import Page
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import Forbidden, InvalidInput

_WINDOW = re.compile(r"\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def merchant_id(page: Page) -> uuid.UUID:
    """The merchant every read and write of this page is scoped to."""
    found = page.merchant_id
    if found is None:
        raise Forbidden("The merchant portal is for merchant users.")
    return found


def windows(text: str) -> list[dict[str, str]] | str:
    """Time windows written as `09:00-13:00, 17:00-22:00`; malformed text stays text, for the
    schema to refuse."""
    found = []
    for part in split_commas(text):
        match = _WINDOW.fullmatch(part)
        if match is None:
            return text
        found.append({"start": match.group(1).zfill(5), "end": match.group(2).zfill(5)})
    return found


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
