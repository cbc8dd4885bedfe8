"""Product feed imports: created, updated, removed, unchanged; idempotence; bad rows."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak import worker
from gullak.catalog import errors, feed, jobs, service
from gullak.catalog.schemas import CategoryIn, ReserveIn
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from tests.helpers.catalog import admin, ensure_assets, merchant_subject, new_merchant, state
from tests.helpers.http import acting_as
from tests.helpers.problems import assert_problem

FEED = """sku,name,price,original_price,asset_code,category,tags,image_urls,stock,attr_size
FK-1,Yoga mat,1500,2000,FITCOIN,fitness,yoga|mats,https://img/mat1.png|https://img/mat2.png,10,L
FK-2,Steel bottle,800,,FITCOIN,fitness,,https://img/bottle.png,5,
FK-3,Resistance band,600,,FITCOIN,,,,,
"""


async def products(connection: AsyncConnection, merchant_id: uuid.UUID) -> list[tuple[Any, ...]]:
    result = await connection.execute(text(
        "SELECT sku, name, price, status FROM products WHERE merchant_id = :m ORDER BY sku"),
        {"m": merchant_id})
    return [tuple(r) for r in result]


@pytest.fixture
async def fitness(session: AsyncSession) -> uuid.UUID:
    return (await service.create_category(session, CategoryIn(name="Fitness", slug="fitness"),
                                          None)).id


async def test_csv_import_creates_then_changes_nothing_the_second_time(
        session: AsyncSession, connection: AsyncConnection, merchant_id: uuid.UUID,
        fitness: uuid.UUID) -> None:
    report = await service.import_feed(session, merchant_id, FEED.encode(), "csv")
    assert (report.rows, report.created, report.updated, report.removed, report.unchanged,
            report.failed) == (3, 3, 0, 0, 0, 0)
    mat = (await service.list_products(session, merchant_id, statuses=["active"])).items[-1]
    assert (mat.sku, mat.price, mat.original_price, mat.asset_code, mat.category_id) == (
        "FK-1", 1500, 2000, "FITCOIN", fitness)
    assert (mat.tags, mat.attributes) == (["yoga", "mats"], {"size": "L"})
    assert [i.url for i in mat.images] == ["https://img/mat1.png", "https://img/mat2.png"]
    assert [(s.on_hand, s.reserved) for s in mat.stock] == [(10, 0)]

    before = await state(connection)
    again = await service.import_feed(session, merchant_id, FEED, "csv")
    assert (again.created, again.updated, again.removed, again.unchanged, again.failed) == (
        0, 0, 0, 3, 0)
    after = await state(connection)
    # Only the import's own report is new: no product, image or stock row was touched.
    assert {k: v for k, v in after.items() if k != "product_feed_imports"} == \
        {k: v for k, v in before.items() if k != "product_feed_imports"}
    assert len(after["product_feed_imports"]) == len(before["product_feed_imports"]) + 1


async def test_changes_and_removals(session: AsyncSession, connection: AsyncConnection,
                                    merchant_id: uuid.UUID, fitness: uuid.UUID) -> None:
    await service.import_feed(session, merchant_id, FEED, "csv")
    changed = FEED.replace("Steel bottle,800", "Steel bottle,750").replace(
        "FK-3,Resistance band,600,,FITCOIN,,,,,\n", "FK-4,Skipping rope,300,,FITCOIN,,,,,\n")
    report = await service.import_feed(session, merchant_id, changed, "csv")
    assert (report.created, report.updated, report.removed, report.unchanged) == (1, 1, 1, 1)
    assert await products(connection, merchant_id) == [
        ("FK-1", "Yoga mat", 1500, "active"), ("FK-2", "Steel bottle", 750, "active"),
        ("FK-3", "Resistance band", 600, "archived"), ("FK-4", "Skipping rope", 300, "active")]

    # A partial feed removes nothing; a product coming back is active again.
    partial = "sku,name,price,asset_code\nFK-3,Resistance band,600,FITCOIN\n"
    report = await service.import_feed(session, merchant_id, partial, "csv", full=False)
    assert (report.created, report.updated, report.removed) == (0, 1, 0)
    assert [p[3] for p in await products(connection, merchant_id)] == ["active"] * 4


async def test_bad_rows_are_reported_and_skipped_good_rows_applied(
        session: AsyncSession, connection: AsyncConnection, merchant_id: uuid.UUID,
        fitness: uuid.UUID) -> None:
    await service.import_feed(session, merchant_id, FEED, "csv")
    reserved = (await service.list_products(session, merchant_id)).items
    bottle = next(p for p in reserved if p.sku == "FK-2")
    await service.reserve(session, ReserveIn(product_id=bottle.id, quantity=4))
    bad = json.dumps({"products": [
        {"sku": "FK-1", "name": "Yoga mat", "price": 1400, "original_price": 2000,
         "asset_code": "FITCOIN", "category": "fitness", "tags": ["yoga", "mats"],
         "image_urls": ["https://img/mat1.png", "https://img/mat2.png"], "stock": 10,
         "attributes": {"size": "L"}},                                       # 1: updated
        {"sku": "FK-2", "name": "Steel bottle", "price": 800, "asset_code": "FITCOIN",
         "category": "fitness", "image_urls": ["https://img/bottle.png"], "stock": 3},  # 2
        {"sku": "FK-3", "name": "Resistance band", "price": "cheap"},           # 3
        {"sku": "FK-5", "name": "Dumbbell", "price": 900, "category": "nope"},  # 4
        {"sku": "FK-6", "name": "Mat cleaner", "price": 500, "original_price": 100},  # 5
        {"sku": "FK-7", "name": "Towel", "price": 200, "asset_code": "NOPE"},   # 6
        {"name": "No sku", "price": 1},                                         # 7
        {"sku": "FK-1", "name": "Twice", "price": 1},                            # 8
        "not an object",                                                         # 9
        {"sku": "FK-8", "name": "Headband", "price": 250, "asset_code": "FITCOIN"},  # 10
    ]})
    report = await service.import_feed(session, merchant_id, bad, "json")
    assert (report.rows, report.created, report.updated, report.removed, report.failed) == (
        10, 1, 1, 0, 8)
    assert [(e.row, e.sku, e.field) for e in report.errors] == [
        (2, "FK-2", "stock"), (3, "FK-3", "price"), (4, "FK-5", "category"),
        (5, "FK-6", "original_price"), (6, "FK-7", "asset_code"), (7, None, "sku"),
        (8, "FK-1", "sku"), (9, None, None)]
    assert "skipped" in report.note
    # The failed rows changed nothing, and their products are not "missing" from the feed.
    assert await products(connection, merchant_id) == [
        ("FK-1", "Yoga mat", 1400, "active"), ("FK-2", "Steel bottle", 800, "active"),
        ("FK-3", "Resistance band", 600, "active"), ("FK-8", "Headband", 250, "active")]
    assert tuple((await connection.execute(text(
        "SELECT on_hand, reserved FROM inventory WHERE product_id = :p"),
        {"p": bottle.id})).one()) == (5, 4)


async def test_unreadable_feeds_change_nothing(session: AsyncSession,
                                               connection: AsyncConnection,
                                               merchant_id: uuid.UUID) -> None:
    before = await state(connection)
    for body, fmt in (("{not json", "json"), ('{"rows": []}', "json"),
                      ("name,price\nA,1\n", "csv"), (b"\xff\xfe", "csv"),
                      # a header cell over the csv module's limit (a body larger than the
                      # tests' limit: the nightly job's fetched feeds take 20 MB)
                      ("sku,name,price," + "x" * 200_000 + "\nA,B,1,2\n", "csv")):
        with pytest.raises(errors.InvalidFeed):
            await service.import_feed(session, merchant_id, body, fmt)
    assert await state(connection) == before


async def test_feed_upload_over_http(app: FastAPI, session: AsyncSession,
                                     connection: AsyncConnection, merchant_id: uuid.UUID,
                                     fitness: uuid.UUID) -> None:
    subject = await merchant_subject(session, merchant_id)
    await session.commit()
    async with acting_as(app, subject) as api:
        before = await state(connection)
        r = await api.post("/v1/merchant/products/feed", content=FEED,
                           headers={"content-type": "text/plain"})
        assert_problem(r, 415, "unsupported_media_type")
        r = await api.post("/v1/merchant/products/feed", content="{",
                           headers={"content-type": "application/json"})
        assert_problem(r, 422, "invalid_feed")
        assert await state(connection) == before

        r = await api.post("/v1/merchant/products/feed", content=FEED,
                           headers={"content-type": "text/csv; charset=utf-8"})
        assert r.status_code == 200, r.text
        assert (r.json()["created"], r.json()["failed"]) == (3, 0)
        reports = (await api.get("/v1/merchant/products/feed/imports")).json()
        assert [x["created"] for x in reports] == [3]
    audited = await connection.scalar(text(
        "SELECT count(*) FROM audit_log WHERE action = 'product.feed_import'"
        " AND actor_id = :a"), {"a": subject.id})
    assert audited == 1
    async with acting_as(app, admin("catalog.products")) as api:
        r = await api.post(f"/v1/admin/merchants/{merchant_id}/products/feed?full=false",
                           content=json.dumps([{"sku": "X-1", "name": "Extra", "price": 5}]),
                           headers={"content-type": "application/json"})
        assert (r.json()["created"], r.json()["removed"]) == (1, 0)


DEEP = "[" * 5000 + "]" * 5000


async def test_hostile_feeds_are_refused_whole_or_by_row_over_http(
        app: FastAPI, session: AsyncSession, connection: AsyncConnection,
        merchant_id: uuid.UUID) -> None:
    subject = await merchant_subject(session, merchant_id)
    await session.commit()
    before = await state(connection)
    unreadable = [
        ('{"products": ' + DEEP + "}", "application/json"),  # nested past the parser's stack
        (DEEP, "application/json"),
        ("sku,name,price\rA,B,1\r", "text/csv"),  # bare carriage returns
    ]
    async with acting_as(app, subject) as api:
        for body, media in unreadable:
            r = await api.post("/v1/merchant/products/feed", content=body,
                               headers={"content-type": media})
            assert_problem(r, 422, "invalid_feed")
        assert await state(connection) == before
        csv_rows = ("sku,name,price,attributes,attr_size\n"
                    f'D-1,Deep,100,"{DEEP}",L\n'
                    "D-2,Number,100,5,L\n"
                    'D-3,List,100,"[1, 2]",L\n')
        json_rows = json.dumps([
            {"sku": "J-1", "name": "Nul", "price": 100, "attributes": {"a": "x\u0000"}},
            {"sku": "J-2", "name": "Nested", "price": 100, "attributes": {"a": [[[[[[[[[1]]]]]]]]]}},
            {"sku": "J-3", "name": "Huge", "price": 100, "attributes": {"n": 2**64}}])
        for body, media, skus in ((csv_rows, "text/csv", ["D-1", "D-2", "D-3"]),
                                  (json_rows, "application/json", ["J-1", "J-2", "J-3"])):
            r = await api.post("/v1/merchant/products/feed?full=false", content=body,
                               headers={"content-type": media})
            assert r.status_code == 200, r.text
            report = r.json()
            assert (report["created"], report["failed"]) == (0, 3), report
            assert [(e["row"], e["field"]) for e in report["errors"]] == [
                (row, None if media == "text/csv" else "attributes") for row in (1, 2, 3)]
            if media == "application/json":
                assert [e["sku"] for e in report["errors"]] == skus
    assert await products(connection, merchant_id) == []


async def test_the_nightly_job_fetches_and_imports_each_source(
        fresh_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    async with unit_of_work(fresh_db) as session:
        await ensure_assets(session)
        await service.create_category(session, CategoryIn(name="Fitness", slug="fitness"),
                                      None)
        merchant_id = await new_merchant(session, "FitKart")
        from gullak.catalog.schemas import FeedUrlIn
        await service.put_feed_source(session, merchant_id, FeedUrlIn(
            url="https://shop.example/feed.csv", format="csv"), None)
    fetched: list[str] = []

    async def fake_fetch(url: str, *, timeout: float = 60.0) -> bytes:
        fetched.append(url)
        return FEED.encode()

    monkeypatch.setattr(feed, "fetch", fake_fetch)
    monkeypatch.setattr(worker, "_db", fresh_db)
    assert await jobs.sync_feeds(timestamp=0) == 1
    async with fresh_db.engine.connect() as conn:
        queued = (await conn.execute(text(
            "SELECT args FROM procrastinate_jobs WHERE task_name = 'catalog.import_feed_url'"
        ))).scalars().all()
    assert [(a["merchant_id"], a["url"]) for a in queued] == [
        (str(merchant_id), "https://shop.example/feed.csv")]
    result = await jobs.import_feed_url(**queued[0])
    assert (result["created"], result["failed"]) == (3, 0)
    again = await jobs.import_feed_url(**queued[0])
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert fetched == ["https://shop.example/feed.csv"] * 2


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/feed.csv", "http://10.1.2.3/feed.csv", "http://169.254.169.254/latest",
    "http://[::1]/feed.csv", "http://localhost:8000/feed.csv", "ftp://shop.example/feed.csv",
])
async def test_feed_urls_on_the_servers_own_network_are_refused(
        app: FastAPI, session: AsyncSession, connection: AsyncConnection,
        merchant_id: uuid.UUID, url: str) -> None:
    subject = await merchant_subject(session, merchant_id)
    await session.commit()
    before = await state(connection)
    jobs_before = await connection.scalar(text("SELECT count(*) FROM procrastinate_jobs"))
    async with acting_as(app, subject) as api:
        for path in ("/v1/merchant/products/feed/fetch", "/v1/merchant/products/feed/source"):
            method = "POST" if path.endswith("fetch") else "PUT"
            r = await api.request(method, path, json={"url": url, "format": "csv"})
            assert r.status_code == 422, r.text
            assert r.json()["code"] in ("invalid_feed", "validation_error")
    assert await state(connection) == before
    assert await connection.scalar(text("SELECT count(*) FROM procrastinate_jobs")) == jobs_before
    with pytest.raises(errors.InvalidFeed):
        await feed.fetch(url)


async def test_fetch_now_queues_an_import_job(app: FastAPI, session: AsyncSession,
                                              connection: AsyncConnection,
                                              merchant_id: uuid.UUID) -> None:
    subject = await merchant_subject(session, merchant_id)
    async with acting_as(app, subject) as api:
        r = await api.post("/v1/merchant/products/feed/fetch",
                           json={"url": "https://shop.example/feed.json", "format": "json",
                                 "full": False})
        assert r.status_code == 202, r.text
    args = await connection.scalar(text(
        "SELECT args FROM procrastinate_jobs WHERE id = :id"), {"id": r.json()["job_id"]})
    assert args == {"merchant_id": str(merchant_id), "url": "https://shop.example/feed.json",
                    "format": "json", "full": False}
