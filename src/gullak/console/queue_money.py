"""The withdrawals queue: payouts (users' withdrawals, merchants' settlements) held for
maker-checker review. Who made and who last edited a request is shown by name, since neither
may approve it; the decision is audited and, once approved enough, the payment is queued."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.console.queue_common import (
    BASE,
    Action,
    admin_names,
    item_page,
    money,
    posted,
    user_link,
    when,
)
from gullak.console.tables import Column, Filter, choice, table
from gullak.console.web import AdminPage, ConsoleRoute, Page
from gullak.kit import audit
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.payouts import service as payouts
from gullak.payouts.schemas import DecisionIn as WithdrawalDecisionIn

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


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
    names = await admin_names(page, admins)
    return {w.id: (_maker(w, names), names[w.edited_by] if w.edited_by else "") for w in rows}


def _owner_link(w: Any) -> str:
    if w.owner_type == "merchant":
        return f"/console/merchants/{w.owner_id}"
    return user_link(w.owner_id)


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
    deciders = await admin_names(page, {d.admin_id for d in w.decisions})
    own = page.subject.id in (queued.created_by, queued.edited_by)
    return await item_page(
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
    body = WithdrawalDecisionIn.model_validate({"reason": await posted(page, "reason") or ""})
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
