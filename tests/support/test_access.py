"""Who sees what: a user only their own tickets (another's is 404, as if missing, and nothing
is written); internal notes and internal attachments never reach the user; agents need their
permissions, the customer view its own; every agent action is in the audit log."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.access import service as access
from gullak.access.schemas import AdminUpdateIn
from gullak.ledger import service as ledger
from gullak.settings import Settings
from tests.helpers.admins import Admin, admin_with
from tests.helpers.ledger import make_book
from tests.helpers.problems import assert_problem
from tests.helpers.state import audit_rows, fingerprint
from tests.helpers.users import SignedIn
from tests.support.tickets import open_ticket

SECRET_NOTE = "Internal: user flagged by risk, do not refund"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"x" * 40).decode()


async def test_another_users_ticket_is_not_found(api: httpx.AsyncClient,
                                                 connection: AsyncConnection, alice: SignedIn,
                                                 bob: SignedIn, agent: Admin) -> None:
    ticket = await open_ticket(api, alice)
    r = await api.post(f"/v1/me/tickets/{ticket['id']}/attachments", headers=alice.headers,
                       json={"filename": "a.png", "content_type": "image/png",
                             "content_base64": PNG})
    attachment = r.json()["id"]
    await api.post(f"/v1/admin/tickets/{ticket['id']}/status", headers=agent.headers,
                   json={"status": "resolved"})
    base = f"/v1/me/tickets/{ticket['id']}"
    before = await fingerprint(connection, exclude=("audit_log",))
    attempts = [
        ("GET", base, None),
        ("POST", f"{base}/messages", {"body": "hello"}),
        ("POST", f"{base}/attachments", {"filename": "b.png", "content_type": "image/png",
                                          "content_base64": PNG}),
        ("GET", f"{base}/attachments/{attachment}", None),
        ("POST", f"{base}/rate", {"rating": 1}),
        ("POST", f"{base}/reopen", {}),
    ]
    for method, url, body in attempts:
        r = await api.request(method, url, headers=bob.headers, json=body)
        assert_problem(r, 404, "ticket_not_found")
    assert await fingerprint(connection, exclude=("audit_log",)) == before
    r = await api.get("/v1/me/tickets", headers=bob.headers)
    assert r.json()["items"] == []
    # The owner still has it, untouched.
    r = await api.get(base, headers=alice.headers)
    assert r.status_code == 200 and r.json()["rating"] is None


async def test_a_missing_ticket_answers_the_same(api: httpx.AsyncClient,
                                                 alice: SignedIn) -> None:
    r = await api.get(f"/v1/me/tickets/{uuid.uuid4()}", headers=alice.headers)
    assert_problem(r, 404, "ticket_not_found")


async def test_internal_notes_and_files_never_reach_the_user(
        api: httpx.AsyncClient, alice: SignedIn, agent: Admin) -> None:
    ticket = await open_ticket(api, alice)
    tid = ticket["id"]
    r = await api.post(f"/v1/admin/tickets/{tid}/messages", headers=agent.headers,
                       json={"body": SECRET_NOTE, "internal": True})
    assert r.status_code == 200
    assert r.json()["status"] == "open"  # a note is not an answer
    assert r.json()["sla"]["first_responded_at"] is None
    r = await api.post(f"/v1/admin/tickets/{tid}/attachments", headers=agent.headers,
                       json={"filename": "risk.txt", "content_type": "text/plain",
                             "content_base64": base64.b64encode(b"risk report").decode(),
                             "internal": True})
    assert r.status_code == 201 and r.json()["internal"] is True
    internal_file = r.json()["id"]
    r = await api.post(f"/v1/admin/tickets/{tid}/messages", headers=agent.headers,
                       json={"body": "We are checking with the store."})
    # Everything the user can read: the ticket, the list, the answers to their own writes.
    seen = [
        (await api.get(f"/v1/me/tickets/{tid}", headers=alice.headers)).text,
        (await api.get("/v1/me/tickets", headers=alice.headers)).text,
        (await api.post(f"/v1/me/tickets/{tid}/messages", headers=alice.headers,
                        json={"body": "ok"})).text,
    ]
    for text in seen:
        assert SECRET_NOTE not in text and "risk.txt" not in text and internal_file not in text
        assert "assignee" not in text and "internal" not in text
    mine = (await api.get(f"/v1/me/tickets/{tid}", headers=alice.headers)).json()
    assert [m["body"] for m in mine["messages"]] == [
        "It has been a week.", "We are checking with the store.", "ok"]
    r = await api.get(f"/v1/me/tickets/{tid}/attachments/{internal_file}",
                      headers=alice.headers)
    assert_problem(r, 404, "attachment_not_found")
    # Agents see it all.
    theirs = (await api.get(f"/v1/admin/tickets/{tid}", headers=agent.headers)).json()
    assert SECRET_NOTE in [m["body"] for m in theirs["messages"]]
    assert [a["filename"] for a in theirs["attachments"]] == ["risk.txt"]


@pytest.mark.parametrize(("method", "path", "body", "needs"), [
    ("GET", "/v1/admin/tickets", None, "support.read"),
    ("GET", "/v1/admin/tickets/{id}", None, "support.read"),
    ("POST", "/v1/admin/tickets/{id}/messages", {"body": "hi"}, "support.reply"),
    ("POST", "/v1/admin/tickets/{id}/status", {"status": "resolved"}, "support.reply"),
    ("POST", "/v1/admin/tickets/{id}/assign", {"department": None}, "support.manage"),
    ("PATCH", "/v1/admin/tickets/{id}", {"priority": "high"}, "support.manage"),
    ("GET", "/v1/admin/tickets/{id}/customer", None, "support.view_customer"),
    ("POST", "/v1/admin/support/canned-replies", {"code": "x1", "title": "t", "body": "b"},
     "support.manage"),
])
async def test_agents_need_the_permission(api: httpx.AsyncClient, session: AsyncSession,
                                          settings: Settings, alice: SignedIn, method: str,
                                          path: str, body: object, needs: str) -> None:
    ticket = await open_ticket(api, alice)
    others = {"support.read", "support.reply", "support.manage", "support.view_customer"}
    without = await admin_with(api, session, settings, *sorted(others - {needs}))
    url = path.format(id=ticket["id"])
    r = await api.request(method, url, headers=without.headers, json=body)
    body_ = assert_problem(r, 403, "forbidden")
    assert body_["permission"] == needs
    # Users are refused outright.
    r = await api.request(method, url, headers=alice.headers, json=body)
    assert r.status_code == 403
    holder = await admin_with(api, session, settings, needs)
    r = await api.request(method, url, headers=holder.headers, json=body)
    assert r.status_code in (200, 201), r.text


async def test_the_customer_view(api: httpx.AsyncClient, connection: AsyncConnection,
                                 session: AsyncSession, settings: Settings,
                                 alice: SignedIn) -> None:
    book = await make_book(session)
    coins = await ledger.user_account(session, uuid.UUID(alice.user["id"]), "COIN")
    await book.fund(coins, 250)
    await book.fund(coins, 40)
    ticket = await open_ticket(api, alice)
    viewer = await admin_with(api, session, settings, "support.view_customer")
    r = await api.get(f"/v1/admin/tickets/{ticket['id']}/customer", headers=viewer.headers)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["user_id"] == alice.user["id"]
    assert view["profile"]["phone"] == alice.phone
    balances = {b["asset_code"]: b["available"] for b in view["balances"]}
    assert balances == {"COIN": 290, "PROMO": 0, "INR": 0}  # every asset, zero if never held
    assert [(t["asset_code"], t["amount"]) for t in view["recent_transfers"]] == [
        ("COIN", 40), ("COIN", 250)]  # newest first
    assert view["recent_orders"] == [] and view["withdrawals"] == []
    assert [t["id"] for t in view["tickets"]] == [ticket["id"]]
    rows = await audit_rows(connection, action="support.view_customer")
    assert [(r["actor_id"], r["entity_id"]) for r in rows] == [(viewer.id, alice.user["id"])]


async def test_every_agent_action_is_audited(api: httpx.AsyncClient,
                                             connection: AsyncConnection,
                                             session: AsyncSession, settings: Settings,
                                             alice: SignedIn) -> None:
    lead = await admin_with(api, session, settings, "support.read", "support.reply",
                            "support.manage")
    ticket = await open_ticket(api, alice)
    tid = ticket["id"]
    steps = [
        ("PATCH", f"/v1/admin/tickets/{tid}", {"priority": "high"}),
        ("POST", f"/v1/admin/tickets/{tid}/assign", {"assignee_id": str(lead.id)}),
        ("POST", f"/v1/admin/tickets/{tid}/messages", {"body": "note", "internal": True}),
        ("POST", f"/v1/admin/tickets/{tid}/messages", {"body": "reply"}),
        ("POST", f"/v1/admin/tickets/{tid}/attachments", {
            "filename": "a.txt", "content_type": "text/plain",
            "content_base64": base64.b64encode(b"receipt").decode()}),
        ("POST", f"/v1/admin/tickets/{tid}/status", {"status": "resolved"}),
    ]
    for method, url, body in steps:
        r = await api.request(method, url, headers=lead.headers, json=body)
        assert r.status_code in (200, 201), r.text
    rows = await audit_rows(connection, entity_type="support_ticket", entity_id=tid)
    assert [r["action"] for r in rows] == [
        "support.update", "support.assign", "support.note", "support.reply",
        "support.attach", "support.status"]
    assert {r["actor_id"] for r in rows} == {lead.id}
    assert rows[0]["before"]["priority"] == "normal" and rows[0]["after"]["priority"] == "high"
    assert rows[1]["after"]["assignee_id"] == str(lead.id)
    assert rows[-1]["after"]["status"] == "resolved"
    # Users' own writes are theirs, not the back office's: not audited.
    await api.post(f"/v1/me/tickets/{tid}/reopen", headers=alice.headers, json={})
    assert len(await audit_rows(connection, entity_type="support_ticket",
                                entity_id=tid)) == len(steps)


async def test_assignment_checks_the_agent_and_the_department(
        api: httpx.AsyncClient, session: AsyncSession, settings: Settings, alice: SignedIn,
        agent: Admin) -> None:
    ticket = await open_ticket(api, alice)
    url = f"/v1/admin/tickets/{ticket['id']}/assign"
    reader = await admin_with(api, session, settings, "support.read")
    for body, field in (({"assignee_id": str(uuid.uuid4())}, "assignee_id"),
                        ({"assignee_id": str(reader.id)}, "assignee_id"),
                        ({"department": "Nowhere"}, "department")):
        r = await api.post(url, headers=agent.headers, json=body)
        assert_problem(r, 422, "invalid_assignee", field=field)
    await access.update_admin(session, agent.id, AdminUpdateIn(departments=["Payments desk"]))
    r = await api.post(url, headers=agent.headers,
                       json={"assignee_id": str(agent.id), "department": "Payments desk"})
    assert r.status_code == 200, r.text
    assert (r.json()["assignee_id"], r.json()["department"]) == (str(agent.id), "Payments desk")
    r = await api.get("/v1/admin/tickets", headers=agent.headers,
                      params={"department": "Payments desk", "assignee_id": str(agent.id)})
    assert [t["id"] for t in r.json()["items"]] == [ticket["id"]]
    r = await api.post(url, headers=agent.headers, json={"assignee_id": None})
    assert (r.json()["assignee_id"], r.json()["department"]) == (None, "Payments desk")
    r = await api.get("/v1/admin/tickets", headers=agent.headers,
                      params={"unassigned": "true", "user_id": alice.user["id"]})
    assert [t["id"] for t in r.json()["items"]] == [ticket["id"]]
