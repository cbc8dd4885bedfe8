"""What every work queue shares: its URL base, the decision buttons on an item's page, the
item page itself (whose buttons show only while the item waits), the posted reason, and the
names the queues show beside their ids (admins, merchants, users)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response

from gullak.access import service as access
from gullak.console.web import Page, templates
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import NotFound
from gullak.merchants import service as merchants

BASE = "/console/queues"
money = templates.filters["money"]
when = templates.filters["when"]


@dataclass(frozen=True)
class Action:
    """A decision on an item's page: a form posted to `<item url>/<path>`, shown only to an
    admin with `permission` (the route checks it again)."""

    path: str
    label: str
    permission: str
    reason: str = ""  # "required", "optional" or "": the form's reason field
    kind: str = ""  # the button's class


async def item_page(page: Page, *, title: str, status: str, url: str, back: str,
                    pairs: Sequence[tuple[str, Any]], actions: Sequence[Action], waiting: bool,
                    template: str = "queues/item.html", **context: Any) -> Response:
    return await page.render(template, title=title, state=status, url=url, back=back,
                             pairs=pairs, actions=actions if waiting else (), waiting=waiting,
                             **context)


async def posted(page: Page, name: str) -> str | None:
    """A posted text field, trimmed; None when empty (an optional field left blank)."""
    value = (await page.form()).get(name, "").strip()
    return value or None


def short(value: Any, length: int = 80) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= length else text[:length - 1] + "…"


def user_link(user_id: uuid.UUID) -> str:
    return f"/console/users/{user_id}"


async def admin_names(page: Page, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    names: dict[uuid.UUID, str] = {}
    for admin_id in ids:
        try:
            admin = await access.get_admin(page.session, admin_id)
            names[admin_id] = f"{admin.name} <{admin.email}>"
        except NotFound:
            names[admin_id] = f"admin {admin_id}"
    return names


async def with_merchants(page: Page, rows: Rows, key: str = "merchant_id") -> Rows:
    """Each row as (row, its merchant's name)."""
    names = await merchants.merchant_names(page.session, [getattr(r, key) for r in rows.rows])
    return Rows([(r, names.get(getattr(r, key), "")) for r in rows.rows], rows.next_cursor)
