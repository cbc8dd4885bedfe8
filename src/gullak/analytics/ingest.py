"""Writing activity events: a client's batch (POST /v1/events) and the server's own events
(the domain event handlers, handlers.py).

A client's batch is one statement on the driver: every accepted event in one multi-row
`INSERT ... ON CONFLICT DO NOTHING` (arrays unnested: one prepared statement whatever the
batch's size), and in the same statement the past days it reached are marked for the summary
job. No ORM object is made per event (bench/README.md, `gullak bench events`).

A batch is not all-or-nothing: every event is checked against the catalogue on its own, the
valid ones are stored, the others are answered one by one with a stable code. Retrying the
whole batch is always safe: an event is stored once per (user, client event id, occurred_at).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.analytics import catalogue
from gullak.analytics.schemas import EventBatchOut, EventIn, RefusedEventOut
from gullak.db.engine import driver_rows
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.kit.sql import Array
from gullak.settings import Settings

_INSERT = """
WITH batch AS (
  -- one JSON document of [occurred_at, name, client event id, properties] rows: psycopg's
  -- text arrays quote each element through a regular expression, a few ms a batch
  SELECT (e ->> 0)::timestamptz AS occurred_at, e ->> 1 AS name, e ->> 2 AS client_event_id,
         e -> 3 AS properties
  FROM jsonb_array_elements(%(batch)s::jsonb) e
), put AS (
  INSERT INTO activity_events (id, occurred_at, received_at, user_id, name, source,
                               client_event_id, merchant_id, offer_id, properties)
  -- the catalogue let through only canonical UUIDs under these names
  SELECT gullak_uuid7(), occurred_at, %(now)s, %(user)s, name, 'client', client_event_id,
         (properties ->> 'merchant_id')::uuid, (properties ->> 'offer_id')::uuid, properties
  FROM batch
  ON CONFLICT (user_id, occurred_at, client_event_id) DO NOTHING
  RETURNING occurred_at
), stale AS (
  INSERT INTO analytics_stale_days (day)
  SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM put WHERE occurred_at < %(today)s
  -- An update, not nothing: it waits for a recomputation holding the mark, and marks the
  -- day again once that commits (it could not see this event).
  ON CONFLICT (day) DO UPDATE SET marked_at = excluded.marked_at
)
SELECT count(*) FROM put
"""


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


async def ingest(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                 events: Sequence[EventIn]) -> EventBatchOut:
    """Store a client's batch; what was stored, what was already there, what was refused."""
    now = clock.now()
    oldest = now - dt.timedelta(days=settings.analytics_late_days)
    latest = now + dt.timedelta(minutes=settings.analytics_ahead_minutes)
    refused: list[RefusedEventOut] = []
    seen: set[str] = set()
    rows: list[tuple[dt.datetime, str, str, dict[str, Any]]] = []
    duplicates = 0
    for index, event in enumerate(events):
        if event.client_event_id in seen:
            duplicates += 1
            continue
        try:
            if not oldest <= event.occurred_at <= latest:
                raise catalogue.Refusal(
                    "event_time_out_of_window",
                    f"occurred_at must lie within the last {settings.analytics_late_days} days"
                    " and not ahead of the server's clock.", "occurred_at")
            kept = catalogue.check_client(event.name, event.properties)
        except catalogue.Refusal as refusal:
            refused.append(RefusedEventOut.model_construct(
                index=index, client_event_id=event.client_event_id, code=refusal.code,
                detail=refusal.detail, field=refusal.field))
            continue
        seen.add(event.client_event_id)
        rows.append((event.occurred_at, event.name, event.client_event_id, kept))
    stored = 0
    if rows:
        [(count,)] = await driver_rows(session, _INSERT, {
            "batch": orjson.dumps(rows).decode(), "now": now, "user": user_id,
            "today": day_start(now.date())})
        stored = int(count)
    return EventBatchOut.model_construct(accepted=stored,
                                         duplicates=duplicates + len(rows) - stored,
                                         refused=refused)


# -- the server's own events ------------------------------------------------------------------

# Per event: the data key of its one amount worth summing, and of its unit (or the unit).
_AMOUNTS: dict[str, tuple[str, str]] = {
    "order.status_changed": ("total", "currency"),
    "payment.succeeded": ("amount", "currency"),
    "cashback.confirmed": ("amount", "currency"),
    "reward.confirmed": ("amount", "asset_code"),
    "withdrawal.paid": ("amount", "asset_code"),
    "activity.steps_verified": ("steps", "=steps"),
}


def server_row(name: str, data: Mapping[str, Any], at: dt.datetime) -> dict[str, Any]:
    """The row of a domain event: its subject, merchant, offer, amount and the catalogue's
    properties of it (nothing else: no addresses, no free text the catalogue does not name)."""
    kind = catalogue.CATALOGUE[name]
    owner = data.get("owner_type")
    user = data.get("user_id") if owner is None else (
        data.get("owner_id") if owner == "user" else None)
    merchant = data.get("merchant_id") if owner is None or owner == "user" else (
        data.get("owner_id") if owner == "merchant" else None)
    amount: int | None = None
    unit: str | None = None
    if name in _AMOUNTS:
        amount_key, unit_key = _AMOUNTS[name]
        value = data.get(amount_key)
        amount = value if isinstance(value, int) and not isinstance(value, bool) else None
        unit = unit_key[1:] if unit_key.startswith("=") else data.get(unit_key)
    props = {k: data[k] for k, t in kind.properties.items()
             if data.get(k) is not None and catalogue.fits(t, data[k])}
    return {"id": uuid7(), "occurred_at": at, "received_at": at,
            "user_id": catalogue.uuid_or_none(user), "name": name, "source": "server",
            "client_event_id": None, "merchant_id": catalogue.uuid_or_none(merchant),
            "offer_id": catalogue.uuid_or_none(data.get("offer_id")), "amount": amount,
            "unit": unit if isinstance(unit, str) else None, "properties": props}


_ONE = """
INSERT INTO activity_events (id, occurred_at, received_at, user_id, name, source,
                             client_event_id, merchant_id, offer_id, amount, unit, properties)
VALUES (%(id)s, %(occurred_at)s, %(received_at)s, %(user_id)s, %(name)s, %(source)s,
        %(client_event_id)s, %(merchant_id)s, %(offer_id)s, %(amount)s, %(unit)s,
        %(properties)s::jsonb)
"""


async def record(session: AsyncSession, name: str, data: Mapping[str, Any]) -> None:
    """One server event, in the publisher's unit of work: one INSERT, on the driver (an order's
    placement and every payment publish one; SQLAlchemy's insert costs several times the
    round trip's client CPU)."""
    row = server_row(name, data, clock.now())
    row["properties"] = orjson.dumps(row["properties"]).decode()
    await driver_rows(session, _ONE, row)


_MANY = text("""
INSERT INTO activity_events (id, occurred_at, received_at, user_id, name, source, merchant_id,
                             offer_id, amount, unit, properties)
SELECT t.id, :at, :at, t.user_id, :name, 'server', t.merchant_id, t.offer_id, t.amount, t.unit,
       t.properties
FROM unnest(CAST(:ids AS uuid[]), CAST(:users AS uuid[]), CAST(:merchants AS uuid[]),
            CAST(:offers AS uuid[]), CAST(:amounts AS bigint[]), CAST(:units AS text[]),
            CAST(:properties AS jsonb[]))
  AS t(id, user_id, merchant_id, offer_id, amount, unit, properties)
""")


async def record_many(session: AsyncSession, name: str, datas: Sequence[Mapping[str, Any]]) -> None:
    """Many server events of one name (a daily conversion's chunk publishes thousands) in one
    statement over binary arrays: an insert per row cost the client more than the rows cost
    the server."""
    if not datas:
        return
    now = clock.now()
    rows = [server_row(name, d, now) for d in datas]
    await session.execute(_MANY, {
        "at": now, "name": name, "ids": Array([r["id"] for r in rows]),
        "users": Array([r["user_id"] for r in rows]),
        "merchants": Array([r["merchant_id"] for r in rows]),
        "offers": Array([r["offer_id"] for r in rows]),
        "amounts": Array([r["amount"] for r in rows]),
        "units": Array([r["unit"] for r in rows]),
        "properties": Array([orjson.dumps(r["properties"]).decode() for r in rows])})

