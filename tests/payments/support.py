"""Payments test support: an app on a database of its own (payments' flows commit and call
the gateway between units of work), subjects by header, the sandbox with a known secret, and
the job queue's payment events run as the worker runs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import text

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import SessionDep, unit_of_work
from gullak.kit.security import Subject, current_subject
from gullak.ledger import service as ledger
from gullak.ledger.errors import AssetNotFound
from gullak.payments import service
from gullak.payments.gateways.sandbox import SIGNATURE, Sandbox
from gullak.settings import Settings

SANDBOX_SECRET = "sandbox-test-secret-0123456789"
PUBLIC_URL = "http://test"


def make_sandbox(db: Database) -> Sandbox:
    return Sandbox(db, SANDBOX_SECRET, public_url=PUBLIC_URL)


def payments_app(settings: Settings, db: Database) -> FastAPI:
    """Requests are from the user named by x-user, or an admin with the permissions listed
    in x-admin."""
    app = create_app(settings, db)

    async def subject(request: Request, session: SessionDep) -> Subject:
        if "x-admin" in request.headers:
            return Subject("admin", uuid.UUID(int=1),
                           frozenset(request.headers["x-admin"].split(",")))
        return Subject("user", uuid.UUID(request.headers["x-user"]))

    app.dependency_overrides[current_subject] = subject
    return app


def as_user(user_id: uuid.UUID) -> dict[str, str]:
    return {"x-user": str(user_id)}


ADMIN = {"x-admin": "payments.read,payments.refund"}


def signed(body: dict[str, Any], secret: str = SANDBOX_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {SIGNATURE: hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest(),
                 "content-type": "application/json"}


async def run_payment_jobs(db: Database) -> list[str]:
    """Run every queued payments.process_event job as the worker would (its task's body, one
    unit of work each), marking it done; the outcomes, in order."""
    outcomes = []
    async with db.engine.begin() as conn:
        jobs = (await conn.execute(text(
            "SELECT id, args FROM procrastinate_jobs WHERE task_name = 'payments.process_event'"
            " AND status = 'todo' ORDER BY id"))).all()
    for job_id, args in jobs:
        async with unit_of_work(db) as session:
            outcomes.append(await service.process_event(session, uuid.UUID(args["event_id"])))
            await session.execute(text(
                "UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :id"),
                {"id": job_id})
    return outcomes


async def count(db: Database, table: str, where: str = "true", **params: Any) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(text(f"SELECT count(*) FROM {table} WHERE {where}"),
                                     params) or 0)


async def wallet(db: Database, user_id: uuid.UUID) -> int:
    async with unit_of_work(db) as session:
        try:
            await ledger.get_asset(session, "INR")
        except AssetNotFound:
            return 0
        account = await ledger.user_account(session, user_id, "INR")
        return (await ledger.balance(session, account.id)).posted
