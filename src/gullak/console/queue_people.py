"""The queues about users: KYC records to verify, daily step counts held by the validation checks,
support tickets to answer, and risk events to confirm or dismiss. Decisions go through the
identity, activity, support and risk services; a KYC decision is audited here, as its API
route does."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.access import service as access
from gullak.activity import service as activity
from gullak.activity.schemas import DecisionIn as StepDecisionIn
from gullak.console.queue_common import (
    BASE,
    Action,
    admin_names,
    item_page,
    posted,
    short,
    user_link,
    when,
)
from gullak.console.tables import Column, Filter, choice, table
from gullak.console.web import AdminPage, ConsoleRoute, Page
from gullak.identity import service as identity
from gullak.identity.schemas import KycReviewIn
from gullak.kit import audit
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.risk import service as risk
from gullak.risk.schemas import ReviewIn as RiskReviewIn
from gullak.risk.schemas import Rule
from gullak.support import service as support
from gullak.support.schemas import AgentMessageIn, AssignIn
from gullak.support.schemas import StatusIn as TicketStatusIn

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


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
                 Column("User", lambda k: k.user_id, link=lambda k: user_link(k.user_id)),
                 Column("Document", lambda k: k.document_type), Column("Name", lambda k: k.name),
                 Column("Number", lambda k: k.document_number), Column("PAN", lambda k: k.pan)])


@router.get("/kyc/{record_id}")
async def kyc_item(record_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("kyc.review")
    k = await identity.get_kyc(page.session, record_id)
    return await item_page(
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
                                       "reason": await posted(page, "reason")})
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
                 Column("User", lambda v: v.user_id, link=lambda v: user_link(v.user_id)),
                 Column("Steps", lambda v: f"{v.steps:,}", numeric=True),
                 Column("Score", lambda v: v.score, sort="score", numeric=True),
                 Column("Checks", lambda v: _checks(v.reasons)),
                 Column("Held since", lambda v: when(v.created_at))])


@router.get("/steps/{validation_id}")
async def step_item(validation_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("activity.review")
    v = await activity.get_step_review(page.session, validation_id)
    waiting = v.outcome == "review" and v.decided_at is None
    return await item_page(
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
                                          "reason": await posted(page, "reason") or ""})
    out = await activity.decide(page.session, validation_id, body, page.subject)
    return page.redirect(f"{BASE}/steps", flash=f"The steps of {out.day} are {out.outcome}.")


@router.post("/steps/{validation_id}/approve")
async def approve_steps(validation_id: uuid.UUID, page: AdminPage) -> Response:
    return await _decide_steps(page, validation_id, "approve")


@router.post("/steps/{validation_id}/reject")
async def reject_steps(validation_id: uuid.UUID, page: AdminPage) -> Response:
    return await _decide_steps(page, validation_id, "reject")


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
                 Column("Title", lambda t: short(t.title, 60)),
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
    authors = await admin_names(page, {m.author_id for m in t.messages
                                       if m.author_kind == "admin" and m.author_id})
    assignee = (await admin_names(page, {t.assignee_id}))[t.assignee_id] if t.assignee_id else None
    return await item_page(
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
    body = AgentMessageIn.model_validate({"body": await posted(page, "body"),
                                          "internal": await posted(page, "internal") == "yes"})
    await support.reply(page.session, ticket_id, body, page.subject)
    return page.redirect(f"{BASE}/tickets/{ticket_id}",
                         flash="Note added." if body.internal else "Reply sent.")


@router.post("/tickets/{ticket_id}/status")
async def move_ticket(ticket_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("support.reply")
    body = TicketStatusIn.model_validate({"status": await posted(page, "status"),
                                          "note": await posted(page, "note")})
    t = await support.change_status(page.session, page.settings, ticket_id, body, page.subject)
    return page.redirect(f"{BASE}/tickets/{ticket_id}", flash=f"{t.number} is {t.status}.")


@router.post("/tickets/{ticket_id}/assign")
async def assign_ticket(ticket_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("support.manage")
    fields: dict[str, Any] = {"assignee_id": await posted(page, "assignee_id")}
    department = await posted(page, "department")
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
                 Column("User", lambda e: e.user_id, link=lambda e: user_link(e.user_id)),
                 Column("Rule", lambda e: e.rule.value),
                 Column("Score", lambda e: e.score, sort="score", numeric=True),
                 Column("Blocked", lambda e: "yes" if e.blocked else ""),
                 Column("About", lambda e: f"{e.subject_type} {short(e.subject_id, 40)}")],
        filters=[Filter("rule", "Rule", tuple((r.value, r.value.replace("_", " "))
                                              for r in Rule))])


@router.get("/risk/{event_id}")
async def risk_item(event_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("risk.read")
    e = await risk.get_event(page.session, event_id)
    return await item_page(
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
    body = RiskReviewIn.model_validate({"outcome": outcome, "note": await posted(page, "reason")})
    await risk.review(page.session, event_id, body, page.subject)
    return page.redirect(f"{BASE}/risk", flash=f"The risk event is {outcome}.")


@router.post("/risk/{event_id}/confirm")
async def confirm_risk(event_id: uuid.UUID, page: AdminPage) -> Response:
    return await _review_risk(page, event_id, "confirmed")


@router.post("/risk/{event_id}/dismiss")
async def dismiss_risk(event_id: uuid.UUID, page: AdminPage) -> Response:
    return await _review_risk(page, event_id, "dismissed")
