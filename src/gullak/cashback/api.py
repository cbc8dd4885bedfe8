"""Cashback HTTP API: networks' postbacks (/v1/cashback/postbacks/{network}), users' cashback
(/v1/me/cashback) and the back office's networks, reports, review and confirmations
(/v1/admin/cashback/...)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from gullak.cashback import jobs, service
from gullak.cashback.schemas import (
    AssignIn,
    CashbackOut,
    CashbackPage,
    CashbackStatus,
    ConfirmIn,
    ConfirmOut,
    DismissIn,
    EventPage,
    MyCashbackPage,
    NetworkCode,
    NetworkIn,
    NetworkOut,
    NetworkPatch,
    NetworkSecretOut,
    PostbackOut,
    ReportOut,
    SummaryOut,
)
from gullak.db.uow import SessionDep
from gullak.kit import express
from gullak.kit.errors import GullakError
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require, require_kind
from gullak.worker import enqueue

router = APIRouter(tags=["cashback"])
User = Annotated[Subject, require_kind("user")]
CanRead = Annotated[Subject, require("cashback.read")]
CanManage = Annotated[Subject, require("cashback.manage")]
Limit = Annotated[int, Query(ge=1, le=100)]
Code = Annotated[NetworkCode, Path()]
Outcome = Literal["applied", "duplicate", "ignored", "unmatched", "invalid"]
CSV_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}}}}}
POSTBACK_BODY = {"requestBody": {"required": False, "content": {
    "application/json": {"schema": {"type": "object"}}}}}


class UnsupportedReportType(GullakError):
    status = 415
    code = "unsupported_media_type"
    title = "Send the report as text/csv"


# -- networks ---------------------------------------------------------------------------------

@router.post("/v1/cashback/postbacks/{network}", openapi_extra=POSTBACK_BODY,
             responses=errors(401, 404, 409, 422),
             summary="A network's postback: verified, stored as received, applied once")
async def postback(network: Code, request: Request, session: SessionDep) -> PostbackOut:
    """Fields in a JSON object body or in the query. HMAC networks sign the raw body;
    token networks send their token in the query parameter or header they were given."""
    return await service.receive_postback(session, network, request.headers,
                                          list(request.query_params.multi_items()),
                                          await request.body())


# -- users ------------------------------------------------------------------------------------

@router.get("/v1/me/cashback", summary="My cashback, newest first")
async def my_cashback(subject: User, session: SessionDep,
                      status: Literal["pending", "confirmed", "rejected"] | None = None,
                      cursor: Text | None = None, limit: Limit = 20) -> MyCashbackPage:
    return await service.my_cashback(session, subject.id, status=status, cursor=cursor,
                                     limit=limit)


@router.get("/v1/me/cashback/summary", summary="My cashback totals: pending, confirmed, rejected")
@express.lane
async def my_summary(subject: User, session: SessionDep) -> SummaryOut:
    return await service.my_summary(session, subject.id)


# -- back office ------------------------------------------------------------------------------

@router.post("/v1/admin/cashback/networks", status_code=201, responses=errors(409, 422),
             summary="Add an affiliate network; its secret is shown in this answer only")
async def create_network(body: NetworkIn, actor: CanManage,
                         session: SessionDep) -> NetworkSecretOut:
    return await service.create_network(session, body, actor)


@router.get("/v1/admin/cashback/networks")
async def list_networks(session: SessionDep, _: CanRead) -> list[NetworkOut]:
    return await service.list_networks(session)


@router.get("/v1/admin/cashback/networks/{network}", responses=errors(404))
async def get_network(network: Code, session: SessionDep, _: CanRead) -> NetworkOut:
    return await service.get_network(session, network)


@router.patch("/v1/admin/cashback/networks/{network}", responses=errors(404, 422))
async def update_network(network: Code, body: NetworkPatch, actor: CanManage,
                         session: SessionDep) -> NetworkOut:
    return await service.update_network(session, network, body, actor)


@router.post("/v1/admin/cashback/networks/{network}/secret", responses=errors(404),
             summary="A new secret for the network, shown in this answer only")
async def rotate_secret(network: Code, actor: CanManage,
                        session: SessionDep) -> NetworkSecretOut:
    return await service.rotate_secret(session, network, actor)


@router.post("/v1/admin/cashback/networks/{network}/reports", openapi_extra=CSV_BODY,
             responses=errors(404, 415, 422),
             summary="A network's report file (CSV), applied line by line, with a report")
async def import_report(network: Code, request: Request, actor: CanManage,
                        session: SessionDep) -> ReportOut:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "text/csv":
        raise UnsupportedReportType()
    return await service.import_report(session, network, await request.body(), actor)


@router.get("/v1/admin/cashback", responses=errors(404, 422), summary="Cashbacks, newest first")
async def list_cashbacks(session: SessionDep, _: CanRead, status: CashbackStatus | None = None,
                         network: NetworkCode | None = None, user_id: uuid.UUID | None = None,
                         merchant_id: uuid.UUID | None = None, cursor: Text | None = None,
                         limit: Limit = 20) -> CashbackPage:
    return await service.list_cashbacks(session, status=status, network=network,
                                        user_id=user_id, merchant_id=merchant_id,
                                        cursor=cursor, limit=limit)


@router.get("/v1/admin/cashback/events", responses=errors(404, 422),
            summary="Postbacks and report lines as received")
async def list_events(session: SessionDep, _: CanRead, network: NetworkCode | None = None,
                      outcome: Outcome | None = None, cashback_id: uuid.UUID | None = None,
                      cursor: Text | None = None, limit: Limit = 20) -> EventPage:
    return await service.list_events(session, network=network, outcome=outcome,
                                     cashback_id=cashback_id, cursor=cursor, limit=limit)


@router.get("/v1/admin/cashback/{cashback_id}", responses=errors(404))
async def get_cashback(cashback_id: uuid.UUID, session: SessionDep,
                       _: CanRead) -> CashbackOut:
    return await service.get_cashback(session, cashback_id)


@router.post("/v1/admin/cashback/{cashback_id}/assign", responses=errors(404, 422),
             summary="Give a conversion kept for review its click or user")
async def assign(cashback_id: uuid.UUID, body: AssignIn, actor: CanManage,
                 session: SessionDep) -> CashbackOut:
    return await service.assign(session, cashback_id, body, actor)


@router.post("/v1/admin/cashback/{cashback_id}/dismiss", responses=errors(404, 422),
             summary="Close a conversion kept for review without paying anyone")
async def dismiss(cashback_id: uuid.UUID, body: DismissIn, actor: CanManage,
                  session: SessionDep) -> CashbackOut:
    return await service.dismiss(session, cashback_id, body.reason, actor)


@router.post("/v1/admin/cashback/confirm", responses=errors(404, 422),
             summary="Confirm pending cashbacks in bulk; a job posts their transfers")
async def confirm(body: ConfirmIn, actor: CanManage, session: SessionDep) -> ConfirmOut:
    found = await service.confirm(session, body, actor)
    if found.confirmed:
        await enqueue(session, jobs.settle_confirmed, timestamp=0)
    return found
