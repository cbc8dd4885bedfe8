"""What the money pages (books.py and the pages it mounts) share: amounts in an asset's units,
written the same on the page and in a CSV; where an owner or a reference is shown; whole
numbers out of posted forms."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

OWNER_PAGES = {"user": "/console/users/{}", "merchant": "/console/merchants/{}",
               "gift_card": "/console/giftcards/cards/{}"}
REFERENCE_PAGES = {"order": "/console/orders/{}", "settlement": "/console/settlements/{}",
                   "gift_card": "/console/giftcards/cards/{}"}


def decimal(amount: int | None, scale: int = 2) -> str:
    """Minor units as a plain decimal (no grouping): 12345 at scale 2 is 123.45."""
    if amount is None:
        return ""
    if scale == 0:
        return str(amount)
    sign, whole = ("-" if amount < 0 else ""), abs(amount)
    return f"{sign}{whole // 10 ** scale}.{whole % 10 ** scale:0{scale}d}"


def owner_link(owner_type: str, owner_id: uuid.UUID | None) -> str | None:
    page = OWNER_PAGES.get(str(owner_type))
    return page.format(owner_id) if page and owner_id else None


def reference_link(reference_type: str | None, reference_id: str | None) -> str | None:
    """The page of what caused a transfer, when the console has one and the id is an id."""
    page = REFERENCE_PAGES.get(reference_type or "")
    if page is None or reference_id is None:
        return None
    try:
        return page.format(uuid.UUID(reference_id))
    except ValueError:
        return None


def whole(form: Mapping[str, str], name: str) -> int | str | None:
    """A posted whole number as an int; anything else as sent, for the schema to refuse (a
    422 that names the field), and None when left empty."""
    value = form.get(name, "").strip()
    if not value:
        return None
    if value.isascii() and value.lstrip("-").isdigit() and len(value) <= 20:
        return int(value)
    return value


def given(fields: Mapping[str, object]) -> dict[str, object]:
    """The fields that were filled in: an empty one takes the schema's default."""
    return {k: v for k, v in fields.items() if v is not None and v != ""}


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
