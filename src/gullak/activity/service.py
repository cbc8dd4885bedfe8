"""Activity commands and queries, the domain's public face: syncing steps (steps.py), the
verdict and coins of a day (conversion.py), the daily conversion (daily.py), the review queue
and a user's summary (reviews.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity.batch import settle_many
from gullak.activity.challenges import cancel, create, finish, finish_due, get, join, listed, mine
from gullak.activity.conversion import REFERENCE, settle
from gullak.activity.daily import convert_closed, convert_day, open_days, post_with
from gullak.activity.reviews import decide, reviews, summary
from gullak.activity.steps import (
    closes_at,
    days,
    drop_old_partitions,
    ensure_partitions,
    ingest,
    is_over,
    verified_days,
    verified_total,
)

__all__ = [
    "REFERENCE", "cancel", "closes_at", "create", "finish", "finish_due", "get", "join",
    "listed", "mine", "convert_closed", "convert_day", "days", "decide",
    "drop_old_partitions", "ensure_partitions", "ingest", "is_over", "open_days", "post_with",
    "reviews", "settle", "settle_many", "summary", "verified_days", "verified_total",
]


# -- analytics: a day's steps -----------------------------------------------------------------

async def verified_steps_on(session: AsyncSession, day: dt.date) -> int:
    """Every user's verified steps of one day, summed."""
    from sqlalchemy import func, select

    from gullak.activity.models import DaySummary

    return int(await session.scalar(select(func.coalesce(func.sum(DaySummary.verified_steps), 0))
                                    .where(DaySummary.day == day)) or 0)
