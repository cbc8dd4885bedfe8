"""Canned replies: managed by the back office, filled from the ticket when sent, retired
rather than removed."""

from __future__ import annotations

import httpx

from gullak.support import service
from tests.helpers.admins import Admin
from tests.helpers.problems import assert_problem
from tests.helpers.users import SignedIn
from tests.support.tickets import open_ticket

URL = "/v1/admin/support/canned-replies"


def test_filling_is_a_plain_lookup() -> None:
    values = {"user_name": "Asha", "ticket_number": "TKT-202612-000001"}
    assert service.fill("Hi {{user_name}}, re {{ ticket_number }}.", values) == (
        "Hi Asha, re TKT-202612-000001.")
    # Unknown variables stay visible; format syntax is text, not code.
    assert service.fill("{{unknown}} {0.__class__} {user_name}", values) == (
        "{{unknown}} {0.__class__} {user_name}")
    assert service.fill("{{user_name}}", {"user_name": "{{ticket_number}}"}) == (
        "{{ticket_number}}")  # a value is never filled again


async def test_crud_and_a_reply_from_a_template(api: httpx.AsyncClient, alice: SignedIn,
                                                agent: Admin) -> None:
    r = await api.post(URL, headers=agent.headers, json={
        "code": "refund-started", "title": "Refund started", "category": "refund",
        "body": "Hi {{user_name}}, the refund for {{ticket_number}} is on its way."
                " {{agent_name}}"})
    assert r.status_code == 201, r.text
    reply_id = r.json()["id"]
    assert_problem(await api.post(URL, headers=agent.headers, json={
        "code": "refund-started", "title": "Again", "body": "x"}), 409, "canned_reply_exists")
    r = await api.patch(f"{URL}/{reply_id}", headers=agent.headers,
                        json={"title": "Refund initiated"})
    assert r.json()["title"] == "Refund initiated" and r.json()["body"].startswith("Hi ")
    r = await api.get(URL, headers=agent.headers, params={"category": "refund"})
    assert [c["code"] for c in r.json()] == ["refund-started"]

    r = await api.patch("/v1/me", headers=alice.headers, json={"name": "Asha"})
    assert r.status_code == 200, r.text
    ticket = await open_ticket(api, alice)
    r = await api.post(f"/v1/admin/tickets/{ticket['id']}/messages", headers=agent.headers,
                       json={"canned_reply_id": reply_id, "body": "Ref: RF-1"})
    assert r.status_code == 200, r.text
    sent = r.json()["messages"][-1]
    assert sent["canned_reply_id"] == reply_id
    assert sent["body"].startswith(f"Hi Asha, the refund for {ticket['number']} is on its way.")
    assert "Test Admin" in sent["body"] and sent["body"].endswith("Ref: RF-1")
    assert "{{" not in sent["body"]
    mine = (await api.get(f"/v1/me/tickets/{ticket['id']}", headers=alice.headers)).json()
    assert mine["messages"][-1]["body"] == sent["body"]

    # Retired: kept for the replies that name it, no longer sendable.
    assert (await api.delete(f"{URL}/{reply_id}", headers=agent.headers)).status_code == 204
    r = await api.get(URL, headers=agent.headers, params={"active": "true"})
    assert reply_id not in [c["id"] for c in r.json()]
    r = await api.post(f"/v1/admin/tickets/{ticket['id']}/messages", headers=agent.headers,
                       json={"canned_reply_id": reply_id})
    assert_problem(r, 404, "canned_reply_not_found", field="canned_reply_id")


async def test_a_reply_needs_a_body_or_a_template(api: httpx.AsyncClient, alice: SignedIn,
                                                  agent: Admin) -> None:
    ticket = await open_ticket(api, alice)
    r = await api.post(f"/v1/admin/tickets/{ticket['id']}/messages", headers=agent.headers,
                       json={})
    assert_problem(r, 422, "invalid_input", field="body")
    r = await api.get(f"/v1/admin/tickets/{ticket['id']}", headers=agent.headers)
    assert len(r.json()["messages"]) == 1 and r.json()["status"] == "open"
