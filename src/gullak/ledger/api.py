"""Ledger HTTP API for service clients and admins: /v1/ledger/..."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query
from pydantic import Field, StringConstraints

from gullak.db.routing import ReadSessionDep
from gullak.db.uow import SessionDep, autocommit
from gullak.kit import audit, express
from gullak.kit.schemas import ONE_LINE, Text
from gullak.kit.security import Subject, require
from gullak.ledger import service
from gullak.ledger.schemas import (
    AccountIn,
    AccountOut,
    Amount,
    AssetIn,
    AssetOut,
    BalanceOut,
    CaptureIn,
    CaptureOut,
    HistoryPage,
    HoldIn,
    HoldOut,
    IdempotencyKey,
    In,
    Out,
    ReversalIn,
    TransactionOut,
    TransferIn,
    TransferOut,
)

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])
Reader = Annotated[Subject, require("ledger.read")]
Writer = Annotated[Subject, require("ledger.write")]
Admin = Annotated[Subject, require("ledger.admin")]
KeyHeader = Annotated[IdempotencyKey, Header(alias="Idempotency-Key",
                      description="Same key and body: the original result; other body: 409.")]


async def audited(session: SessionDep, subject: Subject, action: str, entity_type: str,
                  entity_id: object, after: In | Out, before: In | Out | None = None) -> None:
    """Admin changes and holds are in the audit log; a transfer (a batch's, a reversal's, a
    capture's) records its actor on its own row instead."""
    await audit.record(session, subject, action, entity_type, str(entity_id),
                       before=before.model_dump(mode="json") if before else None,
                       after=after.model_dump(mode="json"))


def scoped(subject: Subject, key: str) -> str:
    """Keys are per subject, so two clients cannot collide on the same key."""
    return f"{subject.kind}:{subject.id}:{key}"


class BatchIn(In):
    transfers: Annotated[list[TransferIn], Field(min_length=1, max_length=5000)]


class FreezeIn(In):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500), ONE_LINE]


class LimitsIn(In):
    daily_limit: Amount | None = None
    monthly_limit: Amount | None = None


class BalanceAtOut(Out):
    account_id: uuid.UUID
    at: dt.datetime
    balance: int


@router.get("/assets")
@express.lane
async def list_assets(session: ReadSessionDep, _: Reader) -> list[AssetOut]:
    return await service.list_assets(session)


@router.post("/assets", status_code=201)
async def create_asset(body: AssetIn, session: SessionDep, subject: Admin) -> AssetOut:
    out = await service.create_asset(session, body)
    await audited(session, subject, "ledger.asset.create", "ledger_asset", out.code, out)
    return out


@router.get("/assets/{code}")
async def get_asset(code: Text, session: ReadSessionDep, _: Reader) -> AssetOut:
    return await service.get_asset(session, code)


@router.post("/accounts", status_code=201, summary="Open an account (or return the existing one)")
async def open_account(body: AccountIn, session: SessionDep, subject: Writer) -> AccountOut:
    out = await service.open_account(session, body)
    await audited(session, subject, "ledger.account.open", "ledger_account", out.id, out)
    return out


@router.get("/accounts/{account_id}")
@express.lane
async def get_account(account_id: uuid.UUID, session: ReadSessionDep, _: Reader) -> AccountOut:
    return await service.get_account(session, account_id)


@router.get("/accounts/{account_id}/balance")
@express.lane
async def get_balance(account_id: uuid.UUID, session: ReadSessionDep, _: Reader) -> BalanceOut:
    return await service.balance(session, account_id)


@router.get("/accounts/{account_id}/balance-at")
async def get_balance_at(account_id: uuid.UUID, at: dt.datetime, session: ReadSessionDep,
                         _: Reader) -> BalanceAtOut:
    return BalanceAtOut(account_id=account_id, at=at,
                        balance=await service.balance_at(session, account_id, at))


@router.get("/accounts/{account_id}/history")
@express.lane
async def get_history(
    account_id: uuid.UUID,
    session: ReadSessionDep,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[Text | None, Query(pattern=r"^\d{1,19}$")] = None,
    kind: Text | None = None,
    reference_type: Text | None = None,
    reference_id: Text | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> HistoryPage:
    return await service.history(session, account_id, limit=limit, cursor=cursor, kind=kind,
                                 reference_type=reference_type, reference_id=reference_id,
                                 since=since, until=until)


@router.post("/accounts/{account_id}/freeze")
async def freeze(account_id: uuid.UUID, body: FreezeIn, session: SessionDep,
                 subject: Admin) -> AccountOut:
    before = await service.get_account(session, account_id)
    out = await service.freeze(session, account_id, body.reason)
    await audited(session, subject, "ledger.account.freeze", "ledger_account", account_id, out,
                  before)
    return out


@router.post("/accounts/{account_id}/unfreeze")
async def unfreeze(account_id: uuid.UUID, session: SessionDep, subject: Admin) -> AccountOut:
    before = await service.get_account(session, account_id)
    out = await service.unfreeze(session, account_id)
    await audited(session, subject, "ledger.account.unfreeze", "ledger_account", account_id,
                  out, before)
    return out


@router.put("/accounts/{account_id}/limits")
async def set_limits(account_id: uuid.UUID, body: LimitsIn, session: SessionDep,
                     subject: Admin) -> AccountOut:
    before = await service.get_account(session, account_id)
    out = await service.set_limits(session, account_id, daily=body.daily_limit,
                                   monthly=body.monthly_limit)
    await audited(session, subject, "ledger.account.limits", "ledger_account", account_id, out,
                  before)
    return out


@router.post("/transfers", status_code=201)
@express.lane  # one statement: a refusal leaves nothing for the ordinary way to undo
async def create_transfer(body: TransferIn, key: KeyHeader, session: SessionDep,
                          subject: Writer) -> TransferOut:
    # The transfer row records who made it (actor_type, actor_id): no audit row beside it, and
    # the command is one statement, so it needs no transaction around it.
    await autocommit(session)
    return await service.transfer(session, body, idempotency_key=scoped(subject, key),
                                  actor=subject)


@router.post("/transactions", status_code=201, summary="Post several transfers, all or none")
async def create_transaction(body: BatchIn, key: KeyHeader, session: SessionDep,
                             subject: Writer) -> TransactionOut:
    await autocommit(session)  # one statement, as a transfer
    return await service.post(session, body.transfers, idempotency_key=scoped(subject, key),
                              actor=subject)


@router.get("/transfers/{transfer_id}")
@express.lane
async def get_transfer(transfer_id: uuid.UUID, session: ReadSessionDep, _: Reader) -> TransferOut:
    return await service.get_transfer(session, transfer_id)


@router.post("/transfers/{transfer_id}/reversals", status_code=201)
async def reverse(transfer_id: uuid.UUID, body: ReversalIn, key: KeyHeader,
                  session: SessionDep, subject: Writer) -> TransferOut:
    await autocommit(session)  # one statement, as a transfer
    return await service.reverse(session, transfer_id, reason=body.reason, amount=body.amount,
                                 idempotency_key=scoped(subject, key), actor=subject)


@router.post("/holds", status_code=201)
async def place_hold(body: HoldIn, key: KeyHeader, session: SessionDep,
                     subject: Writer) -> HoldOut:
    out = await service.place_hold(session, body, idempotency_key=scoped(subject, key))
    await audited(session, subject, "ledger.hold", "ledger_hold", out.id, out)
    return out


@router.get("/holds/{hold_id}")
@express.lane
async def get_hold(hold_id: uuid.UUID, session: ReadSessionDep, _: Reader) -> HoldOut:
    return await service.get_hold(session, hold_id)


@router.post("/holds/{hold_id}/capture")
async def capture(hold_id: uuid.UUID, body: CaptureIn, key: KeyHeader, session: SessionDep,
                  subject: Writer) -> CaptureOut:
    await autocommit(session)  # one statement, as a transfer
    return await service.capture(session, hold_id, body, idempotency_key=scoped(subject, key),
                                 actor=subject)


@router.post("/holds/{hold_id}/release")
async def release(hold_id: uuid.UUID, key: KeyHeader, session: SessionDep,
                  subject: Writer) -> HoldOut:
    out = await service.release(session, hold_id, idempotency_key=scoped(subject, key))
    await audited(session, subject, "ledger.release", "ledger_hold", hold_id, out)
    return out
