"""Categories: a tree kept as materialised paths, written one at a time, read from a cache."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.dialects.postgresql import UUID, array
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import cache, errors
from gullak.catalog.common import as_json, record
from gullak.catalog.models import Category, Product
from gullak.catalog.schemas import CategoryIn, CategoryNode, CategoryOut, CategoryPatch
from gullak.kit.errors import InvalidInput
from gullak.kit.ids import uuid7
from gullak.kit.security import Subject

# An advisory lock key: category writes go one at a time, so that two concurrent moves can
# never build a cycle or leave a stale path between them.
TREE_LOCK = 0x6361745F74726565


async def category_row(session: AsyncSession, category_id: uuid.UUID, field: str | None = None,
                       lock: bool = False) -> Category:
    # Fresh from the database: a move rewrites paths with a plain UPDATE.
    query = select(Category).where(Category.id == category_id).execution_options(
        populate_existing=True)
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise errors.CategoryNotFound(field=field)
    return row


async def _slug_free(session: AsyncSession, slug: str, own_id: uuid.UUID | None = None) -> None:
    taken = await session.scalar(select(Category.id).where(Category.slug == slug))
    if taken is not None and taken != own_id:
        raise errors.SlugTaken(f"The category slug {slug!r} is already used.", field="slug")


async def create_category(session: AsyncSession, data: CategoryIn,
                          actor: Subject | None) -> CategoryOut:
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": TREE_LOCK})
    await _slug_free(session, data.slug)
    path: list[uuid.UUID] = []
    if data.parent_id is not None:
        parent = await category_row(session, data.parent_id, "parent_id")
        path = list(parent.path)
    row = Category(**data.model_dump(), id=uuid7())
    row.path = [*path, row.id]
    row.level = len(path)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    await cache.invalidate(session)
    out = CategoryOut.model_validate(row)
    await record(session, actor, "category.create", "category", row.id, after=as_json(out))
    return out


async def get_category(session: AsyncSession, category_id: uuid.UUID) -> CategoryOut:
    return CategoryOut.model_validate(await category_row(session, category_id))


async def update_category(session: AsyncSession, category_id: uuid.UUID, data: CategoryPatch,
                          actor: Subject | None) -> CategoryOut:
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": TREE_LOCK})
    row = await category_row(session, category_id, lock=True)
    before = CategoryOut.model_validate(row)
    changes = data.model_dump(exclude_unset=True)
    for key in ("name", "slug", "type", "display_order", "active"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} may not be null.", field=key)
    if "slug" in changes:
        await _slug_free(session, changes["slug"], row.id)
    if "parent_id" in changes and changes["parent_id"] != row.parent_id:
        await _move(session, row, changes["parent_id"])
    changes.pop("parent_id", None)
    for key, value in changes.items():
        setattr(row, key, value)
    await session.flush()
    await session.refresh(row)
    await cache.invalidate(session)
    out = CategoryOut.model_validate(row)
    await record(session, actor, "category.update", "category", row.id,
                 before=as_json(before), after=as_json(out))
    return out


async def _move(session: AsyncSession, row: Category, parent_id: uuid.UUID | None) -> None:
    prefix: list[uuid.UUID] = []
    if parent_id is not None:
        parent = await category_row(session, parent_id, "parent_id")
        if row.id in parent.path:
            raise errors.CategoryCycle(field="parent_id")
        prefix = list(parent.path)
    # Rewrite the path (and so the level) of the category and all of its descendants.
    await session.execute(text(
        "UPDATE categories SET path = CAST(:prefix AS uuid[]) || path[(:k) : cardinality(path)],"
        " level = cardinality(CAST(:prefix AS uuid[])) + cardinality(path) - :k,"
        " updated_at = now()"
        " WHERE path @> ARRAY[CAST(:id AS uuid)]"),
        {"prefix": prefix, "k": row.level + 1, "id": row.id})
    await session.execute(update(Category).where(Category.id == row.id)
                          .values(parent_id=parent_id))
    await session.refresh(row)


async def delete_category(session: AsyncSession, category_id: uuid.UUID,
                          actor: Subject | None) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": TREE_LOCK})
    row = await category_row(session, category_id, lock=True)
    children = await session.scalar(select(func.count()).where(Category.parent_id == row.id))
    products = await session.scalar(select(func.count()).where(Product.category_id == row.id))
    if children or products:
        raise errors.CategoryInUse(
            f"The category has {children} subcategories and {products} products;"
            " deactivate it instead.")
    before = CategoryOut.model_validate(row)
    await session.delete(row)
    await session.flush()
    await cache.invalidate(session)
    await record(session, actor, "category.delete", "category", category_id,
                 before=as_json(before))


async def category_and_descendants(session: AsyncSession,
                                   category_id: uuid.UUID) -> list[uuid.UUID]:
    """The category's id and those of everything under it (CategoryNotFound if none)."""
    ids = list(await session.scalars(text(
        "SELECT id FROM categories WHERE path @> ARRAY[CAST(:id AS uuid)] ORDER BY level, id"),
        {"id": category_id}))
    if not ids:
        raise errors.CategoryNotFound(field="category_id")
    return ids


def subtree(category_id: uuid.UUID) -> ColumnElement[list[uuid.UUID]]:
    """For other domains' queries: the ids of the category and of everything under it, as an
    array read in the same query (an index look-up on `path`). An id the tree does not know
    stands for itself alone, so that rows naming such an id still match it."""
    below = select(func.array_agg(Category.id)).where(
        Category.path.contains([category_id])).scalar_subquery()
    return func.coalesce(below, array([category_id], type_=UUID(as_uuid=True)))


async def _all_categories(session: AsyncSession) -> list[dict[str, Any]]:
    cached = await cache.get(session)
    if cached is not None:
        return cached
    rows = await session.scalars(select(Category).order_by(
        Category.level, Category.display_order, Category.name).execution_options(
        populate_existing=True))
    flat = [CategoryOut.model_validate(r).model_dump(mode="json") for r in rows]
    await cache.put(session, flat)
    return flat


async def category_tree(session: AsyncSession, *, include_inactive: bool = False,
                        type: str | None = None) -> list[CategoryNode]:
    """The category tree, roots first, siblings by display order. Without
    `include_inactive`, an inactive category hides its whole subtree. `type` keeps the
    categories usable for offers or products ("both" fits either)."""
    nodes: dict[str, CategoryNode] = {}
    roots: list[CategoryNode] = []
    for item in await _all_categories(session):  # parents come before their children
        if not include_inactive and not item["active"]:
            continue
        if type is not None and item["type"] not in (type, "both"):
            continue
        node = CategoryNode.model_validate(item)
        nodes[item["id"]] = node
        if item["parent_id"] is None:
            roots.append(node)
        elif item["parent_id"] in nodes:
            nodes[item["parent_id"]].children.append(node)
    return roots

