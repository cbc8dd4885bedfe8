"""A ticket's life: opened with a number and its first message, waiting on the agent or the
user as they write, moved by agents only along the allowed moves, rated once, reopened only
within the window."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.kit import clock
from gullak.kit.security import Subject
from gullak.settings import Settings
from gullak.support import errors, service
from gullak.support.schemas import RatingIn, StatusIn, TicketIn
from tests.helpers.admins import Admin
from tests.helpers.problems import assert_problem
from tests.helpers.users import SignedIn
from tests.support.tickets import open_ticket


async def test_opening_gives_a_number_and_the_first_message(api: httpx.AsyncClient,
                                                            alice: SignedIn) -> None:
    first = await open_ticket(api, alice, category="cashback")
    second = await open_ticket(api, alice)
    assert re.fullmatch(r"TKT-\d{6}-\d{6}", str(first["number"]))
    assert first["number"] != second["number"]
    assert first["status"] == "open" and first["priority"] == "normal"
    assert first["category"] == "cashback" and first["subject_type"] == "general"
    assert [m["body"] for m in first["messages"]] == ["It has been a week."]  # type: ignore[index]
    r = await api.get("/v1/me/tickets", headers=alice.headers)
    assert [t["id"] for t in r.json()["items"]] == [second["id"], first["id"]]  # newest first
    r = await api.get("/v1/me/tickets", headers=alice.headers, params={"limit": 1})
    page = r.json()
    assert [t["id"] for t in page["items"]] == [second["id"]] and page["next_cursor"]
    r = await api.get("/v1/me/tickets", headers=alice.headers,
                      params={"limit": 1, "cursor": page["next_cursor"]})
    assert [t["id"] for t in r.json()["items"]] == [first["id"]]
    assert r.json()["next_cursor"] is None


async def test_replies_move_the_ticket_between_agent_and_user(
        api: httpx.AsyncClient, alice: SignedIn, agent: Admin) -> None:
    ticket = await open_ticket(api, alice)
    r = await api.post(f"/v1/admin/tickets/{ticket['id']}/messages", headers=agent.headers,
                       json={"body": "Could you share the order number?"})
    assert r.status_code == 200 and r.json()["status"] == "pending_user"
    assert r.json()["sla"]["first_responded_at"] is not None
    r = await api.post(f"/v1/me/tickets/{ticket['id']}/messages", headers=alice.headers,
                       json={"body": "ORD-202612-000001"})
    assert r.status_code == 200 and r.json()["status"] == "pending_agent"
    assert [m["author_kind"] for m in r.json()["messages"]] == ["user", "admin", "user"]


async def test_agents_move_only_along_the_allowed_moves(api: httpx.AsyncClient,
                                                        alice: SignedIn, agent: Admin) -> None:
    ticket = await open_ticket(api, alice)
    url = f"/v1/admin/tickets/{ticket['id']}/status"
    r = await api.post(url, headers=agent.headers, json={"status": "open"})
    assert_problem(r, 409, "invalid_ticket_transition")
    r = await api.post(url, headers=agent.headers, json={"status": "resolved",
                                                         "note": "Credited by hand."})
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert r.json()["sla"]["resolved_at"] is not None
    assert r.json()["messages"][-1]["internal"] is True
    r = await api.post(url, headers=agent.headers, json={"status": "pending_user"})
    assert_problem(r, 409, "invalid_ticket_transition")
    r = await api.post(url, headers=agent.headers, json={"status": "closed"})
    assert r.status_code == 200 and r.json()["closed_at"] is not None
    for target in ("open", "pending_agent", "pending_user", "resolved", "closed"):
        r = await api.post(url, headers=agent.headers, json={"status": target})
        assert_problem(r, 409, "invalid_ticket_transition")
    # A closed ticket takes no reply and no message until it is reopened.
    r = await api.post(f"/v1/admin/tickets/{ticket['id']}/messages", headers=agent.headers,
                       json={"body": "One more thing"})
    assert_problem(r, 409, "ticket_not_open")
    r = await api.post(f"/v1/me/tickets/{ticket['id']}/messages", headers=alice.headers,
                       json={"body": "Thanks"})
    assert_problem(r, 409, "ticket_not_open")
    # An internal note is still possible: the back office's own record.
    r = await api.post(f"/v1/admin/tickets/{ticket['id']}/messages", headers=agent.headers,
                       json={"body": "Followed up by phone", "internal": True})
    assert r.status_code == 200 and r.json()["status"] == "closed"


def test_the_moves_table_covers_every_status() -> None:
    from gullak.support.models import STATUSES

    assert set(service.MOVES) == set(STATUSES)
    assert all(target in STATUSES and target != source
               for source, targets in service.MOVES.items() for target in targets)
    assert service.MOVES["closed"] == frozenset()


async def test_rating_once_and_only_when_resolved(api: httpx.AsyncClient, alice: SignedIn,
                                                  agent: Admin) -> None:
    ticket = await open_ticket(api, alice)
    url = f"/v1/me/tickets/{ticket['id']}/rate"
    r = await api.post(url, headers=alice.headers, json={"rating": 5})
    assert_problem(r, 409, "ticket_not_ratable")
    await api.post(f"/v1/admin/tickets/{ticket['id']}/status", headers=agent.headers,
                   json={"status": "closed"})
    r = await api.post(url, headers=alice.headers, json={"rating": 4, "comment": "Quick."})
    assert r.status_code == 200 and (r.json()["rating"], r.json()["rating_comment"]) == (
        4, "Quick.")
    r = await api.post(url, headers=alice.headers, json={"rating": 1})
    assert_problem(r, 409, "ticket_already_rated")
    r = await api.get(f"/v1/admin/tickets/{ticket['id']}", headers=agent.headers)
    assert r.json()["rating"] == 4 and r.json()["rated_at"] is not None


@pytest.mark.parametrize("rating", [0, 6, -1, 2**63, "5", 4.5, True, None])
async def test_ratings_out_of_range_are_refused(api: httpx.AsyncClient, alice: SignedIn,
                                                agent: Admin, rating: object) -> None:
    ticket = await open_ticket(api, alice)
    await api.post(f"/v1/admin/tickets/{ticket['id']}/status", headers=agent.headers,
                   json={"status": "resolved"})
    r = await api.post(f"/v1/me/tickets/{ticket['id']}/rate", headers=alice.headers,
                       json={"rating": rating})
    assert r.status_code == 422
    r = await api.get(f"/v1/me/tickets/{ticket['id']}", headers=alice.headers)
    assert r.json()["rating"] is None


async def test_reopening_within_the_window(session: AsyncSession, settings: Settings) -> None:
    user, agent = uuid.uuid4(), _agent()
    t0 = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    clock.freeze(t0)
    ticket = await service.open_ticket(session, settings, user, TicketIn(title="t", body="b"))
    await service.change_status(session, settings, ticket.id, StatusIn(status="resolved"),
                                agent)
    clock.advance(dt.timedelta(days=settings.support_reopen_days, minutes=-1))
    mine = await service.reopen(session, settings, user, ticket.id, "Still not credited")
    assert (mine.status, mine.reopen_count) == ("pending_agent", 1)
    assert mine.messages[-1].body == "Still not credited"
    back = await service.get_ticket(session, ticket.id)
    assert back.sla.resolved_at is None and back.sla.resolution_due_at > clock.now()
    # Resolved again, and past the window: refused, nothing changed.
    await service.change_status(session, settings, ticket.id, StatusIn(status="closed"), agent)
    clock.advance(dt.timedelta(days=settings.support_reopen_days, minutes=1))
    with pytest.raises(errors.ReopenWindowPassed):
        await service.reopen(session, settings, user, ticket.id, None)
    assert (await service.get_ticket(session, ticket.id)).status == "closed"


async def test_only_resolved_or_closed_tickets_reopen(session: AsyncSession,
                                                      settings: Settings) -> None:
    user = uuid.uuid4()
    ticket = await service.open_ticket(session, settings, user, TicketIn(title="t", body="b"))
    with pytest.raises(errors.InvalidTransition):
        await service.reopen(session, settings, user, ticket.id, None)


async def test_a_rating_survives_a_reopening_and_is_not_given_twice(
        session: AsyncSession, settings: Settings) -> None:
    user, agent = uuid.uuid4(), _agent()
    ticket = await service.open_ticket(session, settings, user, TicketIn(title="t", body="b"))
    await service.change_status(session, settings, ticket.id, StatusIn(status="resolved"),
                                agent)
    await service.rate(session, settings, user, ticket.id, RatingIn(rating=2))
    await service.reopen(session, settings, user, ticket.id, None)
    await service.change_status(session, settings, ticket.id, StatusIn(status="resolved"),
                                agent)
    with pytest.raises(errors.AlreadyRated):
        await service.rate(session, settings, user, ticket.id, RatingIn(rating=5))


def _agent() -> Subject:
    return Subject("admin", uuid.uuid4(), frozenset({"support.reply"}))


async def test_a_reply_notifies_the_user_and_a_note_does_not(
        api: httpx.AsyncClient, connection: AsyncConnection, alice: SignedIn,
        agent: Admin) -> None:
    ticket = await open_ticket(api, alice)
    url = f"/v1/admin/tickets/{ticket['id']}/messages"
    await api.post(url, headers=agent.headers, json={"body": "note", "internal": True})
    sql = ("SELECT title, body FROM notifications WHERE user_id = :u"
           " AND template = 'support.reply'")
    assert (await connection.execute(text(sql), {"u": alice.user["id"]})).all() == []
    await api.post(url, headers=agent.headers, json={"body": "We are on it"})
    [(title, body)] = (await connection.execute(text(sql), {"u": alice.user["id"]})).all()
    assert title == f"Reply on {ticket['number']}" and str(ticket["title"]) in body
    assert "note" not in body and "We are on it" not in body  # the text stays in the ticket


async def test_a_reply_stands_without_its_template(api: httpx.AsyncClient,
                                                  connection: AsyncConnection,
                                                  alice: SignedIn, agent: Admin) -> None:
    await connection.execute(text(
        "DELETE FROM notification_templates WHERE code = 'support.reply'"))
    ticket = await open_ticket(api, alice)
    r = await api.post(f"/v1/admin/tickets/{ticket['id']}/messages", headers=agent.headers,
                       json={"body": "We are on it"})
    assert r.status_code == 200 and r.json()["status"] == "pending_user"
    assert r.json()["messages"][-1]["body"] == "We are on it"
    found = await connection.scalar(text(
        "SELECT count(*) FROM notifications WHERE user_id = :u"), {"u": alice.user["id"]})
    assert found == 0
