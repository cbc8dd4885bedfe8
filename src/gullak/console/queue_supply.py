"""The queues of what merchants put before the platform: merchant onboarding (documents read,
then the merchant verified and made live), offers awaiting approval, and reviews users have
flagged, each decided through the merchants or offers service."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.console.queue_common import (
    BASE,
    Action,
    item_page,
    money,
    posted,
    short,
    when,
    with_merchants,
)
from gullak.console.tables import Column, Filter, choice, param, table, uuid_param
from gullak.console.web import AdminPage, ConsoleRoute
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import InvalidInput
from gullak.merchants import service as merchants
from gullak.merchants.schemas import ModerationIn, ReviewIn, Status, StatusIn
from gullak.offers import service as offers
from gullak.offers.schemas import RejectIn

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


# -- merchants: onboarding ---------------------------------------------------------------------

STAGES = (("documents_submitted", "Documents submitted"), ("verified", "Verified, not live"))


@router.get("/merchants")
async def merchant_queue(page: AdminPage) -> Response:
    await page.require("merchants.review")
    status = choice(page, "status", merchants.ONBOARDING)
    q = param(page, "q")

    async def fetch(browse: Browse) -> Rows:
        return await merchants.browse_onboarding(page.session, browse, status=status, q=q)

    return await table(
        page, title="Merchant onboarding", fetch=fetch, default_sort="updated_at",
        columns=[Column("Merchant", lambda m: m.name, link=lambda m: f"{BASE}/merchants/{m.id}",
                        sort="name"),
                 Column("City", lambda m: m.city), Column("Stage", lambda m: m.status),
                 Column("GSTIN", lambda m: m.gstin),
                 Column("Last change", lambda m: when(m.updated_at), sort="updated_at")],
        filters=[Filter("status", "Stage", STAGES),
                 Filter("q", "Name", placeholder="Part of the name")])


@router.get("/merchants/{merchant_id}")
async def merchant_item(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.review")
    m = await merchants.get_merchant(page.session, merchant_id)
    documents = await merchants.list_documents(page.session, merchant_id)
    return await item_page(
        page, title=m.name, status=m.status, url=f"{BASE}/merchants/{m.id}",
        back=f"{BASE}/merchants", waiting=m.status in merchants.ONBOARDING,
        template="queues/merchant.html", documents=documents,
        pairs=[("Legal name", m.legal_name), ("City", m.city), ("Email", m.email),
               ("Phone", m.phone), ("Website", m.website), ("GSTIN", m.gstin), ("PAN", m.pan),
               ("FSSAI", m.fssai), ("Package", m.package_tier),
               ("Commission", f"{m.commission_bps / 100:.2f} %"),
               ("Settlement", m.settlement_frequency), ("Status reason", m.status_reason),
               ("Created", when(m.created_at))],
        actions=[Action("approve", "Approve", "merchants.review"),
                 Action("reject", "Reject", "merchants.review", reason="required",
                        kind="danger")])


@router.post("/merchants/{merchant_id}/approve")
async def approve_merchant(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    """Documents submitted: the pending documents verified (the admin has read them on the
    merchant's page), then verified; verified: live."""
    await page.require("merchants.review")
    m = await merchants.get_merchant(page.session, merchant_id)
    if m.status == "documents_submitted":
        for document in await merchants.list_documents(page.session, merchant_id):
            if document.status == "pending":
                await merchants.review_document(page.session, merchant_id, document.id, True,
                                                None, page.subject)
        await merchants.set_status(page.session, merchant_id, Status.verified, None,
                                   page.subject)
    await merchants.set_status(page.session, merchant_id, Status.live, None, page.subject)
    return page.redirect(f"{BASE}/merchants", flash=f"{m.name} is live.")


@router.post("/merchants/{merchant_id}/reject")
async def reject_merchant(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("merchants.review")
    body = StatusIn.model_validate({"status": "rejected", "reason": await posted(page, "reason")})
    m = await merchants.set_status(page.session, merchant_id, body.status, body.reason,
                                   page.subject)
    return page.redirect(f"{BASE}/merchants", flash=f"{m.name} was rejected.")


@router.post("/merchants/{merchant_id}/documents/{document_id}/{verdict}")
async def review_document(merchant_id: uuid.UUID, document_id: uuid.UUID, verdict: str,
                          page: AdminPage) -> Response:
    await page.require("merchants.review")
    body = ReviewIn.model_validate({"verdict": verdict, "reason": await posted(page, "reason")})
    done = await merchants.review_document(page.session, merchant_id, document_id,
                                           body.verdict == "verified", body.reason,
                                           page.subject)
    return page.redirect(f"{BASE}/merchants/{merchant_id}",
                         flash=f"The {done.document_type} document is {done.status}.")


# -- offers ------------------------------------------------------------------------------------

@router.get("/offers")
async def offer_queue(page: AdminPage) -> Response:
    await page.require("offers.review")
    merchant_id = uuid_param(page, "merchant_id")
    q = param(page, "q")

    async def fetch(browse: Browse) -> Rows:
        return await with_merchants(page, await offers.browse_offers(
            page.session, browse, status="pending", merchant_id=merchant_id, q=q))

    return await table(
        page, title="Offers to approve", fetch=fetch, default_sort="id",
        columns=[Column("Offer", lambda r: r[0].title, link=lambda r: f"{BASE}/offers/{r[0].id}",
                        sort="title"),
                 Column("Merchant", lambda r: r[1]), Column("Type", lambda r: r[0].type),
                 Column("Valid until", lambda r: when(r[0].valid_until), sort="valid_until"),
                 Column("Submitted", lambda r: when(r[0].submitted_at))],
        filters=[Filter("q", "Title", placeholder="Part of the title"),
                 Filter("merchant_id", "Merchant id")])


def _value(kind: str | None, value: int | None, cap: int | None) -> str | None:
    """An offer's discount or cashback as read: percent in basis points, fixed in paise."""
    if kind is None or value is None:
        return None
    shown = f"{value / 100:g} %" if kind == "percent" else f"₹{money(value)}"
    return shown + (f", at most ₹{money(cap)}" if cap else "")


@router.get("/offers/{offer_id}")
async def offer_item(offer_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("offers.review")
    o = await offers.get_offer(page.session, offer_id)
    merchant = await merchants.get_merchant(page.session, o.merchant_id)
    off = _value(o.discount_kind, o.discount_value, o.max_discount)
    back = _value(o.cashback_kind, o.cashback_value, o.max_cashback)
    return await item_page(
        page, title=o.title, status=o.status, url=f"{BASE}/offers/{o.id}", back=f"{BASE}/offers",
        waiting=o.status == "pending",
        pairs=[("Merchant", merchant.name), ("Type", o.type), ("Description", o.description),
               ("Terms", o.terms), ("Discount", off), ("Cashback", back),
               ("Coupon code", o.coupon_code),
               ("Minimum order", money(o.min_order_value)),
               ("Coins required", o.coins_required), ("Coins earned", o.coins_earned),
               ("Valid", f"{when(o.valid_from)} to {when(o.valid_until)}"),
               ("Limits", f"{o.total_limit or 'no'} in all, {o.per_user_limit or 'no'} per user"),
               ("Cities", ", ".join(o.cities) or "all"), ("Tags", ", ".join(o.tags)),
               ("Last reason", o.status_reason), ("Submitted", when(o.submitted_at))],
        actions=[Action("approve", "Approve", "offers.review"),
                 Action("reject", "Reject", "offers.review", reason="required", kind="danger")])


@router.post("/offers/{offer_id}/approve")
async def approve_offer(offer_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("offers.review")
    o = await offers.transition(page.session, offer_id, "approve", page.subject)
    return page.redirect(f"{BASE}/offers", flash=f"{o.title} is approved.")


@router.post("/offers/{offer_id}/reject")
async def reject_offer(offer_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("offers.review")
    body = RejectIn.model_validate({"reason": await posted(page, "reason") or ""})
    o = await offers.transition(page.session, offer_id, "reject", page.subject,
                                reason=body.reason)
    return page.redirect(f"{BASE}/offers", flash=f"{o.title} was rejected.")


# -- flagged reviews ---------------------------------------------------------------------------

@router.get("/reviews")
async def review_queue(page: AdminPage) -> Response:
    await page.require("reviews.moderate")

    async def fetch(browse: Browse) -> Rows:
        return await with_merchants(page, await merchants.browse_flagged_reviews(
            page.session, browse))

    return await table(
        page, title="Flagged reviews", fetch=fetch, default_sort="-flags",
        columns=[Column("Written", lambda r: when(r[0].created_at),
                        link=lambda r: f"{BASE}/reviews/{r[0].id}", sort="created_at"),
                 Column("Merchant", lambda r: r[1]),
                 Column("Rating", lambda r: r[0].rating, numeric=True),
                 Column("Comment", lambda r: short(r[0].comment)),
                 Column("Flags", lambda r: r[0].flag_count, sort="flags", numeric=True)])


@router.get("/reviews/{review_id}")
async def review_item(review_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("reviews.moderate")
    r = await merchants.get_review(page.session, review_id)
    merchant = await merchants.get_merchant(page.session, r.merchant_id)
    return await item_page(
        page, title=f"Review of {merchant.name}", status=r.status,
        url=f"{BASE}/reviews/{r.id}", back=f"{BASE}/reviews",
        waiting=r.status == "visible" and r.flag_count > 0,
        pairs=[("Rating", f"{r.rating} of 5"), ("Comment", r.comment),
               ("Order", r.order_id), ("Verified purchase", "yes" if r.verified_purchase else "no"),
               ("Merchant's response", r.response), ("Flags", r.flag_count),
               ("User", r.user_id), ("Written", when(r.created_at))],
        actions=[Action("keep", "Keep", "reviews.moderate", reason="optional"),
                 Action("hide", "Hide", "reviews.moderate", reason="required", kind="danger")])


@router.post("/reviews/{review_id}/hide")
async def hide_review(review_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("reviews.moderate")
    body = ModerationIn.model_validate({"action": "hide", "reason": await posted(page, "reason")})
    await merchants.moderate_review(page.session, review_id, body.action, body.reason,
                                    page.subject)
    return page.redirect(f"{BASE}/reviews", flash="The review is hidden.")


@router.post("/reviews/{review_id}/keep")
async def keep_review(review_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("reviews.moderate")
    reason = await posted(page, "reason")
    if reason is not None and len(reason) > 2000:
        raise InvalidInput("The note is at most 2000 characters.", field="reason")
    await merchants.keep_review(page.session, review_id, reason, page.subject)
    return page.redirect(f"{BASE}/reviews", flash="The review stays; its flags are cleared.")
