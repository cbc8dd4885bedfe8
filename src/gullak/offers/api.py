"""Offers HTTP API: merchants' own offers (/v1/merchant/offers), the back office
(/v1/admin/offers), and users' offers, validation, redemptions, tracking and saved offers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.routing import ReadSessionDep
from gullak.db.uow import SessionDep
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, current_subject, require, require_kind
from gullak.offers import service
from gullak.offers.schemas import (
    AdminOfferIn,
    AdminOfferPatch,
    CartIn,
    ClickOut,
    OfferIn,
    OfferOut,
    OfferPage,
    OfferPatch,
    OfferStatsOut,
    PublicOfferOut,
    RedeemIn,
    RedemptionOut,
    RedemptionPage,
    RedemptionStatus,
    RefundIn,
    RejectIn,
    ResolveIn,
    SavedOfferOut,
    ShareIn,
    Status,
    TrackIn,
    ValidateCodeIn,
    ValidateIn,
    ValidationOut,
)
from gullak.settings import Settings
from gullak.system import service as system

router = APIRouter(tags=["offers"])
User = Annotated[Subject, require_kind("user")]
MerchantUser = Annotated[Subject, require_kind("merchant_user")]
Anyone = Annotated[Subject, require_kind("user", "merchant_user", "admin", "service")]
Limit = Annotated[int, Query(ge=1, le=200)]
TRACK_LIMIT = (300, dt.timedelta(minutes=1))  # views and clicks per visitor


def _cart(body: CartIn) -> CartIn:
    return CartIn(**body.model_dump(include=set(CartIn.model_fields)))


async def _visitor(request: Request, session: AsyncSession) -> tuple[Subject | None, str | None]:
    """Views and clicks may be anonymous: the signed-in subject if any, and a keyed digest of
    the client, which also rate-limits it."""
    subject = await current_subject(request, session) \
        if request.headers.get("authorization") else None
    settings: Settings = request.app.state.settings
    client = service.client_hash(settings.secret("secret_key"),
                                 request.client.host if request.client else None,
                                 request.headers.get("user-agent"))
    who = f"user:{subject.id}" if subject else f"client:{client}"
    await system.hit(session, f"offers:track:{who}", limit=TRACK_LIMIT[0], window=TRACK_LIMIT[1])
    return subject, client


# -- merchants' own offers --------------------------------------------------------------------

@router.post("/v1/merchant/offers", status_code=201, summary="Create a draft offer")
async def merchant_create(body: OfferIn, subject: MerchantUser,
                          session: SessionDep) -> OfferOut:
    merchant_id = service.merchant_scope(subject, "merchant.offers.manage")
    return await service.create_offer(session, merchant_id, body, subject)


@router.get("/v1/merchant/offers")
async def merchant_list(subject: MerchantUser, session: SessionDep,
                        status: Status | None = None, cursor: Text | None = None,
                        limit: Limit = 50) -> OfferPage:
    return await service.list_offers(session, merchant_id=service.merchant_scope(subject),
                                     status=status, cursor=cursor, limit=limit)


@router.get("/v1/merchant/offers/{offer_id}")
async def merchant_get(offer_id: uuid.UUID, subject: MerchantUser,
                       session: SessionDep) -> OfferOut:
    return await service.get_offer(session, offer_id, service.merchant_scope(subject))


@router.patch("/v1/merchant/offers/{offer_id}", summary="Edit a draft or rejected offer")
async def merchant_update(offer_id: uuid.UUID, body: OfferPatch, subject: MerchantUser,
                          session: SessionDep) -> OfferOut:
    merchant_id = service.merchant_scope(subject, "merchant.offers.manage")
    return await service.update_offer(session, offer_id, body, subject,
                                      merchant_id=merchant_id)


async def _merchant_move(offer_id: uuid.UUID, action: str, subject: Subject,
                         session: AsyncSession) -> OfferOut:
    merchant_id = service.merchant_scope(subject, "merchant.offers.manage")
    return await service.transition(session, offer_id, action, subject,
                                    merchant_id=merchant_id)


@router.post("/v1/merchant/offers/{offer_id}/submit", summary="Submit for review")
async def merchant_submit(offer_id: uuid.UUID, subject: MerchantUser,
                          session: SessionDep) -> OfferOut:
    return await _merchant_move(offer_id, "submit", subject, session)


@router.post("/v1/merchant/offers/{offer_id}/pause")
async def merchant_pause(offer_id: uuid.UUID, subject: MerchantUser,
                         session: SessionDep) -> OfferOut:
    return await _merchant_move(offer_id, "pause", subject, session)


@router.post("/v1/merchant/offers/{offer_id}/resume")
async def merchant_resume(offer_id: uuid.UUID, subject: MerchantUser,
                          session: SessionDep) -> OfferOut:
    return await _merchant_move(offer_id, "resume", subject, session)


@router.get("/v1/merchant/offers/{offer_id}/stats")
async def merchant_stats(offer_id: uuid.UUID, subject: MerchantUser,
                         session: SessionDep) -> OfferStatsOut:
    return await service.stats(session, offer_id, service.merchant_scope(subject))


@router.get("/v1/merchant/redemptions", summary="Redemptions of the merchant's offers")
async def merchant_redemptions(subject: MerchantUser, session: SessionDep,
                               offer_id: uuid.UUID | None = None,
                               status: RedemptionStatus | None = None,
                               code: Text | None = Query(default=None, max_length=20),
                               cursor: Text | None = None, limit: Limit = 50) -> RedemptionPage:
    return await service.list_redemptions(
        session, merchant_id=service.merchant_scope(subject), offer_id=offer_id, status=status,
        code=code, cursor=cursor, limit=limit)


# -- back office ------------------------------------------------------------------------------

@router.get("/v1/admin/offers")
async def admin_list(session: SessionDep, _: Annotated[Subject, require("offers.read")],
                     merchant_id: uuid.UUID | None = None, status: Status | None = None,
                     cursor: Text | None = None, limit: Limit = 50) -> OfferPage:
    return await service.list_offers(session, merchant_id=merchant_id, status=status,
                                     cursor=cursor, limit=limit)


@router.post("/v1/admin/offers", status_code=201, summary="Create a draft for a merchant")
async def admin_create(body: AdminOfferIn, session: SessionDep,
                       actor: Annotated[Subject, require("offers.manage")]) -> OfferOut:
    return await service.create_offer(session, body.merchant_id, body, actor)


@router.get("/v1/admin/offers/{offer_id}")
async def admin_get(offer_id: uuid.UUID, session: SessionDep,
                    _: Annotated[Subject, require("offers.read")]) -> OfferOut:
    return await service.get_offer(session, offer_id)


@router.patch("/v1/admin/offers/{offer_id}", summary="Edit terms, placement and boosts")
async def admin_update(offer_id: uuid.UUID, body: AdminOfferPatch, session: SessionDep,
                       actor: Annotated[Subject, require("offers.manage")]) -> OfferOut:
    return await service.update_offer(session, offer_id, body, actor)


@router.post("/v1/admin/offers/{offer_id}/approve")
async def admin_approve(offer_id: uuid.UUID, session: SessionDep,
                        actor: Annotated[Subject, require("offers.review")]) -> OfferOut:
    return await service.transition(session, offer_id, "approve", actor)


@router.post("/v1/admin/offers/{offer_id}/reject")
async def admin_reject(offer_id: uuid.UUID, body: RejectIn, session: SessionDep,
                       actor: Annotated[Subject, require("offers.review")]) -> OfferOut:
    return await service.transition(session, offer_id, "reject", actor, reason=body.reason)


@router.post("/v1/admin/offers/{offer_id}/pause")
async def admin_pause(offer_id: uuid.UUID, session: SessionDep,
                      actor: Annotated[Subject, require("offers.manage")]) -> OfferOut:
    return await service.transition(session, offer_id, "pause", actor)


@router.post("/v1/admin/offers/{offer_id}/resume")
async def admin_resume(offer_id: uuid.UUID, session: SessionDep,
                       actor: Annotated[Subject, require("offers.manage")]) -> OfferOut:
    return await service.transition(session, offer_id, "resume", actor)


@router.get("/v1/admin/offers/{offer_id}/stats")
async def admin_stats(offer_id: uuid.UUID, session: SessionDep,
                      _: Annotated[Subject, require("offers.read")]) -> OfferStatsOut:
    return await service.stats(session, offer_id)


@router.get("/v1/admin/redemptions")
async def admin_redemptions(session: SessionDep, _: Annotated[Subject, require("offers.read")],
                            user_id: uuid.UUID | None = None,
                            merchant_id: uuid.UUID | None = None,
                            offer_id: uuid.UUID | None = None,
                            status: RedemptionStatus | None = None,
                            code: Text | None = Query(default=None, max_length=20),
                            cursor: Text | None = None, limit: Limit = 50) -> RedemptionPage:
    return await service.list_redemptions(
        session, user_id=user_id, merchant_id=merchant_id, offer_id=offer_id, status=status,
        code=code, cursor=cursor, limit=limit)


@router.get("/v1/admin/offer-clicks/{click_id}", summary="A click, for matching a conversion")
async def admin_click(click_id: uuid.UUID, session: SessionDep,
                      _: Annotated[Subject, require("offers.read")]) -> ClickOut:
    return await service.get_click(session, click_id)


# -- users ------------------------------------------------------------------------------------

@router.get("/v1/offers", summary="Active offers, by city and category")
async def active(session: SessionDep, city: Text | None = Query(default=None, max_length=100),
                 category_id: uuid.UUID | None = None,
                 limit: Limit = 50) -> list[PublicOfferOut]:
    offers = await service.active_offers(session, city, category_id, None, limit=limit)
    return [service.public_out(o) for o in offers]


@router.post("/v1/offers/validate-code", summary="Is this coupon code valid for my cart?")
async def validate_code(body: ValidateCodeIn, subject: User,
                        session: SessionDep) -> ValidationOut:
    return await service.validate_code(session, body.code, subject.id, _cart(body), body.at)


@router.get("/v1/offers/{offer_id}")
async def get_offer(offer_id: uuid.UUID, session: ReadSessionDep) -> PublicOfferOut:
    return await service.public_offer(session, offer_id)


@router.post("/v1/offers/{offer_id}/validate", summary="Is this offer valid for my cart?")
async def validate(offer_id: uuid.UUID, body: ValidateIn, subject: User,
                   session: SessionDep) -> ValidationOut:
    return await service.validate(session, offer_id, subject.id, _cart(body), body.at)


@router.post("/v1/offers/{offer_id}/redeem", status_code=201,
             summary="Redeem: a pending redemption holding the coins it costs")
async def redeem(offer_id: uuid.UUID, body: RedeemIn, subject: User, session: SessionDep,
                 response: Response,
                 idempotency_key: Annotated[Text | None, Header(
                     alias="Idempotency-Key", min_length=1, max_length=200)] = None,
                 ) -> RedemptionOut:
    out, created = await service.redeem(session, offer_id, subject.id, body,
                                        idempotency_key=idempotency_key)
    if not created:
        response.status_code = 200
    return out


@router.post("/v1/offers/{offer_id}/view", status_code=204, responses=errors(401, 429))
async def view(offer_id: uuid.UUID, request: Request, session: SessionDep,
               body: TrackIn | None = None) -> Response:
    subject, client = await _visitor(request, session)
    await service.record_view(session, offer_id, _user_id(subject),
                              source=body.source if body else None, client=client)
    return Response(status_code=204)


@router.post("/v1/offers/{offer_id}/click", status_code=201, responses=errors(401, 429),
             summary="A click out: the click id and the merchant's tracking URL")
async def click(offer_id: uuid.UUID, request: Request, session: SessionDep,
                body: TrackIn | None = None) -> ClickOut:
    subject, client = await _visitor(request, session)
    return await service.record_click(
        session, offer_id, _user_id(subject), source=body.source if body else None,
        device_type=body.device_type if body else None, client=client)


def _user_id(subject: Subject | None) -> uuid.UUID | None:
    return subject.id if subject is not None and subject.kind == "user" else None


@router.post("/v1/offers/{offer_id}/share", status_code=204)
async def share(offer_id: uuid.UUID, body: ShareIn, subject: User,
                session: SessionDep) -> Response:
    await service.share(session, offer_id, subject.id, body.channel)
    return Response(status_code=204)


@router.get("/v1/me/saved-offers")
async def saved_offers(subject: User, session: SessionDep,
                       limit: Limit = 100) -> list[SavedOfferOut]:
    return await service.saved_offers(session, subject.id, limit=limit)


@router.put("/v1/me/saved-offers/{offer_id}")
async def save(offer_id: uuid.UUID, subject: User, session: SessionDep) -> SavedOfferOut:
    return await service.save(session, offer_id, subject.id)


@router.delete("/v1/me/saved-offers/{offer_id}", status_code=204)
async def unsave(offer_id: uuid.UUID, subject: User, session: SessionDep) -> Response:
    await service.unsave(session, offer_id, subject.id)
    return Response(status_code=204)


@router.get("/v1/me/redemptions")
async def my_redemptions(subject: User, session: SessionDep,
                         status: RedemptionStatus | None = None, cursor: Text | None = None,
                         limit: Limit = 50) -> RedemptionPage:
    return await service.list_redemptions(session, user_id=subject.id, status=status,
                                          cursor=cursor, limit=limit)


# -- redemptions: the user, the merchant and the platform ------------------------------------

@router.get("/v1/redemptions/{redemption_id}")
async def get_redemption(redemption_id: uuid.UUID, subject: Anyone,
                         session: SessionDep) -> RedemptionOut:
    return await service.get_redemption(session, redemption_id, subject)


@router.post("/v1/redemptions/{redemption_id}/complete",
             summary="The merchant honoured it: coins captured and earned")
async def complete(redemption_id: uuid.UUID, subject: Anyone,
                   session: SessionDep) -> RedemptionOut:
    return await service.complete(session, redemption_id, subject)


@router.post("/v1/redemptions/{redemption_id}/cancel", summary="Call off a pending redemption")
async def cancel(redemption_id: uuid.UUID, subject: Anyone, session: SessionDep,
                 body: ResolveIn | None = None) -> RedemptionOut:
    return await service.cancel(session, redemption_id, subject, body.reason if body else None)


@router.post("/v1/redemptions/{redemption_id}/refund", summary="Undo a completed redemption")
async def refund(redemption_id: uuid.UUID, body: RefundIn, subject: Anyone,
                 session: SessionDep) -> RedemptionOut:
    return await service.refund(session, redemption_id, subject, body.reason)
