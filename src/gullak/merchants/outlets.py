"""Merchant outlets: addresses, opening hours on their own wall clock, features."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit, clock
from gullak.kit.security import Subject
from gullak.merchants import errors, rules
from gullak.merchants.common import as_json, merchant_row
from gullak.merchants.models import Outlet
from gullak.merchants.schemas import OutletIn, OutletOut


def outlet_out(outlet: Outlet) -> OutletOut:
    return OutletOut.model_validate(outlet)


def open_now(outlet: OutletOut | Outlet, at: dt.datetime | None = None) -> bool:
    """Whether the outlet is open at `at` (now by default) on its own wall clock."""
    if not outlet.active:
        return False
    hours = {day: [r if isinstance(r, dict) else r.model_dump() for r in ranges]
             for day, ranges in outlet.hours.items()}
    return rules.open_at(hours, outlet.timezone, at or clock.now())


def _outlet_values(data: OutletIn) -> dict[str, Any]:
    rules.check_coordinates(data.latitude, data.longitude)
    rules.zone(data.timezone)
    hours = rules.normalize_hours(data.hours)
    values = data.model_dump()
    values.update(
        hours=hours, city=rules.normalize_city(data.city),
        features=rules.normalize_tags(data.features),
        open_minutes=[Range(a, b, bounds="[)") for a, b in rules.week_intervals(hours)])
    return values


async def add_outlet(session: AsyncSession, merchant_id: uuid.UUID, data: OutletIn,
                     actor: Subject | None) -> OutletOut:
    values = _outlet_values(data)
    await merchant_row(session, merchant_id)
    outlet = Outlet(merchant_id=merchant_id, **values)
    session.add(outlet)
    await session.flush()
    await session.refresh(outlet)
    out = outlet_out(outlet)
    await audit.record(session, actor, "outlet.create", "merchant_outlet", str(outlet.id),
                       after=as_json(out))
    return out


async def _outlet(session: AsyncSession, outlet_id: uuid.UUID,
                  merchant_id: uuid.UUID | None = None, *, lock: bool = False) -> Outlet:
    outlet = await session.get(Outlet, outlet_id, with_for_update=lock or None,
                               populate_existing=lock)
    if outlet is None or (merchant_id is not None and outlet.merchant_id != merchant_id):
        raise errors.OutletNotFound()
    return outlet


async def get_outlet(session: AsyncSession, outlet_id: uuid.UUID) -> OutletOut:
    return outlet_out(await _outlet(session, outlet_id))


async def update_outlet(session: AsyncSession, merchant_id: uuid.UUID, outlet_id: uuid.UUID,
                        data: OutletIn, actor: Subject | None) -> OutletOut:
    """Replace the outlet's details (an outlet of another merchant is not found)."""
    values = _outlet_values(data)
    outlet = await _outlet(session, outlet_id, merchant_id, lock=True)
    before = outlet_out(outlet)
    for name, value in values.items():
        setattr(outlet, name, value)
    await session.flush()
    await session.refresh(outlet)
    after = outlet_out(outlet)
    await audit.record(session, actor, "outlet.update", "merchant_outlet", str(outlet_id),
                       before=as_json(before), after=as_json(after))
    return after


async def list_outlets(session: AsyncSession, merchant_id: uuid.UUID, *,
                       active_only: bool = False) -> list[OutletOut]:
    await merchant_row(session, merchant_id)
    query = select(Outlet).where(Outlet.merchant_id == merchant_id).order_by(Outlet.id)
    if active_only:
        query = query.where(Outlet.active)
    return [outlet_out(o) for o in await session.scalars(query)]
