"""Payments HTTP API: users' payments and top-ups, the back office's refunds, gateway
webhooks, and the checkout pages the sandbox (and Razorpay's script) run on."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import HTMLResponse

from gullak.db.engine import Database
from gullak.db.routing import ReadSessionDep
from gullak.db.uow import SessionDep
from gullak.kit import audit
from gullak.kit.ids import uuid7
from gullak.kit.openapi import MEDIA_TYPE, REF, errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require, require_kind
from gullak.payments import errors as payment_errors
from gullak.payments import flows, gateways, jobs, methods, pages, service
from gullak.payments.schemas import (
    MethodOut,
    MethodPatch,
    PaymentOut,
    PaymentPage,
    RefundIn,
    RefundOut,
    TopupIn,
    WebhookOut,
)
from gullak.settings import Settings
from gullak.worker import enqueue

router = APIRouter(tags=["payments"])
# The provider refused or could not be reached: not the client's fault, and not ours.
GATEWAY_ERROR: dict[int | str, dict[str, Any]] = {502: {
    "description": "Bad gateway. Codes: `gateway_error`.",
    "content": {MEDIA_TYPE: {"schema": {"$ref": REF}}}}}
User = Annotated[Subject, require_kind("user")]
Limit = Annotated[int, Query(ge=1, le=200)]
Key = Annotated[Text | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]
Gateway = Annotated[str, Path(max_length=40)]
Ref = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
MethodCode = Annotated[str, Path(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")]


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.post("/v1/me/topups", status_code=201, summary="Top up the INR wallet",
             responses=GATEWAY_ERROR)
async def create_topup(body: TopupIn, user: User, request: Request,
                       key: Key = None) -> PaymentOut:
    """A payment of purpose 'topup', started at its gateway at once: pay at `checkout_url`.
    The same Idempotency-Key gives the same top-up."""
    return await flows.topup(_db(request), _settings(request), user.id, body.amount,
                             key or str(uuid7()))


@router.get("/v1/me/topups", summary="My top-ups, newest first")
async def list_topups(user: User, session: SessionDep, cursor: uuid.UUID | None = None,
                      limit: Limit = 50) -> PaymentPage:
    return await service.list_topups(session, user.id, cursor=cursor, limit=limit)


@router.get("/v1/payments/{payment_id}", summary="One of my payments")
async def get_payment(payment_id: uuid.UUID, user: User, session: SessionDep) -> PaymentOut:
    return await service.get_user_payment(session, payment_id, user.id)


@router.post("/v1/payments/{payment_id}/start", summary="Start paying: get the checkout URL",
             responses=GATEWAY_ERROR)
async def start_payment(payment_id: uuid.UUID, user: User, request: Request) -> PaymentOut:
    return await flows.start(_db(request), payment_id, user_id=user.id,
                             settings=_settings(request))


@router.get("/v1/admin/payments/{payment_id}")
async def admin_get(payment_id: uuid.UUID, session: SessionDep,
                    _: Annotated[Subject, require("payments.read")]) -> PaymentOut:
    return await service.get_payment(session, payment_id)


@router.post("/v1/admin/payments/{payment_id}/refunds", status_code=201,
             summary="Refund all or part of a payment", responses=GATEWAY_ERROR)
async def admin_refund(payment_id: uuid.UUID, body: RefundIn, request: Request,
                       _: Annotated[Subject, require("payments.refund")],
                       key: Key = None) -> RefundOut:
    return await flows.refund(_db(request), payment_id, body.amount, key or str(uuid7()),
                              settings=_settings(request))


@router.post("/v1/payments/webhooks/{gateway}", summary="A gateway's webhook or callback",
             responses=errors(401))
async def webhook(gateway: Gateway, request: Request, session: SessionDep) -> WebhookOut:
    """Verified before anything else (401 invalid_signature), stored raw, processed once by a
    job whatever the number of copies delivered."""
    found = gateways.get(gateway, _db(request), _settings(request))
    stored = await service.receive_webhook(session, found, request.headers, await request.body())
    if stored is not None:
        await enqueue(session, jobs.process_event, event_id=str(stored))
    return WebhookOut(received=True, duplicate=stored is None)


@router.get("/v1/payments/sandbox/{ref}", response_class=HTMLResponse, include_in_schema=False)
async def sandbox_page(ref: Ref, request: Request) -> HTMLResponse:
    sandbox = gateways.sandbox(_db(request), _settings(request))
    order = await sandbox.order(ref)
    if order is None:
        raise payment_errors.PaymentNotFound("No such sandbox order.", field="ref")
    return HTMLResponse(pages.sandbox(ref, *order))


@router.post("/v1/payments/sandbox/{ref}", response_class=HTMLResponse,
             include_in_schema=False)
async def sandbox_click(ref: Ref, request: Request, session: SessionDep,
                        outcome: Annotated[str, Query(pattern="^(paid|failed|pending)$")]
                        ) -> HTMLResponse:
    """The click on the sandbox checkout page: the sandbox sends its signed webhook through
    the same intake as the webhook endpoint (in-process, see gateways/sandbox.py). The
    outcome is in the query: the page's forms post no body (the API reads JSON bodies only).
    """
    sandbox = gateways.sandbox(_db(request), _settings(request))
    if await sandbox.order(ref) is None:
        raise payment_errors.PaymentNotFound("No such sandbox order.", field="ref")
    note = "Left pending."
    if outcome != "pending":
        webhook = await sandbox.settle(ref, outcome)
        note = "This order was already settled."
        if webhook is not None:
            headers, raw = webhook
            stored = await service.receive_webhook(session, sandbox, headers, raw)
            if stored is not None:
                await enqueue(session, jobs.process_event, event_id=str(stored))
            note = f"Sandbox webhook sent: {outcome}."
    order = await sandbox.order(ref)
    assert order is not None
    return HTMLResponse(pages.sandbox(ref, *order, note=note))


@router.get("/v1/payments/razorpay/{ref}", response_class=HTMLResponse, include_in_schema=False)
async def razorpay_page(ref: Ref, request: Request) -> HTMLResponse:
    key_id = _settings(request).razorpay_key_id
    if key_id is None:
        raise payment_errors.GatewayNotConfigured()
    return HTMLResponse(pages.razorpay(key_id.get_secret_value(), ref))


@router.get("/v1/payment-methods", summary="The ways to pay checkout offers, in order")
async def payment_methods(session: ReadSessionDep) -> list[MethodOut]:
    return await methods.list_methods(session)


@router.get("/v1/admin/payment-methods", summary="Every payment method, the disabled too")
async def admin_payment_methods(session: ReadSessionDep,
                                _: Annotated[Subject, require("payments.read")]
                                ) -> list[MethodOut]:
    return await methods.list_methods(session, enabled_only=False)


@router.patch("/v1/admin/payment-methods/{code}", responses=errors(404),
              summary="Turn a payment method on or off, rename or reorder it")
async def change_payment_method(code: MethodCode, body: MethodPatch, session: SessionDep,
                                actor: Annotated[Subject, require("payments.manage")]
                                ) -> MethodOut:
    before, after = await methods.change_method(session, code, body)
    await audit.record(session, actor, "payments.method.change", "payment_method", code,
                       before=before.model_dump(mode="json"),
                       after=after.model_dump(mode="json"))
    return after
