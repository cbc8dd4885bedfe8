"""Payouts HTTP API: users' payout methods and withdrawals, the back office's review queue,
merchants' payout methods and bank channels, providers' callbacks, and the sandbox's
back office (settling a payout it left processing)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response

from gullak.db.engine import Database
from gullak.db.routing import ReadSessionDep
from gullak.db.uow import SessionDep
from gullak.kit import audit
from gullak.kit.ids import uuid7
from gullak.kit.openapi import MEDIA_TYPE, REF, errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require, require_kind
from gullak.payouts import errors as payout_errors
from gullak.payouts import flows, jobs, providers, service
from gullak.payouts.schemas import (
    CallbackOut,
    ChannelIn,
    ChannelOut,
    DecisionIn,
    MethodIn,
    MethodOut,
    QuoteIn,
    QuoteOut,
    WithdrawalIn,
    WithdrawalOut,
    WithdrawalPage,
    WithdrawalPatch,
)
from gullak.settings import Settings
from gullak.worker import enqueue

router = APIRouter(tags=["payouts"])
PROVIDER_ERROR: dict[int | str, dict[str, Any]] = {502: {
    "description": "Bad gateway. Codes: `payout_provider_error`.",
    "content": {MEDIA_TYPE: {"schema": {"$ref": REF}}}}}
User = Annotated[Subject, require_kind("user")]
Limit = Annotated[int, Query(ge=1, le=200)]
Key = Annotated[Text | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]
ProviderName = Annotated[str, Path(max_length=40)]
ChannelCode = Annotated[str, Path(pattern=r"^[A-Z][A-Z0-9_]{1,39}$")]
Status = Literal["review", "approved", "processing", "paid", "failed", "rejected", "cancelled"]


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get("/v1/payout-channels", summary="The bank and e-wallet channels payouts reach")
async def channels(session: ReadSessionDep) -> list[ChannelOut]:
    return await service.list_channels(session)


@router.get("/v1/me/payout-methods", summary="My payout methods")
async def my_methods(user: User, session: SessionDep) -> list[MethodOut]:
    return await service.list_methods(session, "user", user.id)


@router.post("/v1/me/payout-methods", status_code=201, responses=errors(403, 409),
             summary="Add a bank account, UPI id or bank channel account")
async def add_method(body: MethodIn, user: User, request: Request) -> MethodOut:
    """Needs a step-up confirmation (`verification_token` from POST /v1/me/otp/verify with
    purpose `transaction`). The account is verified at once by a penny drop, and its bank's
    name must match the KYC name; a verified method receives money only after the
    cooling-off (`usable_from`)."""
    return await flows.add_user_method(_db(request), _settings(request), user.id, body)


@router.post("/v1/me/payout-methods/{method_id}/verify", responses=PROVIDER_ERROR,
             summary="Ask again for the verification of a pending method")
async def verify_method(method_id: uuid.UUID, user: User, request: Request,
                        session: SessionDep) -> MethodOut:
    await service.owned(session, "user", user.id, method_id)
    return await flows.verify_method(_db(request), _settings(request), method_id)


@router.delete("/v1/me/payout-methods/{method_id}", status_code=204, responses=errors(404))
async def remove_method(method_id: uuid.UUID, user: User, session: SessionDep) -> Response:
    await service.remove_method(session, "user", user.id, method_id)
    return Response(status_code=204)


@router.post("/v1/me/withdrawals/quote", summary="What a withdrawal costs, before asking")
async def quote(body: QuoteIn, user: User, request: Request, session: SessionDep) -> QuoteOut:
    return await service.quote(session, _settings(request), "user", user.id, body)


@router.post("/v1/me/withdrawals", status_code=201, responses=errors(409),
             summary="Withdraw cash to a verified payout method")
async def withdraw(body: WithdrawalIn, user: User, request: Request, session: SessionDep,
                   key: Key = None) -> WithdrawalOut:
    """The amount is held at once. Small withdrawals of trusted users are paid without
    review; the others wait for the back office. The same Idempotency-Key gives the same
    withdrawal."""
    out, due = await service.request(session, _settings(request), "user", user.id, body,
                                     key or str(uuid7()), user)
    if due:
        await enqueue(session, jobs.disburse, withdrawal_id=str(out.id))
    return out


@router.get("/v1/me/withdrawals", summary="My withdrawals, newest first")
async def my_withdrawals(user: User, session: SessionDep, cursor: uuid.UUID | None = None,
                         limit: Limit = 50) -> WithdrawalPage:
    return await service.list_withdrawals(session, owner=("user", user.id), cursor=cursor,
                                          limit=limit)


@router.get("/v1/me/withdrawals/{withdrawal_id}", responses=errors(404))
async def my_withdrawal(withdrawal_id: uuid.UUID, user: User,
                        session: SessionDep) -> WithdrawalOut:
    return await service.get_withdrawal(session, withdrawal_id, owner=("user", user.id))


@router.post("/v1/me/withdrawals/{withdrawal_id}/cancel", responses=errors(404, 409),
             summary="Cancel a withdrawal still in review: the amount is released")
async def cancel(withdrawal_id: uuid.UUID, user: User, session: SessionDep) -> WithdrawalOut:
    return await service.cancel(session, "user", user.id, withdrawal_id)


@router.get("/v1/admin/withdrawals", summary="Withdrawals; in review, oldest first")
async def admin_list(session: SessionDep, _: Annotated[Subject, require("payouts.read")],
                     status: Status | None = None, cursor: uuid.UUID | None = None,
                     limit: Limit = 50) -> WithdrawalPage:
    return await service.list_withdrawals(session, status=status, cursor=cursor, limit=limit)


@router.get("/v1/admin/withdrawals/{withdrawal_id}", responses=errors(404))
async def admin_get(withdrawal_id: uuid.UUID, session: SessionDep,
                    _: Annotated[Subject, require("payouts.read")]) -> WithdrawalOut:
    return await service.get_withdrawal(session, withdrawal_id)


async def _decide(session: SessionDep, withdrawal_id: uuid.UUID, actor: Subject,
                  approve: bool, reason: str) -> WithdrawalOut:
    before, after, due = await service.decide(session, withdrawal_id, actor, approve, reason)
    await audit.record(session, actor, f"payouts.withdrawal.{'approve' if approve else 'reject'}",
                       "withdrawal", str(withdrawal_id),
                       before=before.model_dump(mode="json"),
                       after={**after.model_dump(mode="json"), "decision_reason": reason})
    if due:
        await enqueue(session, jobs.disburse, withdrawal_id=str(withdrawal_id))
    return after


@router.post("/v1/admin/withdrawals/{withdrawal_id}/approve", responses=errors(403, 404, 409),
             summary="Approve (the maker of a request, or its last editor, cannot)")
async def approve(withdrawal_id: uuid.UUID, body: DecisionIn, session: SessionDep,
                  actor: Annotated[Subject, require("payouts.review")]) -> WithdrawalOut:
    return await _decide(session, withdrawal_id, actor, True, body.reason)


@router.post("/v1/admin/withdrawals/{withdrawal_id}/reject", responses=errors(403, 404, 409),
             summary="Reject with a reason shown to the owner: the amount is released")
async def reject(withdrawal_id: uuid.UUID, body: DecisionIn, session: SessionDep,
                 actor: Annotated[Subject, require("payouts.review")]) -> WithdrawalOut:
    return await _decide(session, withdrawal_id, actor, False, body.reason)


@router.patch("/v1/admin/withdrawals/{withdrawal_id}", responses=errors(404, 409),
              summary="Lower the amount or change the method of a request in review")
async def admin_edit(withdrawal_id: uuid.UUID, body: WithdrawalPatch, request: Request,
                     session: SessionDep,
                     actor: Annotated[Subject, require("payouts.manage")]) -> WithdrawalOut:
    before, after = await service.edit(session, _settings(request), withdrawal_id, actor, body)
    await audit.record(session, actor, "payouts.withdrawal.edit", "withdrawal",
                       str(withdrawal_id), before=before.model_dump(mode="json"),
                       after=after.model_dump(mode="json"))
    return after


@router.get("/v1/admin/bank-channels", summary="Every bank channel, the disabled too")
async def admin_channels(session: ReadSessionDep,
                         _: Annotated[Subject, require("payouts.read")]) -> list[ChannelOut]:
    return await service.list_channels(session, enabled_only=False)


@router.put("/v1/admin/bank-channels/{code}", summary="Add or change a bank channel")
async def put_channel(code: ChannelCode, body: ChannelIn, session: SessionDep,
                      actor: Annotated[Subject, require("payouts.manage")]) -> ChannelOut:
    if body.code != code:
        raise payout_errors.ChannelNotFound("The code in the path and the body differ.",
                                            code="bank_channel_code_mismatch", field="code")
    before, after = await service.put_channel(session, body)
    await audit.record(session, actor, "payouts.channel.put", "bank_channel", code,
                       before=None if before is None else before.model_dump(mode="json"),
                       after=after.model_dump(mode="json"))
    return after


@router.post("/v1/payouts/callbacks/{provider}", responses=errors(401),
             summary="A payouts provider's callback")
async def callback(provider: ProviderName, request: Request,
                   session: SessionDep) -> CallbackOut:
    """Verified before anything else (401 invalid_signature), stored raw, processed once by
    a job whatever the number of copies delivered."""
    found = providers.get(provider, _db(request), _settings(request))
    stored = await service.receive_callback(session, found, request.headers,
                                            await request.body())
    if stored is not None:
        await enqueue(session, jobs.process_event, event_id=str(stored))
    return CallbackOut(received=True, duplicate=stored is None)


@router.post("/v1/admin/payouts/sandbox/{ref}", responses=errors(404),
             summary="Settle a sandbox payout as its provider would (sandbox only)")
async def sandbox_settle(ref: Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9_-]+$")],
                         outcome: Annotated[Literal["succeeded", "failed", "reversed"], Query()],
                         request: Request, session: SessionDep,
                         _: Annotated[Subject, require("payouts.manage")]) -> CallbackOut:
    """The sandbox moves the payout and sends the signed callback a provider would, through
    the same intake as the callback endpoint."""
    sandbox = providers.sandbox(_db(request), _settings(request))
    sent = await sandbox.settle(ref, outcome)
    if sent is None:
        raise payout_errors.WithdrawalNotFound("No sandbox payout that can move so.",
                                               code="sandbox_payout_not_found", field="ref")
    headers, raw = sent
    stored = await service.receive_callback(session, sandbox, headers, raw)
    if stored is not None:
        await enqueue(session, jobs.process_event, event_id=str(stored))
    return CallbackOut(received=True, duplicate=stored is None)
