"""Activity commands and queries, the domain's public face: syncing steps (steps.py), the
verdict and coins of a day (conversion.py), the daily conversion (daily.py), the review queue
and a user's summary (reviews.py)."""

from __future__ import annotations

import datetime as dt
import uuid

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
from gullak.activity.schemas import ReviewOut
from gullak.kit.browse import Browse, Page
from gullak.activity.models import DaySummary
from gullak.activity.models import Validation
from gullak.activity.reviews import review_out
from gullak.kit.browse import page
from gullak.activity import errors

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


    return int(await session.scalar(select(func.coalesce(func.sum(DaySummary.verified_steps), 0))
                                    .where(DaySummary.day == day)) or 0)


# -- the console: the review queue, browsed and counted ---------------------------------------

async def browse_step_reviews(session: AsyncSession, browse: Browse) -> Page:
    """Step days waiting for a decision (as `reviews`), a keyset page sortable by day or
    score; rows are ReviewOut."""
    from sqlalchemy import select


    query = select(Validation).join(DaySummary, DaySummary.id == Validation.summary_id).where(
        Validation.outcome == "review", Validation.decided_at.is_(None),
        DaySummary.status == "review")
    found = await page(session, query, browse, Validation.id,
                       {"day": Validation.day, "score": Validation.score})
    return Page([review_out(v) for v in found.rows], found.next_cursor)


async def count_step_reviews(session: AsyncSession) -> int:
    from sqlalchemy import func, select


    found = await session.scalar(select(func.count()).select_from(Validation).join(
        DaySummary, DaySummary.id == Validation.summary_id).where(
        Validation.outcome == "review", Validation.decided_at.is_(None),
        DaySummary.status == "review"))
    return int(found or 0)


async def get_step_review(session: AsyncSession, validation_id: uuid.UUID) -> ReviewOut:
    """One validation, decided or not (an unknown id: review_not_found)."""

    found = await session.get(Validation, validation_id)
    if found is None:
        raise errors.ReviewNotFound()
    return review_out(found)
