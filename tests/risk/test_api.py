"""The back office's risk endpoints through HTTP: listing with filters, reading, reviewing
(audited, once), lifting a block (audited; the user may act again and is not blocked again
at once), who may do what, and bad input refused with a 4xx that changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.access.models import AuditEntry
from gullak.kit import events
from gullak.kit.security import Subject
from gullak.risk.enforcement import write
from gullak.risk.models import RiskEvent
from gullak.risk.rules import Finding
from gullak.settings import Settings
from tests.helpers.admins import admin_with
from tests.helpers.http import acting_as
from tests.helpers.problems import assert_problem
from tests.risk.support import block_of, events_of, make_user, signed_in, tune

EVENTS = "/v1/admin/risk-events"


async def _finding(session: AsyncSession, user: uuid.UUID, rule: str = "device_accounts",
                   score: int = 50, *, block: bool = False) -> RiskEvent:
    found = Finding(rule, "user", str(user), score, {"accounts": 3})
    [row] = await write(session, user, [found], found if block else None)
    return row


async def _audit(session: AsyncSession, action: str, entity_id: str) -> list[AuditEntry]:
    return list(await session.scalars(select(AuditEntry).where(AuditEntry.action == action,
                                                             AuditEntry.entity_id == entity_id)))


async def test_events_are_listed_newest_first_with_filters(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    admin = await admin_with(client, session, settings, "risk.read")
    one, two = await make_user(session), await make_user(session)
    low = await _finding(session, one, "device_accounts", 50)
    high = await _finding(session, one, "redemption_velocity", 90)
    other = await _finding(session, two, "referral_ring", 70)

    async def ids(**query: Any) -> list[str]:
        r = await client.get(EVENTS, params=query, headers=admin.headers)
        assert r.status_code == 200, r.text
        return [item["id"] for item in r.json()["items"]]

    assert await ids(user_id=str(one)) == [str(high.id), str(low.id)]
    assert await ids(user_id=str(one), min_score=60) == [str(high.id)]
    assert await ids(rule="referral_ring", user_id=str(two)) == [str(other.id)]
    assert await ids(user_id=str(two), status="dismissed") == []
    r = await client.get(EVENTS, params={"user_id": str(one), "limit": 1}, headers=admin.headers)
    page = r.json()
    assert [i["id"] for i in page["items"]] == [str(high.id)] and page["next_cursor"]
    r = await client.get(EVENTS, params={"user_id": str(one), "cursor": page["next_cursor"]},
                         headers=admin.headers)
    assert [i["id"] for i in r.json()["items"]] == [str(low.id)]
    r = await client.get(f"{EVENTS}/{high.id}", headers=admin.headers)
    assert r.status_code == 200 and r.json()["signals"] == {"accounts": 3}
    assert r.json()["rule"] == "redemption_velocity" and r.json()["status"] == "pending"
    assert_problem(await client.get(f"{EVENTS}/{uuid.uuid4()}", headers=admin.headers), 404,
                   "risk_event_not_found")


async def test_a_review_is_kept_with_who_when_and_why_and_audited_once(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    admin = await admin_with(client, session, settings, "risk.read", "risk.review")
    row = await _finding(session, await make_user(session))
    r = await client.post(f"{EVENTS}/{row.id}/review", headers=admin.headers,
                          json={"outcome": "dismissed", "note": "family phone"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["review_note"], body["reviewed_by"]) == (
        "dismissed", "family phone", str(admin.id))
    assert body["reviewed_at"] is not None
    again = await client.post(f"{EVENTS}/{row.id}/review", headers=admin.headers,
                              json={"outcome": "confirmed"})
    assert_problem(again, 409, "risk_event_reviewed")
    [entry] = await _audit(session, "risk.review", str(row.id))
    assert entry.actor_id == admin.id
    assert (await client.get(f"{EVENTS}/{row.id}", headers=admin.headers)).json()[
        "status"] == "dismissed"


async def test_lifting_a_block_lets_the_user_act_and_holds_for_the_grace(
        client: httpx.AsyncClient, session: AsyncSession, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tune(monkeypatch, risk_sign_in_score=90, risk_lift_grace_days=30)
    admin = await admin_with(client, session, settings, "risk.read", "risk.review")
    user = await make_user(session)
    lift = f"/v1/admin/risk-blocks/{user}/lift"
    assert_problem(await client.post(lift, headers=admin.headers, json={"note": "ok"}), 404,
                   "risk_block_not_found")
    await _finding(session, user, "suspicious_sign_in", 90, block=True)
    r = await client.get("/v1/admin/risk-blocks", params={"user_id": str(user)},
                         headers=admin.headers)
    assert [(b["user_id"], b["active"]) for b in r.json()["items"]] == [(str(user), True)]
    r = await client.post(lift, headers=admin.headers, json={"note": "called the user"})
    assert r.status_code == 200, r.text
    assert (r.json()["active"], r.json()["lifted_by"], r.json()["lift_note"]) == (
        False, str(admin.id), "called the user")
    assert len(await _audit(session, "risk.lift", str(user))) == 1
    assert_problem(await client.post(lift, headers=admin.headers, json={"note": "again"}), 404,
                   "risk_block_not_found")
    # Free again; the same pattern is kept for review but does not block within the grace.
    await events.publish(session, "user.signed_in", signed_in(user, "p1", "Pune"))
    await events.publish(session, "user.signed_in", signed_in(user, "p2", "Goa"))
    block = await block_of(session, user)
    assert block is not None and block.lifted_at is not None
    assert [(e.rule, e.blocked) for e in await events_of(session, user)] == [
        ("suspicious_sign_in", True)]  # the day's pending event, its score already 90


async def test_who_may_read_review_and_lift(client: httpx.AsyncClient, session: AsyncSession,
                                            settings: Settings) -> None:
    row = await _finding(session, await make_user(session), block=True)
    assert_problem(await client.get(EVENTS), 401, "unauthorized")
    nobody = await admin_with(client, session, settings, "payouts.read")
    assert_problem(await client.get(EVENTS, headers=nobody.headers), 403, "forbidden")
    reader = await admin_with(client, session, settings, "risk.read")
    assert (await client.get(EVENTS, headers=reader.headers)).status_code == 200
    assert_problem(await client.post(f"{EVENTS}/{row.id}/review", headers=reader.headers,
                                     json={"outcome": "confirmed"}), 403, "forbidden")
    assert_problem(await client.post(f"/v1/admin/risk-blocks/{row.user_id}/lift",
                                     headers=reader.headers, json={"note": "x"}), 403,
                   "forbidden")
    assert (await block_of(session, row.user_id)) is not None
    assert (await session.get(RiskEvent, row.id, populate_existing=True)).status == "pending"


@pytest.mark.parametrize(("method", "path", "payload"), [
    ("get", EVENTS + "?min_score=101", None),
    ("get", EVENTS + "?min_score=-1", None),
    ("get", EVENTS + "?limit=0", None),
    ("get", EVENTS + "?limit=101", None),
    ("get", EVENTS + "?status=open", None),
    ("get", EVENTS + "?rule=guess", None),
    ("get", EVENTS + "?user_id=not-a-uuid", None),
    ("get", EVENTS + "?cursor=zzz", None),
    ("get", EVENTS + "/not-a-uuid", None),
    ("post", "{event}/review", {"outcome": "maybe"}),
    ("post", "{event}/review", {"outcome": "confirmed", "note": "a\x00b"}),
    ("post", "{event}/review", '{"outcome": "confirmed", "note": "\\ud800"}'),
    ("post", "{event}/review", {"outcome": "confirmed", "note": "x" * 1001}),
    ("post", "{event}/review", {"outcome": "confirmed", "extra": 1}),
    ("post", "{event}/review", {"outcome": ["confirmed"]}),
    ("post", "{event}/review", [{"outcome": "confirmed"}] * 3),
    ("post", "/v1/admin/risk-blocks/{user}/lift", {"note": ""}),
    ("post", "/v1/admin/risk-blocks/{user}/lift", {"note": 10**400}),
    ("post", "/v1/admin/risk-blocks/{user}/lift", {}),
])
async def test_bad_input_is_refused_and_changes_nothing(
        app: FastAPI, session: AsyncSession, method: str, path: str, payload: Any) -> None:
    row = await _finding(session, await make_user(session), block=True)
    admin = Subject("admin", uuid.uuid4(), frozenset({"risk.read", "risk.review"}))
    url = path.format(event=f"{EVENTS}/{row.id}", user=row.user_id)
    body: dict[str, Any] = ({} if payload is None else {"content": payload} if isinstance(
        payload, str) else {"json": payload})  # a string: raw JSON (a lone surrogate escaped)
    async with acting_as(app, admin) as client:
        r = await client.request(method, url, headers={"content-type": "application/json"},
                                 **body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert (await session.get(RiskEvent, row.id, populate_existing=True)).status == "pending"
    block = await block_of(session, row.user_id)
    assert block is not None and block.lifted_at is None
