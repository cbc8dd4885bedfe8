"""Events and flash sales: draft -> scheduled -> live -> ended on their own schedule.

An admin writes a draft and schedules it; from then on `advance_events` (a job every minute)
moves it by its start and end times. An admin can cancel it at any point before it ends.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import errors
from gullak.catalog.common import as_json, record
from gullak.catalog.models import Event
from gullak.catalog.schemas import EventIn, EventOut, EventPatch
from gullak.kit import clock
from gullak.kit.errors import InvalidInput
from gullak.kit.security import Subject
from gullak.merchants import service as merchants

EDITABLE = ("draft", "scheduled")


def _check_window(starts_at: dt.datetime, ends_at: dt.datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidInput("Times need a time zone (ISO 8601 with an offset).",
                           field="starts_at" if starts_at.tzinfo is None else "ends_at")
    if ends_at <= starts_at:
        raise errors.InvalidWindow(field="ends_at")


async def _check_merchants(session: AsyncSession, merchant_ids: Sequence[uuid.UUID]) -> None:
    for merchant_id in dict.fromkeys(merchant_ids):
        await merchants.get_merchant(session, merchant_id)


async def _event(session: AsyncSession, event_id: uuid.UUID, *, lock: bool = False) -> Event:
    query = select(Event).where(Event.id == event_id)
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise errors.EventNotFound()
    return row


async def _slug_free(session: AsyncSession, slug: str) -> None:
    if await session.scalar(select(Event.id).where(Event.slug == slug)):
        raise errors.SlugTaken(f"The event slug {slug!r} is already used.", field="slug")


async def create_event(session: AsyncSession, data: EventIn, actor: Subject | None) -> EventOut:
    _check_window(data.starts_at, data.ends_at)
    await _slug_free(session, data.slug)
    await _check_merchants(session, data.featured_merchant_ids)
    values = data.model_dump()
    values["cities"] = list(dict.fromkeys(values["cities"]))
    values["segments"] = list(dict.fromkeys(values["segments"]))
    values["featured_merchant_ids"] = list(dict.fromkeys(values["featured_merchant_ids"]))
    row = Event(**values, status="draft")
    session.add(row)
    await session.flush()
    await session.refresh(row)
    out = EventOut.model_validate(row)
    await record(session, actor, "event.create", "event", row.id, after=as_json(out))
    return out


async def get_event(session: AsyncSession, event_id: uuid.UUID, *,
                    public: bool = False) -> EventOut:
    """An event; the public never sees drafts."""
    row = await _event(session, event_id)
    if public and row.status == "draft":
        raise errors.EventNotFound()
    return EventOut.model_validate(row)


async def update_event(session: AsyncSession, event_id: uuid.UUID, data: EventPatch,
                       actor: Subject | None) -> EventOut:
    row = await _event(session, event_id, lock=True)
    if row.status not in EDITABLE:
        raise errors.EventStateConflict(f"A {row.status} event cannot be edited.",
                                        state=row.status)
    before = EventOut.model_validate(row)
    changes = data.model_dump(exclude_unset=True)
    for key in ("title", "starts_at", "ends_at", "cities", "segments", "featured_merchant_ids"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} may not be null.", field=key)
    _check_window(changes.get("starts_at", row.starts_at), changes.get("ends_at", row.ends_at))
    if row.status == "scheduled" and changes.get("ends_at", row.ends_at) <= clock.now():
        raise errors.InvalidWindow("A scheduled event must end in the future.", field="ends_at")
    if "featured_merchant_ids" in changes:
        await _check_merchants(session, changes["featured_merchant_ids"])
    for key, value in changes.items():
        setattr(row, key, list(dict.fromkeys(value)) if isinstance(value, list) else value)
    await session.flush()
    await session.refresh(row)
    out = EventOut.model_validate(row)
    await record(session, actor, "event.update", "event", row.id,
                 before=as_json(before), after=as_json(out))
    return out


async def schedule_event(session: AsyncSession, event_id: uuid.UUID,
                         actor: Subject | None) -> EventOut:
    """Draft -> scheduled (or straight to live when its start has already come)."""
    row = await _event(session, event_id, lock=True)
    if row.status != "draft":
        raise errors.EventStateConflict(f"Only a draft can be scheduled; this one is {row.status}.",
                                        state=row.status)
    now = clock.now()
    if row.ends_at <= now:
        raise errors.InvalidWindow("The event has already ended.", field="ends_at")
    before = EventOut.model_validate(row)
    row.status = "live" if row.starts_at <= now else "scheduled"
    await session.flush()
    await session.refresh(row)
    out = EventOut.model_validate(row)
    await record(session, actor, "event.schedule", "event", row.id,
                 before=as_json(before), after=as_json(out))
    return out


async def cancel_event(session: AsyncSession, event_id: uuid.UUID, reason: str,
                       actor: Subject | None) -> EventOut:
    row = await _event(session, event_id, lock=True)
    if row.status in ("ended", "cancelled"):
        raise errors.EventStateConflict(f"The event has already {row.status}"
                                        if row.status == "ended" else "The event is cancelled.",
                                        state=row.status)
    before = EventOut.model_validate(row)
    row.status = "cancelled"
    row.cancel_reason = reason
    await session.flush()
    await session.refresh(row)
    out = EventOut.model_validate(row)
    await record(session, actor, "event.cancel", "event", row.id,
                 before=as_json(before), after=as_json(out))
    return out


async def advance_events(session: AsyncSession) -> dict[str, int]:
    """Move scheduled and live events by the clock; returns how many went live and ended."""
    now = clock.now()
    ended = await session.execute(text(
        "UPDATE catalog_events SET status = 'ended', updated_at = now()"
        " WHERE status IN ('scheduled', 'live') AND ends_at <= :now"), {"now": now})
    live = await session.execute(text(
        "UPDATE catalog_events SET status = 'live', updated_at = now()"
        " WHERE status = 'scheduled' AND starts_at <= :now AND ends_at > :now"), {"now": now})
    session.expire_all()
    return {"live": int(live.rowcount or 0),  # type: ignore[attr-defined]
            "ended": int(ended.rowcount or 0)}  # type: ignore[attr-defined]


async def list_events(session: AsyncSession, *, city: str | None = None,
                      statuses: Sequence[str] = ("live", "scheduled"),
                      segment: str | None = None, limit: int = 50) -> list[EventOut]:
    """Events in `statuses` (for the public: live and upcoming), soonest first. With a city,
    those for that city or for every city (no cities listed)."""
    query = select(Event).where(Event.status.in_(list(statuses)))
    if set(statuses) <= {"live", "scheduled"}:
        query = query.where(Event.ends_at > clock.now())
    if city:
        query = query.where(text(
            "(cardinality(cities) = 0 OR EXISTS (SELECT 1 FROM unnest(cities) c"
            " WHERE lower(c) = lower(:city)))").bindparams(city=city))
    if segment:
        query = query.where(text("(segments && ARRAY['all', CAST(:segment AS text)])").bindparams(
            segment=segment))
    query = query.order_by(Event.starts_at, Event.id).limit(limit)
    return [EventOut.model_validate(r) for r in await session.scalars(query)]
