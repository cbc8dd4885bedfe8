"""Merchant settlements over HTTP: the back office runs them, reads them with their statements
and sets each merchant's schedule; merchant users read their own merchant's, and only those."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from gullak.db.uow import SessionDep
from gullak.kit import audit
from gullak.kit.errors import Forbidden
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require
from gullak.merchants import service as merchants
from gullak.payouts import settlements
from gullak.payouts.schemas import (
    SettlementDetail,
    SettlementPage,
    SettlementRunIn,
)
from gullak.settings import Settings

router = APIRouter(tags=["payouts"])
ADMIN = "/v1/admin"
PORTAL = "/v1/merchant/settlements"
Reader = Annotated[Subject, require("payouts.read")]
Settler = Annotated[Subject, require("payouts.settle")]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[Text | None, Query(max_length=100)]
Status = Literal["nothing_to_pay", "unpaid", "paying", "paid", "returned"]


class CsvResponse(Response):
    media_type = "text/csv"


CSV: dict[int | str, dict[str, Any]] = {
    200: {"description": "The statement: a header, then one row per line",
          "content": {"text/csv": {"schema": {"type": "string"}}}}}


@dataclass(frozen=True)
class Staff:
    subject: Subject
    merchant_id: uuid.UUID


async def _staff(subject: Subject = require("merchant.read")) -> Staff:  # type: ignore[assignment]
    """The current merchant user and the merchant it acts for (as the merchant portal does)."""
    merchant_id = merchants.merchant_of(subject)
    if subject.kind != "merchant_user" or merchant_id is None:
        raise Forbidden("This endpoint is for merchant users.")
    return Staff(subject, merchant_id)


StaffReader = Annotated[Staff, Depends(_staff)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _csv(statement: SettlementDetail) -> CsvResponse:
    name = f"{statement.code}.csv"
    return CsvResponse(settlements.statement_csv(statement),
                       headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- back office ------------------------------------------------------------------------------

@router.post(ADMIN + "/merchants/{merchant_id}/settlements", status_code=201,
             responses={200: {"model": SettlementDetail,
                              "description": "This period was settled before: that settlement"},
                        **errors(404)},
             summary="Settle a merchant's period and request its payout")
async def run(merchant_id: uuid.UUID, body: SettlementRunIn, request: Request,
              response: Response, session: SessionDep, actor: Settler) -> SettlementDetail:
    """The payout waits in the withdrawals' review queue, where whoever ran the settlement
    cannot approve it. A period settled before answers 200 with that settlement (its unpaid
    payout asked for again)."""
    out, new = await settlements.run_settlement(session, _settings(request), merchant_id,
                                                body.period_start, body.period_end, actor)
    await audit.record(session, actor, "payouts.settlement.run", "settlement", str(out.id),
                       after={**out.model_dump(mode="json", exclude={"lines"}), "new": new})
    if not new:
        response.status_code = 200
    return out


@router.get(ADMIN + "/settlements", summary="Settlements, newest first")
async def admin_list(session: SessionDep, _: Reader, merchant_id: uuid.UUID | None = None,
                     status: Status | None = None, cursor: Cursor = None,
                     limit: Limit = 50) -> SettlementPage:
    return await settlements.list_settlements(session, merchant_id=merchant_id, status=status,
                                              cursor=cursor, limit=limit)


@router.get(ADMIN + "/settlements/{settlement_id}", responses=errors(404),
            summary="A settlement with its statement (JSON)")
async def admin_get(settlement_id: uuid.UUID, session: SessionDep,
                    _: Reader) -> SettlementDetail:
    return await settlements.get_settlement(session, settlement_id)


@router.get(ADMIN + "/settlements/{settlement_id}/statement.csv", response_class=CsvResponse,
            responses={**CSV, **errors(404)}, summary="A settlement's statement as CSV")
async def admin_csv(settlement_id: uuid.UUID, session: SessionDep, _: Reader) -> CsvResponse:
    return _csv(await settlements.get_settlement(session, settlement_id))


# -- merchant portal --------------------------------------------------------------------------

@router.get(PORTAL, tags=["merchant"], summary="My merchant's settlements, newest first")
async def portal_list(me: StaffReader, session: SessionDep, cursor: Cursor = None,
                      limit: Limit = 50) -> SettlementPage:
    return await settlements.list_settlements(session, merchant_id=me.merchant_id,
                                              cursor=cursor, limit=limit)


@router.get(PORTAL + "/{settlement_id}", tags=["merchant"], responses=errors(404))
async def portal_get(settlement_id: uuid.UUID, me: StaffReader,
                     session: SessionDep) -> SettlementDetail:
    return await settlements.get_settlement(session, settlement_id, merchant_id=me.merchant_id)


@router.get(PORTAL + "/{settlement_id}/statement.csv", tags=["merchant"],
            response_class=CsvResponse, responses={**CSV, **errors(404)})
async def portal_csv(settlement_id: uuid.UUID, me: StaffReader,
                     session: SessionDep) -> CsvResponse:
    return _csv(await settlements.get_settlement(session, settlement_id,
                                                 merchant_id=me.merchant_id))
