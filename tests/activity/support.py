"""Activity test tools: the frozen clock's days, samples, and what a day left behind."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import service
from gullak.activity.schemas import SampleIn
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.ledger import service as ledger

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
NOW = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(15), dt.UTC)
TODAY = NOW.date()
YESTERDAY = TODAY - dt.timedelta(days=1)


def freeze() -> None:
    clock.freeze(NOW)


def day_sample(count: int, day: dt.date = YESTERDAY, *, source: str = "google_fit",
               device: str = "phone-1", **extra: Any) -> dict[str, Any]:
    return {"day": day.isoformat(), "count": count, "source": source, "device_id": device,
            **extra}


def interval(count: int, hour: int, *, minutes: int = 60, day: dt.date = YESTERDAY,
             source: str = "google_fit", device: str = "phone-1", tz: dt.tzinfo = IST,
             minute: int = 0, **extra: Any) -> dict[str, Any]:
    start = dt.datetime.combine(day, dt.time(hour, minute), tz)
    return {"start": start.isoformat(), "end": (start + dt.timedelta(minutes=minutes))
            .isoformat(), "count": count, "source": source, "device_id": device, **extra}


def walk(total: int, *, day: dt.date = YESTERDAY, hours: int = 5, first: int = 8,
         **extra: Any) -> list[dict[str, Any]]:
    """`total` steps in `hours` hourly intervals with plausible distance (0.75 m a step)."""
    each = [total // hours + (1 if i < total % hours else 0) for i in range(hours)]
    return [interval(n, first + i, day=day, distance_m=n * 3 // 4, **extra)
            for i, n in enumerate(each)]


async def sync(session: AsyncSession, user_id: uuid.UUID,
               samples: list[dict[str, Any]]) -> dict[str, Any]:
    out = await service.ingest(session, user_id, [SampleIn.model_validate(s) for s in samples])
    return out.model_dump(mode="json")


async def coins(session: AsyncSession, user_id: uuid.UUID, asset: str = "FITCOIN") -> int:
    account = await ledger.user_account(session, user_id, asset)
    return (await ledger.balance(session, account.id)).posted


async def validations(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(text(
        "SELECT day, steps, score, reasons, outcome FROM step_validations WHERE user_id = :u"
        " ORDER BY id"), {"u": user_id})
    return [dict(r._mapping) for r in rows]


def checks(validation: dict[str, Any]) -> set[str]:
    return {r["check"] for r in validation["reasons"]}


def new_user() -> uuid.UUID:
    return uuid7()
