"""Merchants HTTP API: the back office (/v1/admin/merchants, reviews, pages, redirects), the
merchant portal (/v1/merchant, for merchant users, always scoped to their own merchant) and
public reads (/v1/merchants, /v1/pages, /v1/redirects)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from gullak.db.uow import SessionDep
from gullak.identity.schemas import TokensOut
from gullak.identity.service import Client
from gullak.kit.errors import Forbidden
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require, require_kind
from gullak.merchants import content, jobs, reviews, service
from gullak.merchants.schemas import (
    BankAccountIn,
    BankAccountOut,
    CommissionIn,
    CommissionOut,
    DocumentIn,
    DocumentOut,
    FlagIn,
    MerchantIn,
    MerchantLoginIn,
    MerchantMeOut,
    MerchantOut,
    MerchantPage,
    MerchantPatch,
    MerchantUserIn,
    MerchantUserOut,
    MerchantUserPatch,
    ModerationIn,
    OutletIn,
    OutletOut,
    PageIn,
    PageOut,
    PublicMerchantOut,
    PublicOutletOut,
    RedirectIn,
    RedirectOut,
    ResolvedOut,
    ResponseIn,
    ReviewIn,
    ReviewPage,
    Status,
    StatusIn,
    UserReviewIn,
    UserReviewOut,
)
from gullak.settings import Settings
from gullak.worker import enqueue

router = APIRouter(tags=["merchants"])
ADMIN = "/v1/admin/merchants"
PORTAL = "/v1/merchant"

Reader = Annotated[Subject, require("merchants.read")]
Manager = Annotated[Subject, require("merchants.manage")]
Reviewer = Annotated[Subject, require("merchants.review")]
Moderator = Annotated[Subject, require("reviews.moderate")]
Editor = Annotated[Subject, require("content.manage")]
User = Annotated[Subject, require_kind("user")]
Limit = Annotated[int, Query(ge=1, le=100)]


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@dataclass(frozen=True)
class Staff:
    """A merchant user and the merchant it acts for."""

    subject: Subject
    merchant_id: uuid.UUID


def staff(permission: str) -> object:
    """A dependency: the current merchant user, if its role allows `permission`."""

    async def guard(subject: Subject = require(permission)) -> Staff:  # type: ignore[assignment]
        merchant_id = service.merchant_of(subject)
        if subject.kind != "merchant_user" or merchant_id is None:
            raise Forbidden("This endpoint is for merchant users.")
        return Staff(subject, merchant_id)

    return Depends(guard)


StaffReader = Annotated[Staff, staff("merchant.read")]
ProfileEditor = Annotated[Staff, staff("merchant.profile.manage")]
OutletEditor = Annotated[Staff, staff("merchant.outlets.manage")]
UserAdmin = Annotated[Staff, staff("merchant.users.manage")]
DocumentEditor = Annotated[Staff, staff("merchant.documents.manage")]
BankEditor = Annotated[Staff, staff("merchant.bank.manage")]
Responder = Annotated[Staff, staff("merchant.reviews.respond")]


# -- back office: merchants -------------------------------------------------------------------

@router.post(ADMIN, status_code=201, tags=["admin"])
async def create_merchant(body: MerchantIn, session: SessionDep, actor: Manager) -> MerchantOut:
    return await service.create_merchant(session, body, actor)


@router.get(ADMIN, tags=["admin"], summary="Merchants, newest first")
async def list_merchants(session: SessionDep, _: Reader, status: Status | None = None,
                         city: Text | None = None, q: Text | None = None, limit: Limit = 50,
                         cursor: uuid.UUID | None = None) -> MerchantPage:
    return await service.list_merchants(session, status=status.value if status else None,
                                        city=city, q=q, limit=limit, cursor=cursor)


@router.get(ADMIN + "/{merchant_id}", tags=["admin"])
async def get_merchant(merchant_id: uuid.UUID, session: SessionDep, _: Reader) -> MerchantOut:
    return await service.get_merchant(session, merchant_id)


@router.patch(ADMIN + "/{merchant_id}", tags=["admin"])
async def update_merchant(merchant_id: uuid.UUID, body: MerchantPatch, session: SessionDep,
                          actor: Manager) -> MerchantOut:
    return await service.update_merchant(session, merchant_id, body, actor)


@router.post(ADMIN + "/{merchant_id}/status", tags=["admin"],
             summary="Move a merchant through onboarding, suspend or reject it")
async def set_status(merchant_id: uuid.UUID, body: StatusIn, session: SessionDep,
                     actor: Reviewer) -> MerchantOut:
    return await service.set_status(session, merchant_id, body.status, body.reason, actor)


@router.get(ADMIN + "/{merchant_id}/outlets", tags=["admin"])
async def admin_outlets(merchant_id: uuid.UUID, session: SessionDep,
                        _: Reader) -> list[OutletOut]:
    return await service.list_outlets(session, merchant_id)


@router.post(ADMIN + "/{merchant_id}/outlets", status_code=201, tags=["admin"])
async def admin_add_outlet(merchant_id: uuid.UUID, body: OutletIn, session: SessionDep,
                           actor: Manager) -> OutletOut:
    return await service.add_outlet(session, merchant_id, body, actor)


@router.put(ADMIN + "/{merchant_id}/outlets/{outlet_id}", tags=["admin"])
async def admin_update_outlet(merchant_id: uuid.UUID, outlet_id: uuid.UUID, body: OutletIn,
                              session: SessionDep, actor: Manager) -> OutletOut:
    return await service.update_outlet(session, merchant_id, outlet_id, body, actor)


@router.get(ADMIN + "/{merchant_id}/users", tags=["admin"])
async def admin_users(merchant_id: uuid.UUID, session: SessionDep,
                      _: Reader) -> list[MerchantUserOut]:
    return await service.list_merchant_users(session, merchant_id)


@router.post(ADMIN + "/{merchant_id}/users", status_code=201, tags=["admin"])
async def admin_add_user(merchant_id: uuid.UUID, body: MerchantUserIn, session: SessionDep,
                         actor: Manager) -> MerchantUserOut:
    return await service.create_merchant_user(session, merchant_id, body, actor)


@router.patch(ADMIN + "/{merchant_id}/users/{user_id}", tags=["admin"])
async def admin_update_user(merchant_id: uuid.UUID, user_id: uuid.UUID, body: MerchantUserPatch,
                            session: SessionDep, actor: Manager) -> MerchantUserOut:
    return await service.update_merchant_user(session, merchant_id, user_id, role=body.role,
                                              status=body.status, actor=actor)


@router.get(ADMIN + "/{merchant_id}/documents", tags=["admin"])
async def admin_documents(merchant_id: uuid.UUID, session: SessionDep,
                          _: Reader) -> list[DocumentOut]:
    return await service.list_documents(session, merchant_id)


@router.post(ADMIN + "/{merchant_id}/documents/{document_id}/review", tags=["admin"],
             summary="Verify a document, or reject it with a reason")
async def review_document(merchant_id: uuid.UUID, document_id: uuid.UUID, body: ReviewIn,
                          session: SessionDep, actor: Reviewer) -> DocumentOut:
    return await service.review_document(session, merchant_id, document_id,
                                         body.verdict == "verified", body.reason, actor)


@router.get(ADMIN + "/{merchant_id}/bank-accounts", tags=["admin"])
async def admin_bank_accounts(merchant_id: uuid.UUID, session: SessionDep,
                              _: Reader) -> list[BankAccountOut]:
    return await service.list_bank_accounts(session, merchant_id)


@router.post(ADMIN + "/{merchant_id}/bank-accounts", status_code=201, tags=["admin"],
             summary="Add a bank account; its verification runs in the background")
async def admin_add_bank_account(merchant_id: uuid.UUID, body: BankAccountIn, request: Request,
                                 session: SessionDep, actor: Manager) -> BankAccountOut:
    out = await service.add_bank_account(session, settings_of(request), merchant_id, body, actor)
    await enqueue(session, jobs.verify_bank_account, account_id=str(out.id))
    return out


@router.post(ADMIN + "/{merchant_id}/bank-accounts/{account_id}/verify", status_code=202,
             tags=["admin"], summary="Verify a failed or pending account again")
async def admin_reverify(merchant_id: uuid.UUID, account_id: uuid.UUID, session: SessionDep,
                         actor: Manager) -> BankAccountOut:
    out = await service.retry_bank_account(session, merchant_id, account_id, actor)
    if out.status == "pending":
        await enqueue(session, jobs.verify_bank_account, account_id=str(out.id))
    return out


@router.get(ADMIN + "/{merchant_id}/commissions", tags=["admin"])
async def admin_commissions(merchant_id: uuid.UUID, session: SessionDep,
                            _: Reader) -> list[CommissionOut]:
    return await service.list_commissions(session, merchant_id)


@router.post(ADMIN + "/{merchant_id}/commissions", status_code=201, tags=["admin"])
async def admin_add_commission(merchant_id: uuid.UUID, body: CommissionIn, session: SessionDep,
                               actor: Manager) -> CommissionOut:
    return await service.add_commission(session, merchant_id, body, actor)


@router.delete(ADMIN + "/{merchant_id}/commissions/{commission_id}", status_code=204,
               tags=["admin"])
async def admin_delete_commission(merchant_id: uuid.UUID, commission_id: uuid.UUID,
                                  session: SessionDep, actor: Manager) -> Response:
    await service.delete_commission(session, merchant_id, commission_id, actor)
    return Response(status_code=204)


@router.get(ADMIN + "/{merchant_id}/reviews", tags=["admin"])
async def admin_reviews(merchant_id: uuid.UUID, session: SessionDep, _: Reader,
                        limit: Limit = 50) -> list[UserReviewOut]:
    return await reviews.merchant_reviews(session, merchant_id, limit=limit)


# -- back office: reviews, pages, redirects ---------------------------------------------------

@router.get("/v1/admin/reviews/flagged", tags=["admin"])
async def flagged_reviews(session: SessionDep, _: Moderator,
                          limit: Limit = 50) -> list[UserReviewOut]:
    return await reviews.flagged_reviews(session, limit=limit)


@router.post("/v1/admin/reviews/{review_id}/moderation", tags=["admin"],
             summary="Hide a review (with a reason) or restore it")
async def moderate_review(review_id: uuid.UUID, body: ModerationIn, session: SessionDep,
                          actor: Moderator) -> UserReviewOut:
    return await reviews.moderate(session, review_id, body.action, body.reason, actor)


@router.get("/v1/admin/pages", tags=["admin"])
async def list_pages(session: SessionDep, _: Editor) -> list[PageOut]:
    return await content.list_pages(session)


@router.get("/v1/admin/pages/{slug:path}", tags=["admin"])
async def admin_page(slug: Text, session: SessionDep, _: Editor) -> PageOut:
    return await content.get_page(session, slug, published_only=False)


@router.put("/v1/admin/pages/{slug:path}", tags=["admin"], summary="Create or replace a page")
async def put_page(slug: Text, body: PageIn, session: SessionDep, actor: Editor) -> PageOut:
    return await content.put_page(session, slug, body, actor)


@router.delete("/v1/admin/pages/{slug:path}", status_code=204, tags=["admin"])
async def delete_page(slug: Text, session: SessionDep, actor: Editor) -> Response:
    await content.delete_page(session, slug, actor)
    return Response(status_code=204)


@router.get("/v1/admin/redirects", tags=["admin"])
async def list_redirects(session: SessionDep, _: Editor) -> list[RedirectOut]:
    return await content.list_redirects(session)


@router.post("/v1/admin/redirects", status_code=201, tags=["admin"])
async def create_redirect(body: RedirectIn, session: SessionDep, actor: Editor) -> RedirectOut:
    return await content.create_redirect(session, body, actor)


@router.delete("/v1/admin/redirects/{redirect_id}", status_code=204, tags=["admin"])
async def delete_redirect(redirect_id: uuid.UUID, session: SessionDep,
                          actor: Editor) -> Response:
    await content.delete_redirect(session, redirect_id, actor)
    return Response(status_code=204)


# -- merchant portal --------------------------------------------------------------------------

@router.post(PORTAL + "/auth/login",
             responses=errors(401, 429), tags=["merchant"], summary="Merchant user sign-in")
async def merchant_login(body: MerchantLoginIn, request: Request,
                         session: SessionDep) -> TokensOut:
    return await service.merchant_login(session, settings_of(request), body.email,
                                        body.password, body.device, Client.of(request))


@router.get(PORTAL + "/me", tags=["merchant"])
async def portal_me(me: StaffReader, session: SessionDep) -> MerchantMeOut:
    return MerchantMeOut(user=await service.get_merchant_user(session, me.subject.id),
                         merchant=await service.get_merchant(session, me.merchant_id),
                         permissions=sorted(me.subject.permissions))


@router.patch(PORTAL + "/profile", tags=["merchant"],
              summary="Edit the merchant's public profile (description, logo, contact, tags)")
async def portal_profile(body: MerchantPatch, me: ProfileEditor,
                         session: SessionDep) -> MerchantOut:
    return await service.update_merchant(session, me.merchant_id, body, me.subject, own=True)


@router.post(PORTAL + "/submit", tags=["merchant"],
             summary="Submit the uploaded documents for review")
async def portal_submit(me: DocumentEditor, session: SessionDep) -> MerchantOut:
    return await service.set_status(session, me.merchant_id, Status.documents_submitted, None,
                                    me.subject)


@router.get(PORTAL + "/outlets", tags=["merchant"])
async def portal_outlets(me: StaffReader, session: SessionDep) -> list[OutletOut]:
    return await service.list_outlets(session, me.merchant_id)


@router.post(PORTAL + "/outlets", status_code=201, tags=["merchant"])
async def portal_add_outlet(body: OutletIn, me: OutletEditor, session: SessionDep) -> OutletOut:
    return await service.add_outlet(session, me.merchant_id, body, me.subject)


@router.put(PORTAL + "/outlets/{outlet_id}", tags=["merchant"])
async def portal_update_outlet(outlet_id: uuid.UUID, body: OutletIn, me: OutletEditor,
                               session: SessionDep) -> OutletOut:
    return await service.update_outlet(session, me.merchant_id, outlet_id, body, me.subject)


@router.get(PORTAL + "/users", tags=["merchant"])
async def portal_users(me: UserAdmin, session: SessionDep) -> list[MerchantUserOut]:
    return await service.list_merchant_users(session, me.merchant_id)


@router.post(PORTAL + "/users", status_code=201, tags=["merchant"])
async def portal_add_user(body: MerchantUserIn, me: UserAdmin,
                          session: SessionDep) -> MerchantUserOut:
    return await service.create_merchant_user(session, me.merchant_id, body, me.subject)


@router.patch(PORTAL + "/users/{user_id}", tags=["merchant"])
async def portal_update_user(user_id: uuid.UUID, body: MerchantUserPatch, me: UserAdmin,
                             session: SessionDep) -> MerchantUserOut:
    return await service.update_merchant_user(session, me.merchant_id, user_id, role=body.role,
                                              status=body.status, actor=me.subject)


@router.get(PORTAL + "/documents", tags=["merchant"])
async def portal_documents(me: StaffReader, session: SessionDep) -> list[DocumentOut]:
    return await service.list_documents(session, me.merchant_id)


@router.post(PORTAL + "/documents", status_code=201, tags=["merchant"])
async def portal_add_document(body: DocumentIn, me: DocumentEditor,
                              session: SessionDep) -> DocumentOut:
    return await service.add_document(session, me.merchant_id, body, me.subject)


@router.get(PORTAL + "/bank-accounts", tags=["merchant"])
async def portal_bank_accounts(me: BankEditor, session: SessionDep) -> list[BankAccountOut]:
    return await service.list_bank_accounts(session, me.merchant_id)


@router.post(PORTAL + "/bank-accounts", status_code=201, tags=["merchant"],
             summary="Add a bank account; its verification runs in the background")
async def portal_add_bank_account(body: BankAccountIn, request: Request, me: BankEditor,
                                  session: SessionDep) -> BankAccountOut:
    out = await service.add_bank_account(session, settings_of(request), me.merchant_id, body,
                                         me.subject)
    await enqueue(session, jobs.verify_bank_account, account_id=str(out.id))
    return out


@router.get(PORTAL + "/commissions", tags=["merchant"])
async def portal_commissions(me: StaffReader, session: SessionDep) -> list[CommissionOut]:
    return await service.list_commissions(session, me.merchant_id)


@router.get(PORTAL + "/reviews", tags=["merchant"])
async def portal_reviews(me: StaffReader, session: SessionDep,
                         limit: Limit = 50) -> list[UserReviewOut]:
    return await reviews.merchant_reviews(session, me.merchant_id, limit=limit)


@router.put(PORTAL + "/reviews/{review_id}/response", tags=["merchant"])
async def portal_respond(review_id: uuid.UUID, body: ResponseIn, me: Responder,
                         session: SessionDep) -> UserReviewOut:
    return await reviews.respond(session, me.merchant_id, review_id, body.response, me.subject)


# -- public -----------------------------------------------------------------------------------

@router.get("/v1/merchants/{merchant_id}")
async def public_merchant(merchant_id: uuid.UUID, session: SessionDep) -> PublicMerchantOut:
    merchant = await service.get_live_merchant(session, merchant_id)
    return PublicMerchantOut.model_validate(merchant.model_dump())


@router.get("/v1/merchants/{merchant_id}/outlets")
async def public_outlets(merchant_id: uuid.UUID, session: SessionDep) -> list[PublicOutletOut]:
    await service.get_live_merchant(session, merchant_id)
    return [PublicOutletOut(**o.model_dump(), open_now=service.open_now(o))
            for o in await service.list_outlets(session, merchant_id, active_only=True)]


@router.get("/v1/merchants/{merchant_id}/reviews", summary="Visible reviews, newest first")
async def public_reviews(merchant_id: uuid.UUID, session: SessionDep, limit: Limit = 20,
                         cursor: Text | None = Query(default=None, max_length=200)) -> ReviewPage:
    await service.get_live_merchant(session, merchant_id)
    return await reviews.list_reviews(session, merchant_id, limit=limit, cursor=cursor)


@router.post("/v1/merchants/{merchant_id}/reviews", status_code=201,
             summary="Review a merchant for one of your orders")
async def post_review(merchant_id: uuid.UUID, body: UserReviewIn, user: User,
                      session: SessionDep) -> UserReviewOut:
    return await reviews.create_review(session, user.id, merchant_id, body)


@router.post("/v1/reviews/{review_id}/flags", status_code=201,
             summary="Report a review to the moderators")
async def flag_review(review_id: uuid.UUID, body: FlagIn, user: User,
                      session: SessionDep) -> Response:
    await reviews.flag(session, user.id, review_id, body.reason)
    return Response(status_code=201)


@router.get("/v1/pages/{slug:path}")
async def public_page(slug: Text, session: SessionDep) -> PageOut:
    return await content.get_page(session, slug, published_only=True)


@router.get("/v1/redirects/resolve", summary="Where a path redirects to, if anywhere")
async def resolve_redirect(session: SessionDep,
                           path: Annotated[Text, Query(min_length=1, max_length=2000)],
                           ) -> ResolvedOut:
    return await content.resolve(session, path)
