"""What the supply pages' forms and lists share beyond reading fields: the category tree as a
picker, and another domain's rows named by the merchant each belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import service as catalog
from gullak.catalog.schemas import CategoryNode
from gullak.kit.browse import Page as Rows
from gullak.merchants import service as merchants


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
