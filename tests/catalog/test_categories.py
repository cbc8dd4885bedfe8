"""The category tree: levels, moves without cycles, deletion rules, the cached public tree."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.catalog import errors, service
from gullak.catalog.schemas import CategoryIn, CategoryNode, CategoryPatch
from tests.helpers.catalog import admin, product_in, state
from tests.helpers.http import acting_as
from tests.helpers.problems import assert_problem


async def make(session: AsyncSession, slug: str, parent: uuid.UUID | None = None,
               **values: Any) -> uuid.UUID:
    out = await service.create_category(session, CategoryIn(
        name=slug.title(), slug=slug, parent_id=parent, **values), None)
    return out.id


def names(nodes: list[CategoryNode]) -> list[Any]:
    return [(n.slug, n.level, names(n.children)) if n.children else (n.slug, n.level)
            for n in nodes]


async def test_tree_levels_order_and_descendants(session: AsyncSession) -> None:
    food = await make(session, "food", display_order=2)
    fashion = await make(session, "fashion", display_order=1)
    cafes = await make(session, "cafes", food)
    coffee = await make(session, "coffee", cafes)
    await make(session, "bakeries", food, display_order=-1)

    assert (await service.get_category(session, coffee)).level == 2
    tree = await service.category_tree(session)
    assert names(tree) == [("fashion", 0),
                           ("food", 0, [("bakeries", 1), ("cafes", 1, [("coffee", 2)])])]
    assert set(await service.category_and_descendants(session, cafes)) == {cafes, coffee}
    assert fashion not in await service.category_and_descendants(session, food)
    with pytest.raises(errors.CategoryNotFound):
        await service.category_and_descendants(session, uuid.uuid4())


async def test_moving_a_subtree_recomputes_levels_and_refuses_cycles(
        session: AsyncSession, connection: AsyncConnection) -> None:
    a = await make(session, "a")
    b = await make(session, "b", a)
    c = await make(session, "c", b)
    other = await make(session, "other")

    moved = await service.update_category(session, b, CategoryPatch(parent_id=other), None)
    assert (moved.parent_id, moved.level) == (other, 1)
    assert (await service.get_category(session, c)).level == 2
    assert set(await service.category_and_descendants(session, other)) == {other, b, c}
    assert set(await service.category_and_descendants(session, a)) == {a}

    top = await service.update_category(session, b, CategoryPatch(parent_id=None), None)
    assert (top.parent_id, top.level) == (None, 0)
    assert (await service.get_category(session, c)).level == 1

    before = await state(connection)
    for parent in (b, c):  # under itself, under its own descendant
        with pytest.raises(errors.CategoryCycle):
            await service.update_category(session, b, CategoryPatch(parent_id=parent), None)
    assert await state(connection) == before


async def test_admin_api_refusals_change_nothing(app: FastAPI, session: AsyncSession,
                                                connection: AsyncConnection) -> None:
    root = await make(session, "electronics")
    child = await make(session, "phones", root)
    await session.commit()
    async with acting_as(app, admin("catalog.manage")) as api:
        before = await state(connection)
        r = await api.patch(f"/v1/admin/categories/{root}", json={"parent_id": str(child)})
        assert_problem(r, 409, "category_cycle", "parent_id")
        r = await api.post("/v1/admin/categories", json={"name": "X", "slug": "phones"})
        assert_problem(r, 409, "slug_taken", "slug")
        r = await api.post("/v1/admin/categories", json={"name": "X", "slug": "Bad Slug"})
        assert_problem(r, 422, "validation_error", "slug")
        r = await api.post("/v1/admin/categories",
                           json={"name": "X", "slug": "x", "parent_id": str(uuid.uuid4())})
        assert_problem(r, 404, "category_not_found", "parent_id")
        r = await api.post("/v1/admin/categories", json={"name": "X", "slug": "x", "type": "toy"})
        assert_problem(r, 422, "validation_error", "type")
        r = await api.delete(f"/v1/admin/categories/{root}")
        assert_problem(r, 409, "category_in_use")
        assert await state(connection) == before

    async with acting_as(app, admin("offers.manage")) as api:
        r = await api.post("/v1/admin/categories", json={"name": "X", "slug": "x"})
        assert_problem(r, 403, "forbidden")
    assert await connection.scalar(text("SELECT count(*) FROM categories WHERE slug = 'x'")) == 0


async def test_category_writes_are_audited(app: FastAPI, connection: AsyncConnection) -> None:
    actor = admin("catalog.manage")
    async with acting_as(app, actor) as api:
        r = await api.post("/v1/admin/categories",
                           json={"name": "Travel", "slug": "travel", "seo_title": "Trips"})
        assert r.status_code == 201, r.text
        category_id = r.json()["id"]
        r = await api.patch(f"/v1/admin/categories/{category_id}", json={"active": False})
        assert r.json()["active"] is False
        r = await api.delete(f"/v1/admin/categories/{category_id}")
        assert r.status_code == 204
    rows = (await connection.execute(text(
        "SELECT action, actor_id, before, after FROM audit_log"
        " WHERE entity_type = 'category' AND entity_id = :id ORDER BY at, action"),
        {"id": category_id})).all()
    assert [(r.action, r.actor_id, r.before is not None, r.after is not None)
            for r in rows] == [
        ("category.create", actor.id, False, True),
        ("category.update", actor.id, True, True),
        ("category.delete", actor.id, True, False)]


async def test_public_tree_hides_inactive_subtrees_and_filters_by_type(
        session: AsyncSession) -> None:
    shop = await make(session, "shop", type="product")
    await make(session, "deals", type="offer")
    hidden = await make(session, "hidden", active=False)
    await make(session, "under-hidden", hidden)
    await make(session, "gadgets", shop)

    assert names(await service.category_tree(session)) == [
        ("deals", 0), ("shop", 0, [("gadgets", 1)])]
    assert names(await service.category_tree(session, type="offer")) == [("deals", 0)]
    everything = await service.category_tree(session, include_inactive=True)
    assert {n.slug for n in everything} == {"shop", "deals", "hidden"}


async def test_the_tree_is_cached_and_every_change_invalidates_it(
        app: FastAPI, connection: AsyncConnection) -> None:
    async with acting_as(app, admin("catalog.manage")) as api:
        r = await api.post("/v1/admin/categories", json={"name": "Food", "slug": "food"})
        food = r.json()["id"]
        first = (await api.get("/v1/categories")).json()
        assert [c["slug"] for c in first] == ["food"]

        # Written behind the service's back: the cached tree does not see it...
        await connection.execute(text(
            "INSERT INTO categories (id, path, level, name, slug)"
            " VALUES (CAST(:id AS uuid), ARRAY[CAST(:id AS uuid)], 0, 'Sneaky', 'sneaky')"),
            {"id": str(uuid.uuid4())})
        assert (await api.get("/v1/categories")).json() == first

        # ...until a change through the service drops it.
        r = await api.patch(f"/v1/admin/categories/{food}", json={"name": "Food & drinks"})
        assert r.status_code == 200
        after = (await api.get("/v1/categories")).json()
        assert [(c["slug"], c["name"]) for c in after] == [("food", "Food & drinks"),
                                                            ("sneaky", "Sneaky")]

        r = await api.post("/v1/admin/categories",
                           json={"name": "Cafes", "slug": "cafes", "parent_id": food})
        tree = (await api.get("/v1/categories")).json()
        assert [c["slug"] for c in tree[0]["children"]] == ["cafes"]
        r = await api.delete(f"/v1/admin/categories/{r.json()['id']}")
        assert (await api.get("/v1/categories")).json()[0]["children"] == []


async def test_a_rolled_back_change_is_never_cached(session: AsyncSession,
                                                   connection: AsyncConnection) -> None:
    await make(session, "kept")
    await session.commit()  # a savepoint of the test's transaction
    assert names(await service.category_tree(session)) == [("kept", 0)]
    nested = await session.begin_nested()
    await make(session, "doomed")
    # The writing session reads its own change but does not cache it.
    assert {n.slug for n in await service.category_tree(session)} == {"kept", "doomed"}
    await nested.rollback()
    assert names(await service.category_tree(session)) == [("kept", 0)]


async def test_a_category_with_products_cannot_be_deleted(session: AsyncSession,
                                                          merchant_id: uuid.UUID) -> None:
    gadgets = await make(session, "gadgets")
    await service.create_product(session, merchant_id, product_in(category_id=gadgets), None)
    with pytest.raises(errors.CategoryInUse):
        await service.delete_category(session, gadgets, None)


class FakeRedis:
    """Just enough of redis.asyncio.Redis for the tree cache."""

    def __init__(self, broken: bool = False) -> None:
        self.data: dict[str, bytes] = {}
        self.broken = broken

    def _check(self) -> None:
        if self.broken:
            raise ConnectionError("redis is down")

    async def get(self, key: str) -> bytes | None:
        self._check()
        return self.data.get(key)

    async def set(self, key: str, value: str, ex: int | None = None) -> None:
        self._check()
        self.data[key] = value.encode()

    async def delete(self, key: str) -> None:
        self._check()
        self.data.pop(key, None)


async def test_with_redis_the_tree_is_cached_there(app: FastAPI, connection: AsyncConnection,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from gullak.catalog import cache
    redis = FakeRedis()
    monkeypatch.setattr(cache, "redis_client", lambda: redis)
    async with acting_as(app, admin("catalog.manage")) as api:
        await api.post("/v1/admin/categories", json={"name": "Food", "slug": "food"})
        first = (await api.get("/v1/categories")).json()
        assert cache.KEY in redis.data
        await connection.execute(text(
            "INSERT INTO categories (id, path, level, name, slug)"
            " VALUES (CAST(:id AS uuid), ARRAY[CAST(:id AS uuid)], 0, 'Sneaky', 'sneaky')"),
            {"id": str(uuid.uuid4())})
        assert (await api.get("/v1/categories")).json() == first
        await api.post("/v1/admin/categories", json={"name": "Fun", "slug": "fun"})
        assert cache.KEY not in redis.data
        assert [c["slug"] for c in (await api.get("/v1/categories")).json()] == [
            "food", "fun", "sneaky"]

    redis.broken = True  # an accelerator only: without it the tree comes from the database
    async with acting_as(app, admin("catalog.manage")) as api:
        r = await api.post("/v1/admin/categories", json={"name": "Gym", "slug": "gym"})
        assert r.status_code == 201
        assert len((await api.get("/v1/categories")).json()) == 4
