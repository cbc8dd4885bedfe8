"""Exports test support: an app whose requests come from admins named by header, rows of
each dataset written straight into a database of its own, the queued export jobs run as the
worker runs them, and files read back."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from sqlalchemy import text

from gullak.app import create_app
from gullak.cashback.models import Cashback, Network
from gullak.db.engine import Database
from gullak.db.uow import SessionDep, unit_of_work
from gullak.exports import runner
from gullak.kit.security import Subject, current_subject
from gullak.orders.models import Order
from gullak.payouts.models import Withdrawal
from gullak.settings import Settings

UTC = dt.UTC
PERMISSIONS = "exports.run,exports.read"
# Text a CSV writer must quote or keep whole: separators, quotes, line breaks, non-ASCII.
AWKWARD = ['plain', 'a,b', 'say "hi"', 'two\nlines', 'cr\r\nlf', ' lead and trail ',
           'दिवाली ऑफ़र', '😀 emoji', "'=1+2", 'tab\there', '",\n"']


def exports_app(settings: Settings, db: Database) -> FastAPI:
    """Requests are from the admin x-admin-id (default uuid(int=1)) with the permissions
    listed in x-admin."""
    app = create_app(settings, db)

    async def subject(request: Request, session: SessionDep) -> Subject:
        admin = uuid.UUID(request.headers.get("x-admin-id", str(uuid.UUID(int=1))))
        return Subject("admin", admin, frozenset(request.headers.get("x-admin", "").split(",")))

    app.dependency_overrides[current_subject] = subject
    return app


def as_admin(permissions: str = PERMISSIONS, number: int = 1) -> dict[str, str]:
    return {"x-admin": permissions, "x-admin-id": str(uuid.UUID(int=number))}


def at(day: str, hour: int = 12, *, us: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC) \
        + dt.timedelta(microseconds=us)


async def add_orders(db: Database, times: list[dt.datetime],
                     coupons: list[str | None] | None = None) -> list[uuid.UUID]:
    """Orders created at these times (with these coupon codes); their ids."""
    ids = []
    async with unit_of_work(db) as session:
        for n, when in enumerate(times):
            order = Order(
                id=uuid.uuid4(), number=f"ORD-T-{uuid.uuid4().hex[:10]}", user_id=uuid.uuid4(),
                merchant_id=uuid.uuid4(), kind="purchase", status="paid",
                fulfilment="delivery", currency="INR", subtotal=1000 + n, discount=0,
                delivery_fee=0, tax=0, total=1000 + n,
                coupon_code=coupons[n] if coupons else None, created_at=when,
                updated_at=when)
            session.add(order)
            ids.append(order.id)
    return ids


async def bulk_orders(db: Database, count: int, day: str) -> None:
    """`count` orders created during `day`, written by the server in one statement."""
    async with db.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO orders (id, number, user_id, merchant_id, kind, status, fulfilment,"
            " currency, subtotal, discount, delivery_fee, tax, total, coupon_code, created_at,"
            " updated_at)"
            " SELECT gen_random_uuid(), 'ORD-B-' || :day || '-' || g,"
            " gen_random_uuid(), gen_random_uuid(),"
            " 'purchase', 'completed', 'delivery', 'INR', g, 0, 0, 0, g, 'CODE' || g,"
            " CAST(:day AS timestamptz) + g * interval '1 millisecond',"
            " CAST(:day AS timestamptz) FROM generate_series(1, :count) AS g"),
            {"day": f"{day}T00:00:00+00:00", "count": count})


async def add_cashbacks(db: Database, times: list[dt.datetime],
                        reasons: list[str | None]) -> list[uuid.UUID]:
    ids = []
    async with unit_of_work(db) as session:
        network = Network(code=f"net{uuid.uuid4().hex[:8]}", name="Test network",
                          auth_mode="token", secret_sealed="sealed", secret_hint="****",
                          signature_header="x-signature", token_param="token")
        session.add(network)
        await session.flush()
        for n, when in enumerate(times):
            row = Cashback(network_id=network.id, transaction_id=f"tx,{n}\"", user_id=uuid.uuid4(),
                           order_amount=50_000 + n, commission=None, amount=500 + n,
                           status="pending", network_status="pending", reason=reasons[n],
                           created_at=when, updated_at=when)
            session.add(row)
            await session.flush()
            ids.append(row.id)
    return ids


async def add_withdrawals(db: Database, times: list[dt.datetime]) -> list[uuid.UUID]:
    ids = []
    async with unit_of_work(db) as session:
        for n, when in enumerate(times):
            row = Withdrawal(
                code=f"WD-T-{uuid.uuid4().hex[:8]}", owner_type="user", owner_id=uuid.uuid4(),
                kind="gift_voucher", source_account_id=uuid.uuid4(), asset_code="INR",
                amount=10_000 + n, fee=100, tax=0, net=9_900 + n, status="review",
                created_by=uuid.uuid4(), created_by_kind="user", reason="line one\nline, two",
                idempotency_key=f"secret-key-{n}", request_hash="hash", created_at=when,
                updated_at=when)
            session.add(row)
            await session.flush()
            ids.append(row.id)
    return ids


async def run_jobs(db: Database, settings: Settings) -> list[str]:
    """Run every queued export job as the worker would; the runs' final statuses."""
    outcomes: list[str] = []
    while True:
        async with db.engine.begin() as conn:
            jobs = (await conn.execute(text(
                "SELECT id, args FROM procrastinate_jobs WHERE status = 'todo'"
                " AND task_name = 'exports.run' ORDER BY id"))).all()
        if not jobs:
            return outcomes
        for job_id, args in jobs:
            done = await runner.execute(db, settings, uuid.UUID(args["export_id"]))
            outcomes.append(done.status)
            async with db.engine.begin() as conn:
                await conn.execute(text(
                    "UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :id"),
                    {"id": job_id})


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))


def read_parquet(data: bytes) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(io.BytesIO(data)).to_pylist()
    return rows
