"""Links from the ledger's pages to who owns an account and to what caused a transfer, for the
owners and references the console has a page for."""

from __future__ import annotations

import uuid

OWNER_PAGES = {"user": "/console/users/{}", "merchant": "/console/merchants/{}",
               "gift_card": "/console/giftcards/cards/{}"}
REFERENCE_PAGES = {"order": "/console/orders/{}", "settlement": "/console/settlements/{}",
                   "gift_card": "/console/giftcards/cards/{}"}


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
