"""Stock and reservations: no overselling under concurrency, expiry, the database's own guard."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak import worker
from gullak.catalog import errors, jobs, service
from gullak.catalog.schemas import ProductIn, ProductPatch, ReserveIn, StockIn
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from tests.helpers.catalog import (
    admin,
    ensure_assets,
    merchant_subject,
    new_merchant,
    product_in,
    state,
)
from tests.helpers.http import acting_as
from tests.helpers.problems import assert_problem


async def stock_of(connection: AsyncConnection, product_id: uuid.UUID) -> tuple[int, int]:
    row = (await connection.execute(text(
        "SELECT on_hand, reserved FROM inventory WHERE product_id = :p AND variant_id IS NULL"),
        {"p": product_id})).one()
    return row.on_hand, row.reserved


async def test_reserve_commit_release(session: AsyncSession, connection: AsyncConnection,
                                      merchant_id: uuid.UUID) -> None:
    p = await service.create_product(session, merchant_id, product_in(stock=10), None)
    a = await service.reserve(session, ReserveIn(product_id=p.id, quantity=4, reference="o-1"))
    b = await service.reserve(session, ReserveIn(product_id=p.id, quantity=6))
    assert await stock_of(connection, p.id) == (10, 10)
    before = await state(connection)
    with pytest.raises(errors.OutOfStock):
        await service.reserve(session, ReserveIn(product_id=p.id, quantity=1))
    assert await state(connection) == before

    assert (await service.commit_reservation(session, a.id)).status == "committed"
    assert await stock_of(connection, p.id) == (6, 6)
    assert (await service.release_reservation(session, b.id)).status == "released"
    assert await stock_of(connection, p.id) == (6, 0)
    for closed in (a.id, b.id):
        with pytest.raises(errors.ReservationClosed):
            await service.commit_reservation(session, closed)
        with pytest.raises(errors.ReservationClosed):
            await service.release_reservation(session, closed)
    assert await stock_of(connection, p.id) == (6, 0)


async def test_variants_keep_their_own_stock(session: AsyncSession, connection: AsyncConnection,
                                             merchant_id: uuid.UUID) -> None:
    p = await service.create_product(session, merchant_id, ProductIn.model_validate({
        "sku": "GC", "name": "Gift card", "price": 500,
        "variants": [{"sku": "GC-5", "name": "5", "cost_price": 4, "selling_price": 5,
                      "stock": 1},
                     {"sku": "GC-9", "name": "9", "cost_price": 8, "selling_price": 9}]}), None)
    five, nine = p.variants
    await service.reserve(session, ReserveIn(product_id=p.id, variant_id=five.id, quantity=1))
    with pytest.raises(errors.OutOfStock):
        await service.reserve(session, ReserveIn(product_id=p.id, variant_id=five.id,
                                                 quantity=1))
    with pytest.raises(errors.StockNotFound):
        await service.reserve(session, ReserveIn(product_id=p.id, variant_id=nine.id,
                                                 quantity=1))
    with pytest.raises(Exception, match="variant"):
        await service.reserve(session, ReserveIn(product_id=p.id, quantity=1))
    await service.set_stock(session, p.id, StockIn(variant_id=nine.id, on_hand=3), None)
    r = await service.reserve(session, ReserveIn(product_id=p.id, variant_id=nine.id,
                                                 quantity=3))
    assert r.variant_id == nine.id


async def test_products_not_on_sale_cannot_be_reserved(session: AsyncSession,
                                                       merchant_id: uuid.UUID) -> None:
    p = await service.create_product(session, merchant_id, product_in(stock=5), None)
    await service.update_product(session, p.id, ProductPatch(status="inactive"), None)
    with pytest.raises(errors.ProductNotFound):
        await service.reserve(session, ReserveIn(product_id=p.id, quantity=1))


async def test_stock_cannot_drop_below_what_is_reserved(
        app: FastAPI, session: AsyncSession, connection: AsyncConnection,
        merchant_id: uuid.UUID) -> None:
    p = await service.create_product(session, merchant_id, product_in(stock=10), None)
    await service.reserve(session, ReserveIn(product_id=p.id, quantity=7))
    subject = await merchant_subject(session, merchant_id)
    await session.commit()
    before = await state(connection)
    async with acting_as(app, subject) as api:
        r = await api.put(f"/v1/merchant/products/{p.id}/stock", json={"on_hand": 6})
        assert_problem(r, 409, "stock_below_reserved", "on_hand")
        r = await api.put(f"/v1/merchant/products/{p.id}/stock", json={"on_hand": -1})
        assert_problem(r, 422, "validation_error", "on_hand")
        assert await state(connection) == before
        r = await api.put(f"/v1/merchant/products/{p.id}/stock", json={"on_hand": 7})
        assert r.json() == {"variant_id": None, "on_hand": 7, "reserved": 7, "available": 0}


async def test_the_database_refuses_overselling_by_itself(session: AsyncSession,
                                                         merchant_id: uuid.UUID) -> None:
    p = await service.create_product(session, merchant_id, product_in(stock=2), None)
    for sql in ("UPDATE inventory SET reserved = 3 WHERE product_id = :p",
                "UPDATE inventory SET reserved = -1 WHERE product_id = :p",
                "UPDATE inventory SET on_hand = -1, reserved = 0 WHERE product_id = :p"):
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await session.execute(text(sql), {"p": p.id})


async def test_reservations_over_http(app: FastAPI, session: AsyncSession,
                                      connection: AsyncConnection,
                                      merchant_id: uuid.UUID) -> None:
    p = await service.create_product(session, merchant_id, product_in(stock=2), None)
    await session.commit()
    async with acting_as(app, admin("inventory.reserve")) as api:
        r = await api.post("/v1/inventory/reservations",
                           json={"product_id": str(p.id), "quantity": 2, "ttl_seconds": 60})
        assert r.status_code == 201, r.text
        reservation = r.json()
        before = await state(connection)
        r = await api.post("/v1/inventory/reservations",
                           json={"product_id": str(p.id), "quantity": 1})
        assert_problem(r, 409, "out_of_stock", "quantity")
        r = await api.post("/v1/inventory/reservations",
                           json={"product_id": str(p.id), "quantity": 0})
        assert_problem(r, 422, "validation_error", "quantity")
        r = await api.post(f"/v1/inventory/reservations/{uuid.uuid4()}/commit")
        assert_problem(r, 404, "reservation_not_found")
        assert await state(connection) == before
        r = await api.post(f"/v1/inventory/reservations/{reservation['id']}/commit")
        assert r.json()["status"] == "committed"
        r = await api.post(f"/v1/inventory/reservations/{reservation['id']}/release")
        assert_problem(r, 409, "reservation_closed")
    assert await stock_of(connection, p.id) == (0, 0)
    async with acting_as(app, admin("catalog.manage")) as api:
        r = await api.post("/v1/inventory/reservations",
                           json={"product_id": str(p.id), "quantity": 1})
        assert_problem(r, 403, "forbidden")


async def setup_product(db: Database, on_hand: int) -> uuid.UUID:
    async with unit_of_work(db) as session:
        await ensure_assets(session)
        merchant = await new_merchant(session)
        p = await service.create_product(session, merchant, product_in(stock=on_hand), None)
    return p.id


async def test_fifty_concurrent_reservations_of_twenty_in_stock(fresh_db: Database) -> None:
    product_id = await setup_product(fresh_db, 20)
    done = asyncio.Event()
    samples: list[tuple[int, int]] = []

    async def sample() -> None:
        async with fresh_db.engine.connect() as conn:
            while not done.is_set():
                row = (await conn.execute(text(
                    "SELECT on_hand, reserved FROM inventory WHERE product_id = :p"),
                    {"p": product_id})).one()
                samples.append((row.on_hand, row.reserved))
                await conn.commit()
                await asyncio.sleep(0)

    async def buy() -> uuid.UUID | None:
        try:
            async with unit_of_work(fresh_db) as session:
                r = await service.reserve(session, ReserveIn(product_id=product_id, quantity=1))
            return r.id
        except errors.OutOfStock:
            return None

    sampler = asyncio.create_task(sample())
    results = await asyncio.gather(*(buy() for _ in range(50)))
    done.set()
    await sampler
    granted = [r for r in results if r is not None]
    assert len(granted) == 20
    assert samples and all(0 <= reserved <= on_hand for on_hand, reserved in samples)
    async with fresh_db.engine.connect() as conn:
        assert tuple((await conn.execute(text(
            "SELECT on_hand, reserved FROM inventory WHERE product_id = :p"),
            {"p": product_id})).one()) == (20, 20)
        assert await conn.scalar(text(
            "SELECT count(*) FROM inventory_reservations WHERE status = 'pending'")) == 20

    # Half are sold, half are put back, concurrently: the books still balance.
    async def close(reservation_id: uuid.UUID, sell: bool) -> None:
        async with unit_of_work(fresh_db) as session:
            if sell:
                await service.commit_reservation(session, reservation_id)
            else:
                await service.release_reservation(session, reservation_id)

    await asyncio.gather(*(close(r, n % 2 == 0) for n, r in enumerate(granted)))
    async with fresh_db.engine.connect() as conn:
        assert tuple((await conn.execute(text(
            "SELECT on_hand, reserved FROM inventory WHERE product_id = :p"),
            {"p": product_id})).one()) == (10, 0)


async def test_expired_reservations_are_released_by_the_job(
        fresh_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    clock.freeze(dt.datetime(2030, 1, 10, tzinfo=dt.UTC))
    product_id = await setup_product(fresh_db, 10)
    async with unit_of_work(fresh_db) as session:
        short = [await service.reserve(session, ReserveIn(product_id=product_id, quantity=2,
                                                          ttl_seconds=60)) for _ in range(3)]
        long = await service.reserve(session, ReserveIn(product_id=product_id, quantity=1,
                                                        ttl_seconds=3600))
    clock.advance(dt.timedelta(minutes=5))
    monkeypatch.setattr(jobs, "BATCH", 2)  # several batches, each its own transaction
    monkeypatch.setattr(worker, "_db", fresh_db)
    assert await jobs.expire_reservations(timestamp=0) == 3
    async with unit_of_work(fresh_db) as session:
        assert [(await service.get_reservation(session, r.id)).status for r in short] == \
            ["expired"] * 3
        assert (await service.get_reservation(session, long.id)).status == "pending"
        # A reservation past its deadline cannot be sold any more, even before the sweep.
        clock.advance(dt.timedelta(hours=2))
        with pytest.raises(errors.ReservationClosed, match="expired"):
            await service.commit_reservation(session, long.id)
    async with fresh_db.engine.connect() as conn:
        assert tuple((await conn.execute(text(
            "SELECT on_hand, reserved FROM inventory WHERE product_id = :p"),
            {"p": product_id})).one()) == (10, 1)
    assert await jobs.expire_reservations(timestamp=0) == 1
    assert await jobs.expire_reservations(timestamp=0) == 0
    async with fresh_db.engine.connect() as conn:
        assert tuple((await conn.execute(text(
            "SELECT on_hand, reserved FROM inventory WHERE product_id = :p"),
            {"p": product_id})).one()) == (10, 0)
