"""What the analytics tests share: subjects, events and a recomputation from the rows."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.ids import uuid7
from gullak.kit.security import Subject

READER = frozenset({"analytics.read"})
_ids = itertools.count(1)


def user() -> Subject:
    return Subject("user", uuid7())


def admin(*permissions: str) -> Subject:
    return Subject("admin", uuid7(), frozenset(permissions))


def event(name: str = "app.opened", at: dt.datetime | None = None,
          key: str | None = None, **properties: Any) -> dict[str, Any]:
    return {"client_event_id": key or f"e{next(_ids)}", "name": name,
            "occurred_at": (at or dt.datetime.now(dt.UTC)).isoformat(),
            "properties": properties}


async def stored(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(text(
        "SELECT * FROM activity_events WHERE user_id = :u ORDER BY occurred_at, id"),
        {"u": user_id})
    return [dict(r._mapping) for r in rows]


async def stale_days(session: AsyncSession) -> set[dt.date]:
    return set((await session.scalars(text("SELECT day FROM analytics_stale_days"))).all())
