"""What goes into a file comes back out: every dataset's rows, in CSV and in Parquet, awkward
text included; only the period's rows; the run log's count, size and checksum are the file's."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gullak.cashback import service as cashback
from gullak.cashback.models import Cashback
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.exports import runner
from gullak.exports.datasets import DATASETS, Dataset
from gullak.exports.formats import csv_cell
from gullak.exports.storage import storage_for
from gullak.kit import clock
from gullak.ledger import service as ledger
from gullak.ledger.errors import AssetNotFound
from gullak.ledger.schemas import AccountIn, AssetIn, AssetKind, OwnerType, TransferIn
from gullak.orders import service as orders
from gullak.orders.models import Order
from gullak.payouts import service as payouts
from gullak.payouts.models import Withdrawal
from gullak.settings import Settings
from tests.exports.support import (
    AWKWARD,
    add_cashbacks,
    add_orders,
    add_withdrawals,
    at,
    read_csv,
    read_parquet,
)

DAY, NEXT = dt.date(2026, 11, 10), dt.date(2026, 11, 11)


def file_of(settings: Settings, path: str | None) -> bytes:
    assert path is not None
    return b"".join(storage_for(settings).read(path))


def as_csv(dataset: Dataset, row: dict[str, Any]) -> dict[str, str]:
    return {name: str(csv_cell(row[name])) for name in dataset.names}


def as_arrow(dataset: Dataset, row: dict[str, Any]) -> dict[str, Any]:
    return {name: str(row[name]) if kind == "uuid" and row[name] is not None else row[name]
            for name, kind in dataset.columns}


async def table_rows(db: Database, model: Any, ids: list[uuid.UUID],
                     dataset: Dataset) -> list[dict[str, Any]]:
    """The rows as the table holds them, read without the exports' code."""
    async with unit_of_work(db) as session:
        found = (await session.scalars(select(model).where(model.id.in_(ids)))).all()
    rows = [{name: getattr(r, name) for name in dataset.names} for r in found]
    return sorted(rows, key=lambda r: (r["created_at"], r["id"]))


def test_each_domain_streams_the_columns_its_dataset_declares() -> None:
    assert DATASETS["orders"].names == orders.EXPORT_COLUMNS
    assert DATASETS["cashbacks"].names == cashback.EXPORT_COLUMNS
    assert DATASETS["withdrawals"].names == payouts.EXPORT_COLUMNS
    assert DATASETS["transfers"].names == ledger.EXPORT_COLUMNS
    for dataset in DATASETS.values():
        assert len(set(dataset.names)) == len(dataset.names)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_orders_round_trip_with_awkward_text(fresh_db: Database, settings: Settings,
                                                   fmt: str) -> None:
    times = [at("2026-11-10", hour=n % 24, us=n) for n in range(len(AWKWARD))]
    ids = await add_orders(fresh_db, times, coupons=list(AWKWARD))
    await add_orders(fresh_db, [at("2026-11-09", 23), at("2026-11-11", 0)])  # outside

    done = await runner.export_now(fresh_db, settings, "orders", DAY, NEXT, fmt)

    assert done.status == "done" and done.rows == len(AWKWARD)
    data = file_of(settings, done.path)
    assert done.bytes == len(data) and done.checksum == hashlib.sha256(data).hexdigest()
    dataset = DATASETS["orders"]
    expected = await table_rows(fresh_db, Order, ids, dataset)
    if fmt == "csv":
        assert data.splitlines()[0].decode() == ",".join(dataset.names)
        assert read_csv(data) == [as_csv(dataset, r) for r in expected]
    else:
        assert read_parquet(data) == [as_arrow(dataset, r) for r in expected]
    assert sorted(r["coupon_code"] for r in expected) == sorted(AWKWARD)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_cashbacks_and_withdrawals_round_trip(fresh_db: Database, settings: Settings,
                                                    fmt: str) -> None:
    times = [at("2026-11-10", 1), at("2026-11-10", 2), at("2026-11-10", 3)]
    cashback_ids = await add_cashbacks(fresh_db, times, ["ok, fine", None, "q\"uote\nnl"])
    withdrawal_ids = await add_withdrawals(fresh_db, times[:2])

    for name, model, ids in (("cashbacks", Cashback, cashback_ids),
                             ("withdrawals", Withdrawal, withdrawal_ids)):
        done = await runner.export_now(fresh_db, settings, name, DAY, NEXT, fmt)
        dataset = DATASETS[name]
        data = file_of(settings, done.path)
        expected = await table_rows(fresh_db, model, ids, dataset)
        assert done.rows == len(ids)
        if fmt == "csv":
            assert read_csv(data) == [as_csv(dataset, r) for r in expected]
        else:
            assert read_parquet(data) == [as_arrow(dataset, r) for r in expected]
        # An idempotency key is no warehouse's business.
        assert b"secret-key" not in data


async def _inr(db: Database) -> tuple[uuid.UUID, uuid.UUID]:
    async with unit_of_work(db) as session:
        try:
            await ledger.get_asset(session, "INR")
        except AssetNotFound:
            await ledger.create_asset(session, AssetIn(code="INR", name="INR",
                                                       kind=AssetKind.cash, scale=2))
    async with unit_of_work(db) as session:
        source = await ledger.platform_account(session, "INR", "issuance")
        target = await ledger.open_account(session, AccountIn(
            asset_code="INR", owner_type=OwnerType.user, owner_id=uuid.uuid4()))
        return source.id, target.id


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_transfers_of_the_period_in_posting_order(fresh_db: Database, settings: Settings,
                                                        fmt: str) -> None:
    source, target = await _inr(fresh_db)
    for when, amount in ((at("2026-11-09", 23), 1), (at("2026-11-10", 0), 2),
                         (at("2026-11-10", 23), 3), (at("2026-11-11", 0), 4)):
        clock.freeze(when)
        async with unit_of_work(fresh_db) as session:
            out = await ledger.transfer(session, TransferIn(
                debit_account_id=source, credit_account_id=target, asset_code="INR",
                amount=amount, kind="cashback", reference_type="test",
                reference_id=f"ref,{amount} \"x\""))
            assert out.amount == amount
    clock.reset()

    done = await runner.export_now(fresh_db, settings, "transfers", DAY, NEXT, fmt)

    data = file_of(settings, done.path)
    rows = read_csv(data) if fmt == "csv" else read_parquet(data)
    assert [int(r["amount"]) for r in rows] == [2, 3]
    assert [r["reference_id"] for r in rows] == ['ref,2 "x"', 'ref,3 "x"']
    assert [str(r["credit_account_id"]) for r in rows] == [str(target)] * 2
    assert {r["debit_owner_type"] for r in rows} == {"platform"}
    assert int(rows[0]["seq"]) < int(rows[1]["seq"])


async def test_period_boundaries_take_the_first_day_and_leave_the_last(
        fresh_db: Database, settings: Settings) -> None:
    start = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)
    end = dt.datetime(2026, 11, 12, tzinfo=dt.UTC)
    tick = dt.timedelta(microseconds=1)
    inside = await add_orders(fresh_db, [start, start + tick, end - tick])
    await add_orders(fresh_db, [start - tick, end, end + tick])

    done = await runner.export_now(fresh_db, settings, "orders", start.date(), end.date(), "csv")

    assert [r["id"] for r in read_csv(file_of(settings, done.path))] == [str(i) for i in inside]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_an_empty_period_gives_a_file_with_the_columns(fresh_db: Database,
                                                             settings: Settings,
                                                             fmt: str) -> None:
    done = await runner.export_now(fresh_db, settings, "withdrawals", DAY, NEXT, fmt)

    data = file_of(settings, done.path)
    assert done.status == "done" and done.rows == 0 and done.bytes == len(data)
    if fmt == "csv":
        assert data.decode() == ",".join(DATASETS["withdrawals"].names) + "\r\n"
    else:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
        import io

        table = pq.read_table(io.BytesIO(data))
        assert table.num_rows == 0
        assert tuple(table.schema.names) == DATASETS["withdrawals"].names


async def test_parquet_keeps_types_and_row_groups(fresh_db: Database, settings: Settings) -> None:
    import io

    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq

    await add_orders(fresh_db, [at("2026-11-10", 1, us=n) for n in range(250)])
    small = settings.model_copy(update={"export_parquet_row_group": 100})

    done = await runner.export_now(fresh_db, small, "orders", DAY, NEXT, "parquet")

    parquet = pq.ParquetFile(io.BytesIO(file_of(small, done.path)))
    assert [parquet.metadata.row_group(i).num_rows
            for i in range(parquet.metadata.num_row_groups)] == [100, 100, 50]
    schema = parquet.schema_arrow
    assert schema.field("total").type == pa.int64()
    assert schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("id").type == pa.string()


async def test_the_cli_path_writes_where_it_is_told(fresh_db: Database, settings: Settings,
                                                    tmp_path: Path) -> None:
    ids = await add_orders(fresh_db, [at("2026-11-10")])
    out = tmp_path / "out" / "orders.csv"
    out.parent.mkdir()

    done = await runner.export_now(fresh_db, settings, "orders", DAY, NEXT, "csv", out=out)

    assert done.location == "file" and done.path == str(out.resolve())
    assert [r["id"] for r in read_csv(out.read_bytes())] == [str(ids[0])]
    assert done.checksum == hashlib.sha256(out.read_bytes()).hexdigest()
    assert [p.name for p in out.parent.iterdir()] == ["orders.csv"]  # no partial file left
