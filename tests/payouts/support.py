"""Payouts test support: an app on a database of its own (payouts' flows commit and call the
provider between units of work), users and admins by header, users with KYC and cash, the
step-up proof, and the queued payouts jobs run as the worker runs them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from sqlalchemy import text

from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import SessionDep, unit_of_work
from gullak.identity.models import KycRecord, User
from gullak.kit import tokens
from gullak.kit.security import Subject, current_subject
from gullak.ledger import service as ledger
from gullak.ledger.errors import AssetNotFound
from gullak.ledger.schemas import AssetIn, AssetKind, TransferIn
from gullak.payouts import flows, service
from gullak.payouts.providers.sandbox import Sandbox
from gullak.settings import Settings
from tests.helpers.http import guarded_client

SANDBOX_SECRET = "payouts-sandbox-test-secret-0123"
PERMISSIONS = "payouts.read,payouts.review,payouts.manage"


def make_sandbox(db: Database) -> Sandbox:
    return Sandbox(db, SANDBOX_SECRET)


def payouts_app(settings: Settings, db: Database) -> FastAPI:
    """Requests are from the user named by x-user, or the admin x-admin-id (default
    uuid(int=1)) with the permissions listed in x-admin."""
    app = create_app(settings, db)

    async def subject(request: Request, session: SessionDep) -> Subject:
        if "x-admin" in request.headers:
            admin = uuid.UUID(request.headers.get("x-admin-id", str(uuid.UUID(int=1))))
            return Subject("admin", admin, frozenset(request.headers["x-admin"].split(",")))
        return Subject("user", uuid.UUID(request.headers["x-user"]))

    app.dependency_overrides[current_subject] = subject
    return app


def as_user(user_id: uuid.UUID) -> dict[str, str]:
    return {"x-user": str(user_id)}


def as_admin(number: int = 1, permissions: str = PERMISSIONS) -> dict[str, str]:
    return {"x-admin": permissions, "x-admin-id": str(uuid.UUID(int=number))}


def step_up(settings: Settings, user_id: uuid.UUID, purpose: str = "transaction") -> str:
    return tokens.issue_access(settings.secret("secret_key"), subject=user_id, kind="step_up",
                               session_id=user_id, ttl=dt.timedelta(minutes=5),
                               extra={"purpose": purpose})


async def make_user(db: Database, name: str = "Rahul Kumar", *, kyc: bool = True,
                    pan: bool = True) -> uuid.UUID:
    """A user with a profile name and, if asked, a verified KYC under that name."""
    user_id = uuid.uuid4()
    async with unit_of_work(db) as session:
        session.add(User(id=user_id, phone=f"+9199{user_id.int % 10**8:08d}", name=name,
                         referral_code=user_id.hex[:10].upper()))
        await session.flush()
        if kyc:
            session.add(KycRecord(
                user_id=user_id, document_type="pan" if pan else "aadhaar", name=name,
                document_number="sealed", document_last4="234F" if pan else "9012",
                pan="sealed" if pan else None, pan_last4="234F" if pan else None,
                status="verified"))
    return user_id


async def fund(db: Database, user_id: uuid.UUID, amount: int, *, asset: str = "INR",
               owner: str = "user", purpose: str = "main") -> uuid.UUID:
    """Cash on the owner's account, from the platform's issuance account; its id."""
    async with unit_of_work(db) as session:
        try:
            await ledger.get_asset(session, asset)
        except AssetNotFound:
            await ledger.create_asset(session, AssetIn(code=asset, name=asset,
                                                       kind=AssetKind.cash, scale=2))
    async with unit_of_work(db) as session:
        source = await ledger.platform_account(session, asset, "issuance")
        from gullak.ledger.schemas import AccountIn, OwnerType

        target = await ledger.open_account(session, AccountIn(
            asset_code=asset, owner_type=OwnerType(owner), owner_id=user_id, purpose=purpose))
        await ledger.transfer(session, TransferIn(
            debit_account_id=source.id, credit_account_id=target.id, asset_code=asset,
            amount=amount, kind="cashback"))
        return target.id


async def balance(db: Database, account_id: uuid.UUID) -> tuple[int, int]:
    """(posted, held) of an account."""
    async with unit_of_work(db) as session:
        found = await ledger.balance(session, account_id)
        return found.posted, found.held


async def add_bank(client: httpx.AsyncClient, settings: Settings, user_id: uuid.UUID,
                   number: str = "50100012345678", holder: str = "Rahul Kumar"
                   ) -> dict[str, Any]:
    answer = await client.post("/v1/me/payout-methods", headers=as_user(user_id), json={
        "kind": "bank", "holder_name": holder, "account_number": number,
        "ifsc": "HDFC0001234", "verification_token": step_up(settings, user_id)})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def run_jobs(db: Database, settings: Settings) -> list[str]:
    """Run every queued payouts job as the worker would (one unit of work each), until none
    is left; the outcomes, in order."""
    outcomes: list[str] = []
    while True:
        async with db.engine.begin() as conn:
            jobs = (await conn.execute(text(
                "SELECT id, task_name, args FROM procrastinate_jobs WHERE status = 'todo'"
                " AND task_name IN ('payouts.disburse', 'payouts.process_event')"
                " ORDER BY id"))).all()
        if not jobs:
            return outcomes
        for job_id, task, args in jobs:
            if task == "payouts.disburse":
                outcomes.append(await flows.disburse(db, settings,
                                                     uuid.UUID(args["withdrawal_id"])))
            else:
                async with unit_of_work(db) as session:
                    outcomes.append(await service.process_event(
                        session, uuid.UUID(args["event_id"])))
            async with db.engine.begin() as conn:
                await conn.execute(text(
                    "UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :id"),
                    {"id": job_id})


async def count(db: Database, table: str, where: str = "true", **params: Any) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(text(f"SELECT count(*) FROM {table} WHERE {where}"),
                                     params) or 0)


# -- apps with other settings, UPI ids, withdrawals, platform balances ------------------------

@asynccontextmanager
async def client_for(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A checked client on an app with these settings (the sandbox fixture stays in place)."""
    async with guarded_client(payouts_app(settings, db)) as c:
        yield c


async def add_upi(client: httpx.AsyncClient, settings: Settings, user_id: uuid.UUID,
                  upi_id: str = "rahul.kumar@okicici", holder: str = "Rahul Kumar"
                  ) -> dict[str, Any]:
    answer = await client.post("/v1/me/payout-methods", headers=as_user(user_id), json={
        "kind": "upi", "holder_name": holder, "upi_id": upi_id,
        "verification_token": step_up(settings, user_id)})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def post_withdrawal(client: httpx.AsyncClient, user_id: uuid.UUID, method_id: str,
                          amount: Any, key: str | None = None, **fields: Any) -> httpx.Response:
    headers = {**as_user(user_id), **({"Idempotency-Key": key} if key else {})}
    return await client.post("/v1/me/withdrawals", headers=headers,
                             json={"amount": amount, "method_id": method_id, **fields})


async def withdrawn(client: httpx.AsyncClient, user_id: uuid.UUID, method_id: str,
                    amount: int, key: str | None = None) -> dict[str, Any]:
    """A withdrawal that must be accepted; its body."""
    answer = await post_withdrawal(client, user_id, method_id, amount, key)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def platform_posted(db: Database, purpose: str, asset: str = "INR") -> int:
    """The posted balance of one of the platform's accounts (opened if it was not)."""
    async with unit_of_work(db) as session:
        account = await ledger.platform_account(session, asset, purpose)
        return (await ledger.balance(session, account.id)).posted


async def pay(client: httpx.AsyncClient, db: Database, settings: Settings,
              withdrawal_id: str, admin: int = 2) -> list[str]:
    """Approve a withdrawal in review and run the jobs that pay it; their outcomes."""
    answer = await client.post(f"/v1/admin/withdrawals/{withdrawal_id}/approve",
                               headers=as_admin(admin), json={"reason": "checked and fine"})
    assert answer.status_code == 200, answer.text
    return await run_jobs(db, settings)


async def ready(client: httpx.AsyncClient, db: Database, settings: Settings, cash: int, *,
                number: str = "50100012345678", kyc: bool = True, pan: bool = True
                ) -> tuple[uuid.UUID, uuid.UUID, str]:
    """A user with `cash` and a usable bank account: (user, cash account, method id)."""
    user = await make_user(db, kyc=kyc, pan=pan)
    account = await fund(db, user, cash)
    return user, account, (await add_bank(client, settings, user, number=number))["id"]
