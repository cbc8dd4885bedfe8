"""Orders HTTP API: users place, read and cancel their orders (/v1/orders); merchant users
fulfil their merchant's (/v1/merchant/orders); the back office reads, moves and refunds any
(/v1/admin/orders).

A gateway part is recorded as a payment in the order's unit; the client starts it through
the payments domain with the `payment_id` of the order's gateway tender (no provider is
called while the order's transaction is open)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from gullak.db.uow import SessionDep
from gullak.kit import express
from gullak.kit.errors import Forbidden
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require, require_kind
from gullak.merchants import service as merchants
from gullak.orders import flows, service
from gullak.orders.pricing import Policy
from gullak.orders.schemas import (
    AdvanceIn,
    CancelIn,
    OrderIn,
    OrderOut,
    OrderPage,
    RefundIn,
    RefundOut,
    Status,
)

router = APIRouter(tags=["orders"])
User = Annotated[Subject, require_kind("user")]
MerchantUser = Annotated[Subject, require_kind("merchant_user")]
Anyone = Annotated[Subject, require_kind("user", "merchant_user", "admin", "service")]
Limit = Annotated[int, Query(ge=1, le=100)]
IdempotencyKey = Annotated[Text | None, Header(alias="Idempotency-Key", min_length=1,
                                               max_length=200)]
MERCHANT_READ = "merchant.orders.read"
MERCHANT_FULFIL = "merchant.orders.fulfil"  # staff and up
MERCHANT_REFUND = "merchant.orders.refund"  # managers and owners


def _merchant(subject: Subject, permission: str | None = None) -> uuid.UUID:
    merchant_id = merchants.merchant_of(subject)
    if merchant_id is None:
        raise Forbidden("Only a merchant's own users see its orders.",
                        code="not_a_merchant_user")
    if permission is not None and not subject.can(permission):
        raise Forbidden(f"Needs the permission {permission}.", permission=permission)
    return merchant_id


# -- users ------------------------------------------------------------------------------------

@router.post("/v1/orders", status_code=201, summary="Place an order, priced by the server")
async def place(body: OrderIn, subject: User, session: SessionDep, request: Request,
                response: Response, idempotency_key: IdempotencyKey = None) -> OrderOut:
    out, created = await flows.place_order(session, subject, body,
                                           Policy.of(request.app.state.settings),
                                           idempotency_key=idempotency_key)
    if not created:
        response.status_code = 200
    return out


@router.get("/v1/orders", summary="My orders, newest first")
@express.lane
async def mine(subject: User, session: SessionDep, status: Status | None = None,
               cursor: Text | None = None, limit: Limit = 20) -> OrderPage:
    return await service.list_orders(session, user_id=subject.id, status=status,
                                     cursor=cursor, limit=limit)


@router.get("/v1/orders/{order_id}", summary="An order with its items, tenders and history")
async def get(order_id: uuid.UUID, subject: Anyone, session: SessionDep) -> OrderOut:
    return await service.get_order(session, order_id, subject)


@router.post("/v1/orders/{order_id}/cancel", summary="Call off my order before it leaves")
async def cancel(order_id: uuid.UUID, subject: User, session: SessionDep,
                 body: CancelIn | None = None) -> OrderOut:
    return await flows.cancel(session, order_id, subject, body.reason if body else None)


# -- merchants --------------------------------------------------------------------------------

@router.get("/v1/merchant/orders", summary="The merchant's orders, newest first")
async def merchant_list(subject: MerchantUser, session: SessionDep,
                        status: Status | None = None, cursor: Text | None = None,
                        limit: Limit = 20) -> OrderPage:
    return await service.list_orders(session, merchant_id=_merchant(subject, MERCHANT_READ),
                                     status=status, cursor=cursor, limit=limit)


@router.post("/v1/merchant/orders/{order_id}/advance",
             summary="Confirm, make ready, ship, deliver, complete or cancel an order")
async def merchant_advance(order_id: uuid.UUID, body: AdvanceIn, subject: MerchantUser,
                           session: SessionDep) -> OrderOut:
    _merchant(subject, MERCHANT_FULFIL)
    return await flows.advance(session, order_id, body.action, subject, body.reason)


@router.post("/v1/merchant/orders/{order_id}/refunds", status_code=201,
             summary="Refund all or part of one of the merchant's completed orders")
async def merchant_refund(order_id: uuid.UUID, body: RefundIn, subject: MerchantUser,
                          session: SessionDep) -> RefundOut:
    _merchant(subject, MERCHANT_REFUND)
    return await flows.refund(session, order_id, body.amount, body.reason, subject,
                              gateway_to_wallet=body.gateway_to_wallet)


# -- back office ------------------------------------------------------------------------------

@router.get("/v1/admin/orders")
async def admin_list(session: SessionDep, _: Annotated[Subject, require("orders.read")],
                     user_id: uuid.UUID | None = None, merchant_id: uuid.UUID | None = None,
                     status: Status | None = None, cursor: Text | None = None,
                     limit: Limit = 20) -> OrderPage:
    return await service.list_orders(session, user_id=user_id, merchant_id=merchant_id,
                                     status=status, cursor=cursor, limit=limit)


@router.post("/v1/admin/orders/{order_id}/advance")
async def admin_advance(order_id: uuid.UUID, body: AdvanceIn, session: SessionDep,
                        actor: Annotated[Subject, require("orders.manage")]) -> OrderOut:
    return await flows.advance(session, order_id, body.action, actor, body.reason)


@router.post("/v1/admin/orders/{order_id}/refunds", status_code=201,
             summary="Refund all or part of a completed order over its tenders")
async def admin_refund(order_id: uuid.UUID, body: RefundIn, session: SessionDep,
                       actor: Annotated[Subject, require("orders.refund")]) -> RefundOut:
    return await flows.refund(session, order_id, body.amount, body.reason, actor,
                              gateway_to_wallet=body.gateway_to_wallet)
