"""The work queues: what waits for an admin's decision, each counted on the menu. A queue is
a table of its waiting items (oldest first), a page per item, and the decisions, each made
through its domain's service after the permission its API route asks for. Refusals (a
maker approving their own withdrawal, an item decided meanwhile) are error pages, and the
unit of work rolls back whatever the decision had begun."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.access import service as access
from gullak.activity import service as activity
from gullak.activity.schemas import DecisionIn as StepDecisionIn
from gullak.console.menu import Counter
from gullak.console.tables import Column, Filter, choice, param, table, uuid_param
from gullak.console.web import AdminPage, ConsoleRoute, Page, templates
from gullak.identity import service as identity
from gullak.identity.schemas import KycReviewIn
from gullak.kit import audit
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import InvalidInput, NotFound
from gullak.merchants import service as merchants
from gullak.merchants.schemas import ModerationIn, ReviewIn, Status, StatusIn
from gullak.offers import service as offers
from gullak.offers.schemas import RejectIn
from gullak.payouts import service as payouts
from gullak.payouts.schemas import DecisionIn as WithdrawalDecisionIn
from gullak.risk import service as risk
from gullak.risk.schemas import ReviewIn as RiskReviewIn
from gullak.risk.schemas import Rule
from gullak.support import service as support
from gullak.support.schemas import AgentMessageIn, AssignIn
from gullak.support.schemas import StatusIn as TicketStatusIn

router = APIRouter(prefix="/console/queues", route_class=ConsoleRoute, include_in_schema=False)
BASE = "/console/queues"
money = templates.filters["money"]
when = templates.filters["when"]

COUNTS: dict[str, Counter] = {
    "merchants": lambda page: merchants.count_onboarding(page.session),
    "offers": lambda page: offers.count_offers(page.session, "pending"),
    "kyc": lambda page: identity.count_kyc(page.session, "pending"),
    "steps": lambda page: activity.count_step_reviews(page.session),
    "withdrawals": lambda page: payouts.count_withdrawal_queue(page.session),
    "reviews": lambda page: merchants.count_flagged_reviews(page.session),
    "tickets": lambda page: support.count_ticket_queue(page.session),
    "risk": lambda page: risk.count_risk_queue(page.session),
}


@dataclass(frozen=True)
class Action:
    """A decision on an item's page: a form posted to `<item url>/<path>`, shown only to an
    admin with `permission` (the route checks it again)."""

    path: str
    label: str
    permission: str
    reason: str = ""  # "required", "optional" or "": the form's reason field
    kind: str = ""  # the button's class


async def _item(page: Page, *, title: str, status: str, url: str, back: str,
                pairs: Sequence[tuple[str, Any]], actions: Sequence[Action], waiting: bool,
                template: str = "queues/item.html", **context: Any) -> Response:
    return await page.render(template, title=title, state=status, url=url, back=back,
                             pairs=pairs, actions=actions if waiting else (), waiting=waiting,
                             **context)


async def _text(page: Page, name: str) -> str | None:
    """A posted text field, trimmed; None when empty (an optional field left blank)."""
    value = (await page.form()).get(name, "").strip()
    return value or None


def _short(value: Any, length: int = 80) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= length else text[:length - 1] + "…"


def _user_link(user_id: uuid.UUID) -> str:
    return f"/console/users/{user_id}"


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
    return await _item(
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
    body = StatusIn.model_validate({"status": "rejected", "reason": await _text(page, "reason")})
    m = await merchants.set_status(page.session, merchant_id, body.status, body.reason,
                                   page.subject)
    return page.redirect(f"{BASE}/merchants", flash=f"{m.name} was rejected.")


@router.post("/merchants/{merchant_id}/documents/{document_id}/{verdict}")
async def review_document(merchant_id: uuid.UUID, document_id: uuid.UUID, verdict: str,
                          page: AdminPage) -> Response:
    await page.require("merchants.review")
    body = ReviewIn.model_validate({"verdict": verdict, "reason": await _text(page, "reason")})
    done = await merchants.review_document(page.session, merchant_id, document_id,
                                           body.verdict == "verified", body.reason,
                                           page.subject)
    return page.redirect(f"{BASE}/merchants/{merchant_id}",
                         flash=f"The {done.document_type} document is {done.status}.")


# -- offers ------------------------------------------------------------------------------------

async def _with_merchants(page: Page, rows: Rows, key: str = "merchant_id") -> Rows:
    """Each row as (row, its merchant's name)."""
    names = await merchants.merchant_names(page.session, [getattr(r, key) for r in rows.rows])
    return Rows([(r, names.get(getattr(r, key), "")) for r in rows.rows], rows.next_cursor)


@router.get("/offers")
async def offer_queue(page: AdminPage) -> Response:
    await page.require("offers.review")
    merchant_id = uuid_param(page, "merchant_id")
    q = param(page, "q")

    async def fetch(browse: Browse) -> Rows:
        return await _with_merchants(page, await offers.browse_offers(
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
    return await _item(
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
    body = RejectIn.model_validate({"reason": await _text(page, "reason") or ""})
    o = await offers.transition(page.session, offer_id, "reject", page.subject,
                                reason=body.reason)
    return page.redirect(f"{BASE}/offers", flash=f"{o.title} was rejected.")


# -- KYC ---------------------------------------------------------------------------------------

@router.get("/kyc")
async def kyc_queue(page: AdminPage) -> Response:
    await page.require("kyc.review")

    async def fetch(browse: Browse) -> Rows:
        return await identity.browse_kyc(page.session, browse, status="pending")

    return await table(
        page, title="KYC reviews", fetch=fetch, default_sort="created_at",
        columns=[Column("Submitted", lambda k: when(k.created_at),
                        link=lambda k: f"{BASE}/kyc/{k.id}", sort="created_at"),
                 Column("User", lambda k: k.user_id, link=lambda k: _user_link(k.user_id)),
                 Column("Document", lambda k: k.document_type), Column("Name", lambda k: k.name),
                 Column("Number", lambda k: k.document_number), Column("PAN", lambda k: k.pan)])


@router.get("/kyc/{record_id}")
async def kyc_item(record_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("kyc.review")
    k = await identity.get_kyc(page.session, record_id)
    return await _item(
        page, title=f"KYC: {k.document_type}", status=k.status, url=f"{BASE}/kyc/{k.id}",
        back=f"{BASE}/kyc", waiting=k.status == "pending",
        pairs=[("User", k.user_id), ("Name on the document", k.name),
               ("Document number", k.document_number), ("PAN", k.pan),
               ("Bank account", k.bank_account), ("IFSC", k.ifsc), ("UPI", k.upi_id),
               ("Reason", k.reason), ("Submitted", when(k.created_at))],
        actions=[Action("approve", "Approve", "kyc.review"),
                 Action("reject", "Reject", "kyc.review", reason="required", kind="danger")])


async def _review_kyc(page: Page, record_id: uuid.UUID, decision: str) -> Response:
    await page.require("kyc.review")
    body = KycReviewIn.model_validate({"decision": decision,
                                       "reason": await _text(page, "reason")})
    before, after = await identity.review_kyc(page.session, record_id, page.subject.id,
                                              body.decision == "verify", body.reason)
    await audit.record(page.session, page.subject, f"kyc.{body.decision}", "kyc_record",
                       str(record_id), before=before.model_dump(mode="json"),
                       after=after.model_dump(mode="json"))
    return page.redirect(f"{BASE}/kyc", flash=f"The KYC record is {after.status}.")


@router.post("/kyc/{record_id}/approve")
async def approve_kyc(record_id: uuid.UUID, page: AdminPage) -> Response:
    return await _review_kyc(page, record_id, "verify")


@router.post("/kyc/{record_id}/reject")
async def reject_kyc(record_id: uuid.UUID, page: AdminPage) -> Response:
    return await _review_kyc(page, record_id, "reject")


# -- step validations --------------------------------------------------------------------------

def _checks(reasons: list[dict[str, Any]]) -> str:
    return ", ".join(str(r.get("check", "?")) for r in reasons)


@router.get("/steps")
async def step_queue(page: AdminPage) -> Response:
    await page.require("activity.review")

    async def fetch(browse: Browse) -> Rows:
        return await activity.browse_step_reviews(page.session, browse)

    return await table(
        page, title="Step validations", fetch=fetch, default_sort="id",
        columns=[Column("Day", lambda v: v.day, link=lambda v: f"{BASE}/steps/{v.id}",
                        sort="day"),
                 Column("User", lambda v: v.user_id, link=lambda v: _user_link(v.user_id)),
                 Column("Steps", lambda v: f"{v.steps:,}", numeric=True),
                 Column("Score", lambda v: v.score, sort="score", numeric=True),
                 Column("Checks", lambda v: _checks(v.reasons)),
                 Column("Held since", lambda v: when(v.created_at))])


@router.get("/steps/{validation_id}")
async def step_item(validation_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("activity.review")
    v = await activity.get_step_review(page.session, validation_id)
    waiting = v.outcome == "review" and v.decided_at is None
    return await _item(
        page, title=f"Steps of {v.day}", status=v.decision or v.outcome,
        url=f"{BASE}/steps/{v.id}", back=f"{BASE}/steps", waiting=waiting,
        template="queues/steps.html", reasons=v.reasons,
        pairs=[("User", v.user_id), ("Day", v.day), ("Steps", f"{v.steps:,}"),
               ("Score", v.score), ("Held since", when(v.created_at)),
               ("Decided", when(v.decided_at))],
        actions=[Action("approve", "Approve", "activity.review", reason="required"),
                 Action("reject", "Reject", "activity.review", reason="required",
                        kind="danger")])


async def _decide_steps(page: Page, validation_id: uuid.UUID, decision: str) -> Response:
    await page.require("activity.review")
    body = StepDecisionIn.model_validate({"decision": decision,
                                          "reason": await _text(page, "reason") or ""})
    out = await activity.decide(page.session, validation_id, body, page.subject)
    return page.redirect(f"{BASE}/steps", flash=f"The steps of {out.day} are {out.outcome}.")


@router.post("/steps/{validation_id}/approve")
async def approve_steps(validation_id: uuid.UUID, page: AdminPage) -> Response:
    return await _decide_steps(page, validation_id, "approve")


@router.post("/steps/{validation_id}/reject")
async def reject_steps(validation_id: uuid.UUID, page: AdminPage) -> Response:
    return await _decide_steps(page, validation_id, "reject")


# -- withdrawals -------------------------------------------------------------------------------

async def _admin_names(page: Page, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    names: dict[uuid.UUID, str] = {}
    for admin_id in ids:
        try:
            admin = await access.get_admin(page.session, admin_id)
            names[admin_id] = f"{admin.name} <{admin.email}>"
        except NotFound:
            names[admin_id] = f"admin {admin_id}"
    return names


def _maker(w: payouts.QueuedWithdrawal, names: dict[uuid.UUID, str]) -> str:
    """Who made the request: its owner, an admin (by name), the scheduled settlement."""
    if w.created_by_kind == "admin":
        return f"admin {names.get(w.created_by, w.created_by)}"
    if w.created_by_kind == "service":
        return "the scheduled settlement"
    if w.created_by == w.owner_id:
        return f"the {w.owner_type}"
    return f"{w.created_by_kind} {w.created_by}"


async def _makers(page: Page, rows: Sequence[payouts.QueuedWithdrawal]
                  ) -> dict[uuid.UUID, tuple[str, str]]:
    """Each withdrawal's (maker, last editor), admins by name."""
    admins = {w.created_by for w in rows if w.created_by_kind == "admin"}
    admins |= {w.edited_by for w in rows if w.edited_by is not None}
    names = await _admin_names(page, admins)
    return {w.id: (_maker(w, names), names[w.edited_by] if w.edited_by else "") for w in rows}


def _owner_link(w: Any) -> str:
    if w.owner_type == "merchant":
        return f"/console/merchants/{w.owner_id}"
    return _user_link(w.owner_id)


PURPOSES = (("withdrawal", "Withdrawal"), ("settlement", "Merchant settlement"))
OWNERS = (("user", "User"), ("merchant", "Merchant"))


@router.get("/withdrawals")
async def withdrawal_queue(page: AdminPage) -> Response:
    await page.require("payouts.review")
    owner_type = choice(page, "owner_type", [v for v, _ in OWNERS])
    purpose = choice(page, "purpose", [v for v, _ in PURPOSES])

    async def fetch(browse: Browse) -> Rows:
        rows = await payouts.browse_withdrawal_queue(page.session, browse, status="review",
                                                     owner_type=owner_type, purpose=purpose)
        makers = await _makers(page, rows.rows)
        return Rows([(w, *makers[w.id]) for w in rows.rows], rows.next_cursor)

    return await table(
        page, title="Withdrawals", fetch=fetch, default_sort="id",
        columns=[Column("Code", lambda r: r[0].code,
                        link=lambda r: f"{BASE}/withdrawals/{r[0].id}"),
                 Column("Owner", lambda r: f"{r[0].owner_type} {r[0].owner_id}",
                        link=lambda r: _owner_link(r[0])),
                 Column("Purpose", lambda r: r[0].purpose), Column("Kind", lambda r: r[0].kind),
                 Column("Amount", lambda r: f"{money(r[0].amount)} {r[0].asset_code}",
                        sort="amount", numeric=True),
                 Column("Made by", lambda r: r[1]), Column("Last edited by", lambda r: r[2]),
                 Column("Approvals needed", lambda r: r[0].approvals_needed, numeric=True),
                 Column("Requested", lambda r: when(r[0].created_at), sort="created_at")],
        filters=[Filter("owner_type", "Owner", OWNERS), Filter("purpose", "Purpose", PURPOSES)])


@router.get("/withdrawals/{withdrawal_id}")
async def withdrawal_item(withdrawal_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("payouts.review")
    w = await payouts.get_withdrawal(page.session, withdrawal_id)
    queued = await payouts.queued_withdrawal(page.session, withdrawal_id)
    maker, editor = (await _makers(page, [queued]))[w.id]
    deciders = await _admin_names(page, {d.admin_id for d in w.decisions})
    own = page.subject.id in (queued.created_by, queued.edited_by)
    return await _item(
        page, title=f"Withdrawal {w.code}", status=w.status, url=f"{BASE}/withdrawals/{w.id}",
        back=f"{BASE}/withdrawals", waiting=w.status == "review",
        template="queues/withdrawal.html", own=own, decisions=w.decisions, deciders=deciders,
        pairs=[("Owner", f"{w.owner_type} {w.owner_id}"), ("Made by", maker),
               ("Last edited by", editor or "nobody"), ("Purpose", w.purpose),
               ("Kind", w.kind), ("Amount", f"{money(w.amount)} {w.asset_code}"),
               ("Fee", money(w.fee)), ("Tax", money(w.tax)), ("Net", money(w.net)),
               ("Destination", w.destination), ("Approvals", f"{w.approvals} of "
                                                             f"{w.approvals_needed}"),
               ("Review round", w.round), ("Reason", w.reason),
               ("Requested", when(w.created_at))],
        actions=[Action("approve", "Approve", "payouts.review", reason="required"),
                 Action("reject", "Reject", "payouts.review", reason="required",
                        kind="danger")])


async def _decide_withdrawal(page: Page, withdrawal_id: uuid.UUID, approve: bool) -> Response:
    """As POST /v1/admin/withdrawals/{id}/approve and /reject: the maker-checker rules are the
    service's (withdrawals.decide), the audit entry and the payment's job the route's."""
    await page.require("payouts.review")
    body = WithdrawalDecisionIn.model_validate({"reason": await _text(page, "reason") or ""})
    before, after, due = await payouts.decide(page.session, withdrawal_id, page.subject,
                                              approve, body.reason)
    await audit.record(page.session, page.subject,
                       f"payouts.withdrawal.{'approve' if approve else 'reject'}", "withdrawal",
                       str(withdrawal_id), before=before.model_dump(mode="json"),
                       after={**after.model_dump(mode="json"), "decision_reason": body.reason})
    if due:
        await payouts.queue_disbursement(page.session, withdrawal_id)
    if after.status == "review":
        return page.redirect(f"{BASE}/withdrawals/{withdrawal_id}",
                             flash=f"Approved; {after.code} needs another approval.")
    return page.redirect(f"{BASE}/withdrawals", flash=f"{after.code} is {after.status}.")


@router.post("/withdrawals/{withdrawal_id}/approve")
async def approve_withdrawal(withdrawal_id: uuid.UUID, page: AdminPage) -> Response:
    return await _decide_withdrawal(page, withdrawal_id, True)


@router.post("/withdrawals/{withdrawal_id}/reject")
async def reject_withdrawal(withdrawal_id: uuid.UUID, page: AdminPage) -> Response:
    return await _decide_withdrawal(page, withdrawal_id, False)


# -- flagged reviews ---------------------------------------------------------------------------

@router.get("/reviews")
async def review_queue(page: AdminPage) -> Response:
    await page.require("reviews.moderate")

    async def fetch(browse: Browse) -> Rows:
        return await _with_merchants(page, await merchants.browse_flagged_reviews(
            page.session, browse))

    return await table(
        page, title="Flagged reviews", fetch=fetch, default_sort="-flags",
        columns=[Column("Written", lambda r: when(r[0].created_at),
                        link=lambda r: f"{BASE}/reviews/{r[0].id}", sort="created_at"),
                 Column("Merchant", lambda r: r[1]),
                 Column("Rating", lambda r: r[0].rating, numeric=True),
                 Column("Comment", lambda r: _short(r[0].comment)),
                 Column("Flags", lambda r: r[0].flag_count, sort="flags", numeric=True)])


@router.get("/reviews/{review_id}")
async def review_item(review_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("reviews.moderate")
    r = await merchants.get_review(page.session, review_id)
    merchant = await merchants.get_merchant(page.session, r.merchant_id)
    return await _item(
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
    body = ModerationIn.model_validate({"action": "hide", "reason": await _text(page, "reason")})
    await merchants.moderate_review(page.session, review_id, body.action, body.reason,
                                    page.subject)
    return page.redirect(f"{BASE}/reviews", flash="The review is hidden.")


@router.post("/reviews/{review_id}/keep")
async def keep_review(review_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("reviews.moderate")
    reason = await _text(page, "reason")
    if reason is not None and len(reason) > 2000:
        raise InvalidInput("The note is at most 2000 characters.", field="reason")
    await merchants.keep_review(page.session, review_id, reason, page.subject)
    return page.redirect(f"{BASE}/reviews", flash="The review stays; its flags are cleared.")


# -- support tickets ---------------------------------------------------------------------------

TICKET_STATUSES = (("open", "Open"), ("pending_agent", "Waiting on us"),
                   ("pending_user", "Waiting on the user"))
PRIORITIES = tuple((p, p.title()) for p in ("urgent", "high", "normal", "low"))
ASSIGNED = (("me", "Me"), ("nobody", "Nobody"))
MOVE_ORDER = ("pending_agent", "pending_user", "resolved", "closed")


@router.get("/tickets")
async def ticket_queue(page: AdminPage) -> Response:
    await page.require("support.read")
    status = choice(page, "status", [v for v, _ in TICKET_STATUSES])
    priority = choice(page, "priority", [v for v, _ in PRIORITIES])
    assigned = choice(page, "assigned", [v for v, _ in ASSIGNED])

    async def fetch(browse: Browse) -> Rows:
        return await support.browse_ticket_queue(
            page.session, browse, status=status, priority=priority,
            assignee_id=page.subject.id if assigned == "me" else None,
            unassigned=assigned == "nobody")

    return await table(
        page, title="Support tickets", fetch=fetch, default_sort="due",
        columns=[Column("Number", lambda t: t.number, link=lambda t: f"{BASE}/tickets/{t.id}"),
                 Column("Title", lambda t: _short(t.title, 60)),
                 Column("Category", lambda t: t.category), Column("Priority", lambda t: t.priority),
                 Column("Status", lambda t: t.status),
                 Column("Due", lambda t: when(t.sla.resolution_due_at), sort="due"),
                 Column("Late", lambda t: "yes" if t.sla.resolution_breached
                        or t.sla.first_response_breached else ""),
                 Column("Last message", lambda t: when(t.last_message_at),
                        sort="last_message_at")],
        filters=[Filter("status", "Status", TICKET_STATUSES),
                 Filter("priority", "Priority", PRIORITIES),
                 Filter("assigned", "Assigned to", ASSIGNED)])


async def _assignees(page: Page) -> list[Any]:
    """The admins a ticket may be assigned to, as support.assign allows them (active, and
    able to reply)."""
    return [a for a in await access.list_admins(page.session)
            if a.status == "active" and {"support.reply", "*"} & set(a.permissions)]


@router.get("/tickets/{ticket_id}")
async def ticket_item(ticket_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("support.read")
    t = await support.get_ticket(page.session, ticket_id)
    assignees = await _assignees(page) if page.can("support.manage") else []
    authors = await _admin_names(page, {m.author_id for m in t.messages
                                        if m.author_kind == "admin" and m.author_id})
    assignee = (await _admin_names(page, {t.assignee_id}))[t.assignee_id] if t.assignee_id else None
    return await _item(
        page, title=f"{t.number}: {t.title}", status=t.status, url=f"{BASE}/tickets/{t.id}",
        back=f"{BASE}/tickets", waiting=True, template="queues/ticket.html", ticket=t,
        moves=[m for m in MOVE_ORDER if m in support.MOVES[t.status]], assignees=assignees,
        authors=authors,
        pairs=[("User", t.user_id), ("Category", t.category), ("Priority", t.priority),
               ("About", t.subject_type + (f" {t.subject_id}" if t.subject_id else "")),
               ("Assigned to", assignee or "nobody"), ("Department", t.department),
               ("First response due", when(t.sla.first_response_due_at)),
               ("Resolution due", when(t.sla.resolution_due_at)),
               ("Opened", when(t.created_at))],
        actions=[])


@router.post("/tickets/{ticket_id}/reply")
async def reply_ticket(ticket_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("support.reply")
    body = AgentMessageIn.model_validate({"body": await _text(page, "body"),
                                          "internal": await _text(page, "internal") == "yes"})
    await support.reply(page.session, ticket_id, body, page.subject)
    return page.redirect(f"{BASE}/tickets/{ticket_id}",
                         flash="Note added." if body.internal else "Reply sent.")


@router.post("/tickets/{ticket_id}/status")
async def move_ticket(ticket_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("support.reply")
    body = TicketStatusIn.model_validate({"status": await _text(page, "status"),
                                          "note": await _text(page, "note")})
    t = await support.change_status(page.session, page.settings, ticket_id, body, page.subject)
    return page.redirect(f"{BASE}/tickets/{ticket_id}", flash=f"{t.number} is {t.status}.")


@router.post("/tickets/{ticket_id}/assign")
async def assign_ticket(ticket_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("support.manage")
    fields: dict[str, Any] = {"assignee_id": await _text(page, "assignee_id")}
    department = await _text(page, "department")
    if department is not None:
        fields["department"] = department
    t = await support.assign(page.session, ticket_id, AssignIn.model_validate(fields),
                             page.subject)
    return page.redirect(f"{BASE}/tickets/{ticket_id}", flash=f"{t.number} is reassigned.")


# -- risk events -------------------------------------------------------------------------------

@router.get("/risk")
async def risk_queue(page: AdminPage) -> Response:
    await page.require("risk.read")
    rule = choice(page, "rule", [r.value for r in Rule])

    async def fetch(browse: Browse) -> Rows:
        return await risk.browse_risk_queue(page.session, browse, status="pending", rule=rule)

    return await table(
        page, title="Risk events", fetch=fetch, default_sort="id",
        columns=[Column("Found", lambda e: when(e.created_at),
                        link=lambda e: f"{BASE}/risk/{e.id}", sort="created_at"),
                 Column("User", lambda e: e.user_id, link=lambda e: _user_link(e.user_id)),
                 Column("Rule", lambda e: e.rule.value),
                 Column("Score", lambda e: e.score, sort="score", numeric=True),
                 Column("Blocked", lambda e: "yes" if e.blocked else ""),
                 Column("About", lambda e: f"{e.subject_type} {_short(e.subject_id, 40)}")],
        filters=[Filter("rule", "Rule", tuple((r.value, r.value.replace("_", " "))
                                              for r in Rule))])


@router.get("/risk/{event_id}")
async def risk_item(event_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("risk.read")
    e = await risk.get_event(page.session, event_id)
    return await _item(
        page, title=f"Risk: {e.rule.value.replace('_', ' ')}", status=e.status.value,
        url=f"{BASE}/risk/{e.id}", back=f"{BASE}/risk", waiting=e.status.value == "pending",
        template="queues/risk.html", signals=e.signals,
        pairs=[("User", e.user_id), ("Score", f"{e.score} of 100"),
               ("Blocked the user", "yes" if e.blocked else "no"),
               ("About", f"{e.subject_type} {e.subject_id}"), ("Found", when(e.created_at)),
               ("Review note", e.review_note), ("Reviewed", when(e.reviewed_at))],
        actions=[Action("confirm", "Confirm", "risk.review", reason="optional"),
                 Action("dismiss", "Dismiss", "risk.review", reason="optional",
                        kind="secondary")])


async def _review_risk(page: Page, event_id: uuid.UUID, outcome: str) -> Response:
    await page.require("risk.review")
    body = RiskReviewIn.model_validate({"outcome": outcome, "note": await _text(page, "reason")})
    await risk.review(page.session, event_id, body, page.subject)
    return page.redirect(f"{BASE}/risk", flash=f"The risk event is {outcome}.")


@router.post("/risk/{event_id}/confirm")
async def confirm_risk(event_id: uuid.UUID, page: AdminPage) -> Response:
    return await _review_risk(page, event_id, "confirmed")


@router.post("/risk/{event_id}/dismiss")
async def dismiss_risk(event_id: uuid.UUID, page: AdminPage) -> Response:
    return await _review_risk(page, event_id, "dismissed")
