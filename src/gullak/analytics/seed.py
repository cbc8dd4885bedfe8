"""Demo data: a few days of the demo user's app activity (sessions, searches, screens), and
those days summarised, so that the back office's analytics show something at once."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.analytics import service
from gullak.analytics.schemas import EventIn
from gullak.kit import clock
from gullak.kit.demo import DataSet
from gullak.settings import get_settings

DEMO_USER_ID = uuid.UUID("01900000-0000-7000-8000-00000000d3e0")  # identity's demo user
DAYS = 3
SEARCHES = ("coffee", "kurta", "cashback")


async def load(session: AsyncSession) -> None:
    now = clock.now()
    events: list[EventIn] = []
    for back in range(DAYS, 0, -1):
        at = now - dt.timedelta(days=back)
        events += [
            EventIn(client_event_id=f"demo-{back}-open", name="app.opened", occurred_at=at,
                    properties={"platform": "android", "app_version": "1.0.0"}),
            EventIn(client_event_id=f"demo-{back}-wallet", name="wallet.viewed",
                    occurred_at=at + dt.timedelta(seconds=20)),
            EventIn(client_event_id=f"demo-{back}-search", name="search.performed",
                    occurred_at=at + dt.timedelta(seconds=40),
                    properties={"query": SEARCHES[back % len(SEARCHES)], "results": 3}),
        ]
    await service.ingest(session, get_settings(), DEMO_USER_ID, events)
    for back in range(DAYS, 0, -1):
        await service.summarise_day(session, (now - dt.timedelta(days=back)).date())


DATA_SETS = (DataSet(
    "analytics", load, needs=("identity",),
    notes=("Analytics  GET /v1/admin/analytics/platform and /v1/admin/analytics/users/"
           f"{DEMO_USER_ID} (analytics.read); the summaries refresh hourly",)),)
