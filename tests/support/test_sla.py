"""SLA timers: due times from the priority, breaches seen on read as soon as the clock passes
them, flagged by the periodic check, kept once flagged, and filtered in the queue."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.security import Subject
from gullak.settings import Settings
from gullak.support import service
from gullak.support.schemas import AgentMessageIn, StatusIn, TicketIn, TicketPatch
from tests.helpers.admins import Admin
from tests.helpers.users import SignedIn
from tests.support.tickets import open_ticket

T0 = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
AGENT = Subject("admin", uuid.uuid4(), frozenset({"support.reply", "support.manage"}))


def minutes(n: int) -> dt.timedelta:
    return dt.timedelta(minutes=n)


async def _open(session: AsyncSession, settings: Settings) -> uuid.UUID:
    ticket = await service.open_ticket(session, settings, uuid.uuid4(),
                                       TicketIn(title="Late refund", body="Please help"))
    return ticket.id


async def test_due_times_follow_the_priority(session: AsyncSession, settings: Settings) -> None:
    clock.freeze(T0)
    ticket_id = await _open(session, settings)
    sla = (await service.get_ticket(session, ticket_id)).sla
    first, resolve = (settings.support_first_response_minutes,
                      settings.support_resolution_minutes)
    assert sla.first_response_due_at == T0 + minutes(first["normal"])
    assert sla.resolution_due_at == T0 + minutes(resolve["normal"])
    clock.advance(minutes(5))
    await service.update_ticket(session, settings, ticket_id, TicketPatch(priority="urgent"),
                                AGENT)
    sla = (await service.get_ticket(session, ticket_id)).sla
    # Counted from the opening, not from the change.
    assert sla.first_response_due_at == T0 + minutes(first["urgent"])
    assert sla.resolution_due_at == T0 + minutes(resolve["urgent"])


async def test_a_breach_shows_on_read_before_the_check_runs(session: AsyncSession,
                                                           settings: Settings) -> None:
    clock.freeze(T0)
    ticket_id = await _open(session, settings)
    due = settings.support_first_response_minutes["normal"]
    clock.advance(minutes(due) - dt.timedelta(seconds=1))
    sla = (await service.get_ticket(session, ticket_id)).sla
    assert not sla.first_response_breached and not sla.resolution_breached
    clock.advance(dt.timedelta(seconds=2))
    sla = (await service.get_ticket(session, ticket_id)).sla
    assert sla.first_response_breached and not sla.resolution_breached
    breached = await service.list_tickets(session, breached=True)
    assert ticket_id in [t.id for t in breached.items]
    on_time = await service.list_tickets(session, breached=False)
    assert ticket_id not in [t.id for t in on_time.items]


async def test_the_periodic_check_flags_and_the_flag_stays(session: AsyncSession,
                                                           settings: Settings) -> None:
    clock.freeze(T0)
    late = await _open(session, settings)
    answered = await _open(session, settings)
    await service.reply(session, answered, AgentMessageIn(body="On it"), AGENT)
    assert await service.flag_breaches(session) == 0  # nothing is late yet
    clock.advance(minutes(settings.support_first_response_minutes["normal"] + 1))
    assert await service.flag_breaches(session) == 1
    assert await service.flag_breaches(session) == 0  # flagged once
    # The late answer does not clear the flag; the answered ticket was never late.
    await service.reply(session, late, AgentMessageIn(body="Sorry for the wait"), AGENT)
    assert (await service.get_ticket(session, late)).sla.first_response_breached
    assert not (await service.get_ticket(session, answered)).sla.first_response_breached
    # Resolution: both run out; the one resolved in time is not flagged.
    await service.change_status(session, settings, answered, StatusIn(status="resolved"), AGENT)
    clock.freeze(T0 + minutes(settings.support_resolution_minutes["normal"] + 1))
    assert await service.flag_breaches(session) == 1
    assert (await service.get_ticket(session, late)).sla.resolution_breached
    assert not (await service.get_ticket(session, answered)).sla.resolution_breached


async def test_resolving_late_flags_at_once(session: AsyncSession, settings: Settings) -> None:
    clock.freeze(T0)
    ticket_id = await _open(session, settings)
    clock.advance(minutes(settings.support_resolution_minutes["normal"] + 1))
    await service.change_status(session, settings, ticket_id, StatusIn(status="resolved"),
                                AGENT)
    clock.advance(dt.timedelta(days=30))  # long after: the verdict was kept, not recomputed
    sla = (await service.get_ticket(session, ticket_id)).sla
    assert sla.first_response_breached and sla.resolution_breached
    assert await service.flag_breaches(session) == 0


async def test_the_queue_filters_breaches_over_http(api: httpx.AsyncClient, alice: SignedIn,
                                                    agent: Admin) -> None:
    late = await open_ticket(api, alice)
    fine = await open_ticket(api, alice)
    r = await api.patch(f"/v1/admin/tickets/{late['id']}", headers=agent.headers,
                        json={"priority": "urgent"})
    assert r.status_code == 200 and r.json()["priority"] == "urgent"
    clock.advance(dt.timedelta(hours=2))  # past urgent's first answer, within normal's
    r = await api.get("/v1/admin/tickets", headers=agent.headers,
                      params={"breached": "true", "user_id": alice.user["id"]})
    assert [t["id"] for t in r.json()["items"]] == [late["id"]]
    assert r.json()["items"][0]["sla"]["first_response_breached"] is True
    r = await api.get("/v1/admin/tickets", headers=agent.headers,
                      params={"breached": "false", "user_id": alice.user["id"]})
    assert [t["id"] for t in r.json()["items"]] == [fine["id"]]
    r = await api.get("/v1/admin/tickets", headers=agent.headers,
                      params={"priority": "urgent", "user_id": alice.user["id"]})
    assert [t["id"] for t in r.json()["items"]] == [late["id"]]
