"""Events and flash sales move draft -> scheduled -> live -> ended as the clock moves."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak import worker
from gullak.catalog import errors, jobs, service
from gullak.catalog.schemas import EventIn, EventPatch
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from tests.helpers.catalog import admin, new_merchant, state
from tests.helpers.http import acting_as
from tests.helpers.problems import assert_problem

START = dt.datetime(2030, 3, 1, 10, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def event_in(slug: str = "holi-sale", **values: Any) -> EventIn:
    return EventIn.model_validate({"title": "Holi sale", "slug": slug, "kind": "flash_sale",
                                   "starts_at": START, "ends_at": START + 2 * HOUR,
                                   "cities": ["Mumbai"], "discount_percent": 40, **values})


async def statuses(session: AsyncSession, *ids: uuid.UUID) -> list[str]:
    return [(await service.get_event(session, i)).status for i in ids]


async def test_events_run_on_their_own_schedule(session: AsyncSession) -> None:
    clock.freeze(START - 2 * HOUR)
    sale = await service.create_event(session, event_in(), None)
    draft = await service.create_event(session, event_in("draft-only"), None)
    later = await service.create_event(session, event_in(
        "later", starts_at=START + HOUR, ends_at=START + 5 * HOUR), None)
    assert sale.status == "draft"
    assert (await service.schedule_event(session, sale.id, None)).status == "scheduled"
    await service.schedule_event(session, later.id, None)

    assert await service.advance_events(session) == {"live": 0, "ended": 0}
    clock.freeze(START)
    assert await service.advance_events(session) == {"live": 1, "ended": 0}
    assert await statuses(session, sale.id, draft.id, later.id) == ["live", "draft",
                                                                     "scheduled"]
    clock.advance(2 * HOUR)  # the sale ends the moment the later event starts... and after
    assert await service.advance_events(session) == {"live": 1, "ended": 1}
    assert await statuses(session, sale.id, draft.id, later.id) == ["ended", "draft", "live"]
    clock.advance(10 * HOUR)
    assert await service.advance_events(session) == {"live": 0, "ended": 1}
    assert await statuses(session, sale.id, draft.id, later.id) == ["ended", "draft", "ended"]


async def test_a_missed_window_goes_straight_to_ended(session: AsyncSession) -> None:
    clock.freeze(START - HOUR)
    e = await service.create_event(session, event_in(), None)
    await service.schedule_event(session, e.id, None)
    clock.freeze(START + 3 * HOUR)  # the job did not run during the whole window
    assert await service.advance_events(session) == {"live": 0, "ended": 1}
    assert await statuses(session, e.id) == ["ended"]


async def test_scheduling_after_the_start_goes_live_at_once(session: AsyncSession) -> None:
    clock.freeze(START + HOUR)
    e = await service.create_event(session, event_in(), None)
    assert (await service.schedule_event(session, e.id, None)).status == "live"
    clock.freeze(START + 3 * HOUR)
    late = await service.create_event(session, event_in("late"), None)
    with pytest.raises(errors.InvalidWindow):
        await service.schedule_event(session, late.id, None)


async def test_cancel_and_edit_rules(session: AsyncSession) -> None:
    clock.freeze(START - HOUR)
    e = await service.create_event(session, event_in(), None)
    edited = await service.update_event(session, e.id, EventPatch(ends_at=START + 3 * HOUR,
                                                                  title="Holi mega sale"),
                                        None)
    assert (edited.title, edited.ends_at) == ("Holi mega sale", START + 3 * HOUR)
    with pytest.raises(errors.InvalidWindow):
        await service.update_event(session, e.id, EventPatch(ends_at=START - 2 * HOUR), None)
    await service.schedule_event(session, e.id, None)
    clock.freeze(START)
    await service.advance_events(session)
    with pytest.raises(errors.EventStateConflict):
        await service.update_event(session, e.id, EventPatch(title="x"), None)
    with pytest.raises(errors.EventStateConflict):
        await service.schedule_event(session, e.id, None)
    cancelled = await service.cancel_event(session, e.id, "Merchant pulled out", None)
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "Merchant pulled out")
    clock.advance(10 * HOUR)
    assert await service.advance_events(session) == {"live": 0, "ended": 0}
    with pytest.raises(errors.EventStateConflict):
        await service.cancel_event(session, e.id, "again", None)


async def test_admin_api_validates_and_audits(app: FastAPI, session: AsyncSession,
                                              connection: AsyncConnection) -> None:
    merchant = await new_merchant(session)
    await session.commit()
    clock.freeze(START - HOUR)
    base = event_in().model_dump(mode="json")
    async with acting_as(app, admin("events.manage")) as api:
        before = await state(connection)
        for patch, status, code, field in [
            ({"ends_at": base["starts_at"]}, 422, "invalid_window", "ends_at"),
            ({"ends_at": (START - HOUR).isoformat()}, 422, "invalid_window", "ends_at"),
            ({"discount_percent": 101}, 422, "validation_error", "discount_percent"),
            ({"segments": ["martians"]}, 422, "validation_error", "segments.0"),
            ({"segments": []}, 422, "validation_error", "segments"),
            ({"featured_merchant_ids": [str(uuid.uuid4())]}, 404, "merchant_not_found", None),
        ]:
            r = await api.post("/v1/admin/events", json={**base, **patch})
            assert_problem(r, status, code, field)
        assert await state(connection) == before

        r = await api.post("/v1/admin/events", json={
            **base, "featured_merchant_ids": [str(merchant)], "segments": ["students", "vip"]})
        assert r.status_code == 201, r.text
        event = r.json()
        assert (event["status"], event["featured_merchant_ids"]) == ("draft", [str(merchant)])
        r = await api.post("/v1/admin/events", json=base)
        assert_problem(r, 409, "slug_taken", "slug")
        r = await api.post(f"/v1/admin/events/{event['id']}/schedule")
        assert r.json()["status"] == "scheduled"
        r = await api.post(f"/v1/admin/events/{event['id']}/cancel", json={"reason": " "})
        assert_problem(r, 422, "validation_error", "reason")
        r = await api.post(f"/v1/admin/events/{event['id']}/cancel", json={"reason": "rain"})
        assert r.json()["status"] == "cancelled"
        r = await api.post(f"/v1/admin/events/{event['id']}/cancel", json={"reason": "rain"})
        assert_problem(r, 409, "event_state_conflict")
    async with acting_as(app, admin("catalog.manage")) as api:
        assert_problem(await api.post("/v1/admin/events", json=base), 403, "forbidden")


async def test_public_list_by_city_and_segment(app: FastAPI, session: AsyncSession) -> None:
    clock.freeze(START - HOUR)
    mumbai = await service.create_event(session, event_in("mumbai"), None)
    everywhere = await service.create_event(session, event_in(
        "everywhere", cities=[], starts_at=START + HOUR, segments=["students"]), None)
    delhi = await service.create_event(session, event_in("delhi", cities=["Delhi"]), None)
    draft = await service.create_event(session, event_in("draft"), None)
    for e in (mumbai, everywhere, delhi):
        await service.schedule_event(session, e.id, None)
    await session.commit()
    async with acting_as(app, admin()) as api:
        listed = (await api.get("/v1/events", params={"city": "mumbai"})).json()
        assert [e["slug"] for e in listed] == ["mumbai", "everywhere"]
        listed = (await api.get("/v1/events", params={"city": "Mumbai",
                                                      "segment": "vip"})).json()
        assert [e["slug"] for e in listed] == ["mumbai"]
        assert len((await api.get("/v1/events")).json()) == 3
        assert_problem(await api.get(f"/v1/events/{draft.id}"), 404, "event_not_found")
        assert (await api.get(f"/v1/events/{mumbai.id}")).status_code == 200
        clock.freeze(START + 10 * HOUR)  # all over, even before the job has run
        assert (await api.get("/v1/events")).json() == []


async def test_the_periodic_job_moves_committed_events(
        fresh_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    clock.freeze(START - HOUR)
    async with unit_of_work(fresh_db) as session:
        e = await service.create_event(session, event_in(), None)
        await service.schedule_event(session, e.id, None)
    monkeypatch.setattr(worker, "_db", fresh_db)
    clock.freeze(START + HOUR)
    assert await jobs.advance_events(timestamp=0) == {"live": 1, "ended": 0}
    clock.freeze(START + 2 * HOUR)
    assert await jobs.advance_events(timestamp=0) == {"live": 0, "ended": 1}
    async with unit_of_work(fresh_db) as session:
        assert (await service.get_event(session, e.id)).status == "ended"
