"""The work queues through HTTP as an admin's browser uses them: each queue lists what waits,
its decisions change state through the domain's service and are audited, the menu's count
drops, an admin without the permission is refused (403) and changes nothing, and a withdrawal
cannot be approved by the admin who made it."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import service as identity
from gullak.identity.schemas import KycDocument, KycIn
from gullak.kit import clock
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import TransferIn
from gullak.merchants import reviews
from gullak.merchants import service as merchants
from gullak.merchants.schemas import DocumentIn, Status, UserReviewIn
from gullak.payouts import service as payouts
from gullak.payouts.schemas import WithdrawalIn, WithdrawalKind, WithdrawalPatch
from gullak.risk.models import RiskEvent
from gullak.settings import Settings
from gullak.support import service as support
from gullak.support.schemas import TicketIn
from tests.activity.support import freeze, sync, walk
from tests.helpers import merchants as merchant_factory
from tests.helpers.console import Browser, admin_browser, super_browser
from tests.helpers.http import http_client
from tests.helpers.offers import live_merchant, make_offer
from tests.orders.support import ensure_assets
from tests.risk.support import make_user

QUEUES = ("merchants", "offers", "kyc", "steps", "withdrawals", "reviews", "tickets", "risk")


def badge(page: str, path: str) -> int:
    """The count beside a queue's name in the menu (none shown: 0)."""
    found = re.search(rf'<a href="{re.escape(path)}"[^>]*>\s*<span>[^<]*</span>'
                      r'(?:<span class="badge">(\d+)</span>)?', page)
    assert found, f"{path} is not in the menu"
    return int(found.group(1) or 0)


async def count(browser: Browser, queue: str) -> int:
    r = await browser.get("/console")
    assert r.status_code == 200, r.text
    return badge(r.text, f"/console/queues/{queue}")


async def audited(session: AsyncSession, entity_id: object) -> list[tuple[str, str, str]]:
    """(action, actor id, outcome) of the audit entries about `entity_id`, oldest first."""
    rows = await session.execute(text(
        "SELECT action, actor_id::text, outcome FROM audit_log WHERE entity_id = :e"
        " ORDER BY at, id"), {"e": str(entity_id)})
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def denials(session: AsyncSession, admin_id: uuid.UUID, permission: str) -> int:
    return int(await session.scalar(text(
        "SELECT count(*) FROM audit_log WHERE actor_id = :a AND action = :p"
        " AND outcome = 'denied'"), {"a": admin_id, "p": f"denied:{permission}"}) or 0)


def clean(page: str) -> None:
    """What the policy would block: no inline script, style or handler on a console page."""
    body = page.split("<body>", 1)[-1]
    assert not re.search(r"<script(?![^>]*\bsrc=)", body)
    assert " style=" not in body and not re.search(r"\son[a-z]+=", body)


# -- every queue -------------------------------------------------------------------------------

@pytest.mark.parametrize("queue", QUEUES)
async def test_every_queue_answers_and_refuses_bad_parameters(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        queue: str) -> None:
    browser = await super_browser(client, session, settings)
    r = await browser.get(f"/console/queues/{queue}")
    assert r.status_code == 200, r.text
    clean(r.text)
    csv = await browser.get(f"/console/queues/{queue}", format="csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    for bad in ({"sort": "password"}, {"cursor": "not-a-cursor"}):
        assert (await browser.get(f"/console/queues/{queue}", **bad)).status_code == 422
    assert (await browser.get(f"/console/queues/{queue}/{uuid.uuid4()}")).status_code == 404
    assert (await browser.get(f"/console/queues/{queue}/nope")).status_code == 422


async def test_a_queue_needs_its_permission(client: httpx.AsyncClient, session: AsyncSession,
                                            settings: Settings) -> None:
    browser = await admin_browser(client, session, settings, "merchants.read", "payouts.read")
    for queue in QUEUES:
        r = await browser.get(f"/console/queues/{queue}")
        assert r.status_code == 403, queue
    home = await browser.get("/console")
    assert "/console/queues/" not in home.text


# -- merchants ---------------------------------------------------------------------------------

async def submitted_merchant(session: AsyncSession, name: str) -> tuple[uuid.UUID, uuid.UUID]:
    merchant = await merchant_factory.new_merchant(session, name)
    document = await merchants.add_document(session, merchant.id, DocumentIn(
        document_type="shop_license", file_url="https://files.example/licence.pdf"), None)
    await merchants.set_status(session, merchant.id, Status.documents_submitted, None, None)
    return merchant.id, document.id


async def test_a_merchant_is_approved_from_the_queue(client: httpx.AsyncClient,
                                                     session: AsyncSession,
                                                     settings: Settings) -> None:
    merchant_id, document_id = await submitted_merchant(session, "Queue Cafe Approved")
    browser = await admin_browser(client, session, settings, "merchants.review")
    before = await count(browser, "merchants")
    assert before >= 1
    r = await browser.get("/console/queues/merchants", q="Queue Cafe")
    assert "Queue Cafe Approved" in r.text and f"/console/queues/merchants/{merchant_id}" in r.text
    r = await browser.get(f"/console/queues/merchants/{merchant_id}")
    assert r.status_code == 200 and "shop_license" in r.text and ">Approve</button>" in r.text
    clean(r.text)

    r = await browser.post(f"/console/queues/merchants/{merchant_id}/approve")
    assert r.status_code == 303, r.text
    session.expire_all()
    assert (await merchants.get_merchant(session, merchant_id)).status == "live"
    assert [d.status for d in await merchants.list_documents(session, merchant_id)] == [
        "verified"]
    actions = [(a, actor) for a, actor, _ in await audited(session, merchant_id)]
    assert ("merchant.status.verified", str(browser.subject_id)) in actions
    assert ("merchant.status.live", str(browser.subject_id)) in actions
    assert ("merchant_document.verified", str(browser.subject_id)) in [
        (a, actor) for a, actor, _ in await audited(session, document_id)]
    assert await count(browser, "merchants") == before - 1

    verified, document_id = await submitted_merchant(session, "Queue Cafe Verified")
    await merchants.review_document(session, verified, document_id, True, None, None)
    await merchants.set_status(session, verified, Status.verified, None, None)
    r = await browser.get("/console/queues/merchants", status="verified")
    assert "Queue Cafe Verified" in r.text and "Queue Cafe Approved" not in r.text
    assert (await browser.get("/console/queues/merchants", status="live")).status_code == 422
    assert (await browser.post(f"/console/queues/merchants/{verified}/approve")).status_code == 303
    assert (await browser.post(f"/console/queues/merchants/{verified}/approve")).status_code == 409
    session.expire_all()
    assert (await merchants.get_merchant(session, verified)).status == "live"


async def test_a_merchant_is_rejected_only_with_a_reason(client: httpx.AsyncClient,
                                                         session: AsyncSession,
                                                         settings: Settings) -> None:
    merchant_id, document_id = await submitted_merchant(session, "Queue Cafe Rejected")
    browser = await admin_browser(client, session, settings, "merchants.review")
    r = await browser.post(f"/console/queues/merchants/{merchant_id}/reject", {"reason": "  "})
    assert r.status_code == 422
    r = await browser.post(f"/console/queues/merchants/{merchant_id}/documents/{document_id}"
                           "/rejected", {"reason": "blurred scan"})
    assert r.status_code == 303, r.text
    r = await browser.post(f"/console/queues/merchants/{merchant_id}/reject",
                           {"reason": "The licence is not readable"})
    assert r.status_code == 303, r.text
    session.expire_all()
    merchant = await merchants.get_merchant(session, merchant_id)
    assert (merchant.status, merchant.status_reason) == ("rejected", "The licence is not readable")
    documents = await merchants.list_documents(session, merchant_id)
    assert [(d.status, d.reason) for d in documents] == [("rejected", "blurred scan")]


async def test_approving_a_merchant_needs_merchants_review(client: httpx.AsyncClient,
                                                           session: AsyncSession,
                                                           settings: Settings) -> None:
    merchant_id, _ = await submitted_merchant(session, "Queue Cafe Refused")
    browser = await admin_browser(client, session, settings, "merchants.read")
    r = await browser.post(f"/console/queues/merchants/{merchant_id}/approve")
    assert r.status_code == 403
    session.expire_all()
    assert (await merchants.get_merchant(session, merchant_id)).status == "documents_submitted"
    assert await denials(session, browser.subject_id, "merchants.review") == 1


# -- offers ------------------------------------------------------------------------------------

async def test_an_offer_is_approved_or_rejected(app: FastAPI, client: httpx.AsyncClient,
                                                session: AsyncSession,
                                                settings: Settings) -> None:
    merchant_id, _ = await live_merchant(session)
    good = await make_offer(session, merchant_id, status="pending", title="Queue good offer")
    bad = await make_offer(session, merchant_id, status="pending", title="Queue bad offer")
    reader = await admin_browser(client, session, settings, "offers.read")
    assert (await reader.post(f"/console/queues/offers/{good.id}/approve")).status_code == 403
    async with http_client(app) as other:
        browser = await admin_browser(other, session, settings, "offers.review")
        before = await count(browser, "offers")
        r = await browser.get("/console/queues/offers")
        assert "Queue good offer" in r.text and "Queue bad offer" in r.text
        r = await browser.get(f"/console/queues/offers/{good.id}")
        assert r.status_code == 200
        assert ">Approve</button>" in r.text and ">Reject</button>" in r.text
        assert (await browser.post(f"/console/queues/offers/{good.id}/approve")).status_code == 303
        r = await browser.post(f"/console/queues/offers/{bad.id}/reject", {"reason": ""})
        assert r.status_code == 422
        r = await browser.post(f"/console/queues/offers/{bad.id}/reject",
                               {"reason": "Misleading title"})
        assert r.status_code == 303
        assert await count(browser, "offers") == before - 2
        again = await browser.post(f"/console/queues/offers/{good.id}/approve")
        assert again.status_code == 409
    session.expire_all()
    from gullak.offers import service as offers

    assert (await offers.get_offer(session, good.id)).status == "active"
    rejected = await offers.get_offer(session, bad.id)
    assert (rejected.status, rejected.status_reason) == ("rejected", "Misleading title")
    assert ("offer.approve", str(browser.subject_id), "ok") in await audited(session, good.id)


# -- KYC ---------------------------------------------------------------------------------------

async def test_kyc_is_verified_or_rejected(client: httpx.AsyncClient, session: AsyncSession,
                                           settings: Settings) -> None:
    one, two = await make_user(session), await make_user(session)
    first = await identity.submit_kyc(session, settings, one, KycIn(
        document_type=KycDocument.pan, document_number="ABCDE1234F", name="Asha Rao"))
    second = await identity.submit_kyc(session, settings, two, KycIn(
        document_type=KycDocument.pan, document_number="ABCDE5678F"))
    browser = await admin_browser(client, session, settings, "kyc.review")
    before = await count(browser, "kyc")
    r = await browser.get("/console/queues/kyc")
    assert f"/console/queues/kyc/{first.id}" in r.text and "ABCDE1234F" not in r.text
    r = await browser.get(f"/console/queues/kyc/{first.id}")
    assert "Asha Rao" in r.text and "234F" in r.text and "ABCDE1234F" not in r.text
    assert (await browser.post(f"/console/queues/kyc/{first.id}/approve")).status_code == 303
    assert (await browser.post(f"/console/queues/kyc/{second.id}/reject")).status_code == 422
    r = await browser.post(f"/console/queues/kyc/{second.id}/reject",
                           {"reason": "The name does not match"})
    assert r.status_code == 303
    assert await count(browser, "kyc") == before - 2
    assert (await browser.post(f"/console/queues/kyc/{first.id}/reject",
                               {"reason": "late"})).status_code == 409
    assert (await identity.get_kyc(session, first.id)).status == "verified"
    assert (await identity.get_kyc(session, second.id)).reason == "The name does not match"
    assert [(a, actor) for a, actor, _ in await audited(session, first.id)] == [
        ("kyc.verify", str(browser.subject_id))]


# -- step validations --------------------------------------------------------------------------

async def test_held_steps_are_approved_with_a_reason(client: httpx.AsyncClient,
                                                     session: AsyncSession,
                                                     settings: Settings) -> None:
    freeze()
    await ensure_assets(session)
    user = uuid.uuid4()
    await sync(session, user, walk(70_000, hours=10))
    browser = await admin_browser(client, session, settings, "activity.review")
    before = await count(browser, "steps")
    r = await browser.get("/console/queues/steps")
    found = re.search(rf'href="/console/queues/steps/([0-9a-f-]+)">[^<]*</a></td>\s*'
                      rf'<td><a href="/console/users/{user}"', r.text)
    assert found, r.text
    item = f"/console/queues/steps/{found.group(1)}"
    page = await browser.get(item)
    assert "daily_cap" in page.text
    assert (await browser.post(f"{item}/approve")).status_code == 422  # no reason
    r = await browser.post(f"{item}/approve", {"reason": "a marathon, checked"})
    assert r.status_code == 303, r.text
    assert await count(browser, "steps") == before - 1
    status = await session.scalar(text(
        "SELECT status FROM daily_step_summary WHERE user_id = :u"), {"u": user})
    assert status == "verified"
    assert ("activity.review.approve", str(browser.subject_id), "ok") in await audited(
        session, found.group(1))


# -- withdrawals -------------------------------------------------------------------------------

async def requested_withdrawal(session: AsyncSession, settings: Settings,
                               amount: int = 100_000) -> tuple[uuid.UUID, uuid.UUID]:
    """A user's gift-voucher withdrawal waiting for review: (user, withdrawal)."""
    await ensure_assets(session)
    user = await make_user(session)
    source = await ledger.platform_account(session, "INR", "issuance")
    wallet = await ledger.user_account(session, user, "INR")
    await ledger.transfer(session, TransferIn(
        debit_account_id=source.id, credit_account_id=wallet.id, asset_code="INR",
        amount=300_000, kind="cashback"))
    data = WithdrawalIn(amount=amount, kind=WithdrawalKind.gift_voucher)
    out, due = await payouts.request(session, settings, "user", user, data,
                                     f"queue-{uuid.uuid4()}", Subject("user", user))
    assert out.status == "review" and not due
    return user, out.id


async def test_the_maker_of_a_withdrawal_cannot_approve_it(app: FastAPI,
                                                           client: httpx.AsyncClient,
                                                           session: AsyncSession,
                                                           settings: Settings) -> None:
    user, withdrawal_id = await requested_withdrawal(session, settings)
    maker = await admin_browser(client, session, settings, "payouts.review", "payouts.manage")
    # The admin "makes" the request theirs by editing it (PATCH /v1/admin/withdrawals/{id}).
    await payouts.edit(session, settings, withdrawal_id,
                       Subject("admin", maker.subject_id, frozenset({"payouts.manage"})),
                       WithdrawalPatch(amount=90_000, reason="Asked for less on the phone"))
    r = await maker.get("/console/queues/withdrawals")
    assert f"/console/queues/withdrawals/{withdrawal_id}" in r.text and "900.00" in r.text
    row = r.text.split(f"/console/queues/withdrawals/{withdrawal_id}")[1].split("</tr>")[0]
    assert "the user" in row and "Test Admin" in row  # made by the user, edited by the admin
    r = await maker.get(f"/console/queues/withdrawals/{withdrawal_id}")
    assert "You made or last edited this request" in r.text
    before = await count(maker, "withdrawals")

    refused = await maker.post(f"/console/queues/withdrawals/{withdrawal_id}/approve",
                               {"reason": "looks fine"})
    assert refused.status_code == 403 and "another admin" in refused.text
    session.expire_all()
    w = await payouts.get_withdrawal(session, withdrawal_id)
    assert (w.status, w.approvals, w.decisions) == ("review", 0, [])
    assert not [a for a, _, _ in await audited(session, withdrawal_id)
                if a.startswith("payouts.withdrawal.approve")]

    async with http_client(app) as other:
        checker = await admin_browser(other, session, settings, "payouts.review")
        r = await checker.get(f"/console/queues/withdrawals/{withdrawal_id}")
        assert "You made or last edited" not in r.text and ">Approve</button>" in r.text
        r = await checker.post(f"/console/queues/withdrawals/{withdrawal_id}/approve",
                               {"reason": "called the user back"})
        assert r.status_code == 303, r.text
        assert await count(checker, "withdrawals") == before - 1
    session.expire_all()
    w = await payouts.get_withdrawal(session, withdrawal_id)
    assert w.status == "approved" and [d.admin_id for d in w.decisions] == [checker.subject_id]
    assert ("payouts.withdrawal.approve", str(checker.subject_id), "ok") in await audited(
        session, withdrawal_id)
    jobs = await session.scalar(text(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'payouts.disburse'"
        " AND args ->> 'withdrawal_id' = :w"), {"w": str(withdrawal_id)})
    assert jobs == 1


async def test_a_withdrawal_is_rejected_and_released(client: httpx.AsyncClient,
                                                     session: AsyncSession,
                                                     settings: Settings) -> None:
    user, withdrawal_id = await requested_withdrawal(session, settings)
    reader = await admin_browser(client, session, settings, "payouts.read")
    r = await reader.post(f"/console/queues/withdrawals/{withdrawal_id}/reject",
                          {"reason": "duplicate"})
    assert r.status_code == 403
    session.expire_all()
    assert (await payouts.get_withdrawal(session, withdrawal_id)).status == "review"


async def test_a_withdrawal_is_rejected_by_a_reviewer(client: httpx.AsyncClient,
                                                      session: AsyncSession,
                                                      settings: Settings) -> None:
    user, withdrawal_id = await requested_withdrawal(session, settings)
    browser = await admin_browser(client, session, settings, "payouts.review")
    r = await browser.get("/console/queues/withdrawals", owner_type="user", format="csv")
    assert str(withdrawal_id) not in r.text and "the user" in r.text
    assert (await browser.post(f"/console/queues/withdrawals/{withdrawal_id}/reject",
                               {"reason": "x"})).status_code == 422
    r = await browser.post(f"/console/queues/withdrawals/{withdrawal_id}/reject",
                           {"reason": "The voucher was asked for twice"})
    assert r.status_code == 303
    session.expire_all()
    w = await payouts.get_withdrawal(session, withdrawal_id)
    assert (w.status, w.reason) == ("rejected", "The voucher was asked for twice")
    wallet = await ledger.user_account(session, user, "INR")
    assert (await ledger.balance(session, wallet.id)).held == 0


# -- flagged reviews ---------------------------------------------------------------------------

async def flagged_review(session: AsyncSession, comment: str) -> uuid.UUID:
    merchant = await merchant_factory.live_merchant(session, f"Reviewed {comment}")
    review = await reviews.create_review(session, uuid.uuid4(), merchant.id, UserReviewIn(
        order_id=f"ORD-{uuid.uuid4().hex[:8]}", rating=1, comment=comment))
    await reviews.flag(session, uuid.uuid4(), review.id, "abusive")
    return review.id


async def test_flagged_reviews_are_hidden_or_kept(client: httpx.AsyncClient,
                                                  session: AsyncSession,
                                                  settings: Settings) -> None:
    hidden = await flagged_review(session, "Worst place, the owner is a crook")
    kept = await flagged_review(session, "Slow service")
    browser = await admin_browser(client, session, settings, "reviews.moderate")
    before = await count(browser, "reviews")
    r = await browser.get("/console/queues/reviews")
    assert "Slow service" in r.text and "the owner is a crook" in r.text
    assert (await browser.post(f"/console/queues/reviews/{hidden}/hide")).status_code == 422
    r = await browser.post(f"/console/queues/reviews/{hidden}/hide", {"reason": "insults"})
    assert r.status_code == 303
    r = await browser.post(f"/console/queues/reviews/{kept}/keep")
    assert r.status_code == 303
    assert await count(browser, "reviews") == before - 2
    session.expire_all()
    assert (await merchants.get_review(session, hidden)).status == "hidden"
    still = await merchants.get_review(session, kept)
    assert (still.status, still.flag_count) == ("visible", 0)
    assert [a for a, _, _ in await audited(session, kept)] == ["review.keep"]
    assert [a for a, _, _ in await audited(session, hidden)] == ["review.hide"]


# -- support tickets ---------------------------------------------------------------------------

async def test_a_ticket_is_answered_assigned_and_closed(
        app: FastAPI, client: httpx.AsyncClient, session: AsyncSession,
        settings: Settings) -> None:
    user = await make_user(session)
    ticket = await support.open_ticket(session, settings, user, TicketIn(
        title="Where is my cashback?", body="It has been a week.\nStill nothing."))
    reader = await admin_browser(client, session, settings, "support.read")
    r = await reader.get(f"/console/queues/tickets/{ticket.id}")
    assert r.status_code == 200 and "Still nothing." in r.text
    assert ">Send</button>" not in r.text and "/assign" not in r.text
    assert (await reader.post(f"/console/queues/tickets/{ticket.id}/reply",
                              {"body": "Looking"})).status_code == 403
    async with http_client(app) as other:
        desk = await admin_browser(other, session, settings, "support.read", "support.reply",
                                    "support.manage")
        before = await count(desk, "tickets")
        r = await desk.get("/console/queues/tickets", status="open")
        assert ticket.number in r.text
        r = await desk.post(f"/console/queues/tickets/{ticket.id}/reply",
                             {"body": "We are on it.", "internal": "no"})
        assert r.status_code == 303, r.text
        assert await count(desk, "tickets") == before - 1
        r = await desk.post(f"/console/queues/tickets/{ticket.id}/assign",
                             {"assignee_id": str(desk.subject_id), "department": ""})
        assert r.status_code == 303, r.text
        r = await desk.get("/console/queues/tickets", assigned="me")
        assert ticket.number in r.text
        r = await desk.post(f"/console/queues/tickets/{ticket.id}/status",
                             {"status": "closed"})
        assert r.status_code == 303, r.text
        r = await desk.get(f"/console/queues/tickets/{ticket.id}")
        assert "We are on it." in r.text and ">Send</button>" not in r.text
    session.expire_all()
    out = await support.get_ticket(session, ticket.id)
    assert (out.status, out.assignee_id) == ("closed", desk.subject_id)
    assert [m.body for m in out.messages][-1] == "We are on it."
    actions = [a for a, _, _ in await audited(session, ticket.id)]
    assert actions == ["support.reply", "support.assign", "support.status"]


# -- risk events -------------------------------------------------------------------------------

async def risk_event(session: AsyncSession, score: int = 90) -> uuid.UUID:
    now = clock.now()
    event = RiskEvent(user_id=uuid.uuid4(), subject_type="user", subject_id="device-7",
                      rule="device_accounts", score=score, signals={"accounts": 5},
                      blocked=False, status="pending", created_at=now, updated_at=now)
    session.add(event)
    await session.flush()
    return event.id


async def test_risk_events_are_confirmed_or_dismissed(
        app: FastAPI, client: httpx.AsyncClient, session: AsyncSession,
        settings: Settings) -> None:
    confirmed, dismissed = await risk_event(session), await risk_event(session, 40)
    reader = await admin_browser(client, session, settings, "risk.read")
    r = await reader.get(f"/console/queues/risk/{confirmed}")
    assert r.status_code == 200 and "accounts" in r.text and ">Confirm</button>" not in r.text
    assert (await reader.post(f"/console/queues/risk/{confirmed}/confirm")).status_code == 403
    async with http_client(app) as other:
        reviewer = await admin_browser(other, session, settings, "risk.read", "risk.review")
        before = await count(reviewer, "risk")
        r = await reviewer.get("/console/queues/risk", rule="device_accounts", sort="-score")
        assert r.text.index(str(confirmed)) < r.text.index(str(dismissed))
        r = await reviewer.post(f"/console/queues/risk/{confirmed}/confirm",
                                {"reason": "same phone, five accounts"})
        assert r.status_code == 303
        r = await reviewer.post(f"/console/queues/risk/{dismissed}/dismiss")
        assert r.status_code == 303
        assert await count(reviewer, "risk") == before - 2
    from gullak.risk import service as risk

    session.expire_all()
    event = await risk.get_event(session, confirmed)
    assert (event.status, event.review_note, event.reviewed_by) == (
        "confirmed", "same phone, five accounts", reviewer.subject_id)
    assert (await risk.get_event(session, dismissed)).status == "dismissed"
    assert [a for a, _, _ in await audited(session, confirmed)] == ["risk.review"]
