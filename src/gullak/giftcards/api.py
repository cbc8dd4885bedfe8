"""Gift cards and vouchers HTTP API: the public balance check (/v1/gift-cards/check), users'
cards, claims and voucher redemptions (/v1/me/...), and the back office's batches, cards,
designs and vouchers (/v1/admin/...)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from gullak.db.uow import SessionDep
from gullak.giftcards import service
from gullak.giftcards.schemas import (
    BatchOut,
    CardIn,
    CardStatus,
    CheckOut,
    ClaimOut,
    DesignIn,
    DesignOut,
    GiftCardOut,
    GiftCardPage,
    MyGiftCardPage,
    RedeemVoucherIn,
    VoidIn,
    VoucherIn,
    VoucherOut,
    VoucherRedemptionOut,
)
from gullak.kit.errors import GullakError
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require, require_kind

router = APIRouter(tags=["gift cards"])
User = Annotated[Subject, require_kind("user")]
CanRead = Annotated[Subject, require("giftcards.read")]
CanManage = Annotated[Subject, require("giftcards.manage")]
Limit = Annotated[int, Query(ge=1, le=100)]
BatchName = Annotated[Text, Query(min_length=1, max_length=200)]
Partner = Annotated[Text | None, Query(min_length=1, max_length=100,
                                       description="The partner whose codes the file carries")]
CSV_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}}}}}


class UnsupportedBatchType(GullakError):
    status = 415
    code = "unsupported_media_type"
    title = "Send the batch as text/csv"


# -- anyone -----------------------------------------------------------------------------------

@router.post("/v1/gift-cards/check", responses=errors(403, 422, 429),
             summary="A gift card's balance, by code and PIN (rate limited)")
async def check(body: CardIn, request: Request, session: SessionDep) -> CheckOut:
    return await service.check(session, body.code, body.pin,
                               request.client.host if request.client else None)


# -- users ------------------------------------------------------------------------------------

@router.get("/v1/me/gift-cards", summary="Gift cards I bought or claimed, newest first")
async def my_cards(subject: User, session: SessionDep, cursor: Text | None = None,
                   limit: Limit = 20) -> MyGiftCardPage:
    return await service.my_cards(session, subject.id, cursor, limit)


@router.post("/v1/me/gift-cards/claim", responses=errors(403, 409, 422, 429),
             summary="Move a gift card's whole balance to my INR wallet")
async def claim(body: CardIn, subject: User, session: SessionDep) -> ClaimOut:
    return await service.claim(session, subject.id, body.code, body.pin)


@router.post("/v1/me/vouchers/redeem", status_code=201, responses=errors(404, 409, 422, 429),
             summary="Redeem a voucher code: its grant, once per user")
async def redeem_voucher(body: RedeemVoucherIn, subject: User,
                         session: SessionDep) -> VoucherRedemptionOut:
    return await service.redeem_voucher(session, subject.id, body.code)


# -- back office ------------------------------------------------------------------------------

@router.post("/v1/admin/gift-cards/batches", status_code=201, openapi_extra=CSV_BODY,
             responses=errors(415, 422),
             summary="Issue cards in bulk from a CSV file, with a report for every row")
async def import_batch(request: Request, actor: CanManage, session: SessionDep,
                       name: BatchName, partner: Partner = None,
                       validity_days: Annotated[int, Query(ge=1, le=3650)] = 365) -> BatchOut:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "text/csv":
        raise UnsupportedBatchType()
    return await service.import_batch(session, await request.body(), actor, name=name,
                                      partner=partner, validity_days=validity_days)


@router.get("/v1/admin/gift-cards", summary="Gift cards, newest first")
async def list_cards(session: SessionDep, _: CanRead, status: CardStatus | None = None,
                     batch_id: uuid.UUID | None = None, owner_id: uuid.UUID | None = None,
                     order_id: uuid.UUID | None = None, cursor: Text | None = None,
                     limit: Limit = 20) -> GiftCardPage:
    return await service.list_cards(session, status=status, batch_id=batch_id,
                                    owner_id=owner_id, order_id=order_id, cursor=cursor,
                                    limit=limit)


@router.get("/v1/admin/gift-cards/{card_id}", responses=errors(404))
async def get_card(card_id: uuid.UUID, session: SessionDep, _: CanRead) -> GiftCardOut:
    return await service.get_card(session, card_id)


@router.post("/v1/admin/gift-cards/{card_id}/void", responses=errors(404, 409, 422),
             summary="Close a card; its balance to breakage or back to its funding")
async def void(card_id: uuid.UUID, body: VoidIn, actor: CanManage,
               session: SessionDep) -> GiftCardOut:
    return await service.void(session, card_id, actor, body.reason, body.to)


@router.post("/v1/admin/gift-card-designs", status_code=201, responses=errors(422),
             summary="Sell a catalog product as a gift card")
async def create_design(body: DesignIn, actor: CanManage, session: SessionDep) -> DesignOut:
    return await service.create_design(session, body, actor)


@router.get("/v1/admin/gift-card-designs")
async def list_designs(session: SessionDep, _: CanRead) -> list[DesignOut]:
    return await service.list_designs(session)


@router.post("/v1/admin/vouchers", status_code=201, responses=errors(404, 409, 422))
async def create_voucher(body: VoucherIn, actor: CanManage, session: SessionDep) -> VoucherOut:
    return await service.create_voucher(session, body, actor)


@router.get("/v1/admin/vouchers")
async def list_vouchers(session: SessionDep, _: CanRead) -> list[VoucherOut]:
    return await service.list_vouchers(session)

