"""Analytics commands and queries, the domain's public face: ingestion (ingest.py), the
monthly partitions (partitions.py), the daily summaries (summaries.py), and the queries that
are not stored: active users and a user's statistics."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.analytics import catalogue, partitions
from gullak.analytics.ingest import ingest, record, record_many
from gullak.analytics.models import MerchantDailySummary, UserDailySummary
from gullak.analytics.schemas import (
    ActiveUsersOut,
    BalanceOut,
    EventTypeOut,
    PartitionsOut,
    TopBy,
    TopMerchantOut,
    UserStatsOut,
)
from gullak.analytics.summaries import (
    check_range,
    computed_at,
    periods,
    recompute_stale,
    stream_summaries,
    summarise_day,
)
from gullak.identity import service as identity
from gullak.kit import clock
from gullak.ledger import service as ledger
from gullak.settings import Settings

__all__ = [
    "active_users", "catalogue_out", "computed_at", "ingest", "maintain_partitions",
    "periods", "recompute_stale", "record", "record_many", "stream_summaries",
    "summarise_day", "top_merchants", "user_stats",
]


def catalogue_out() -> list[EventTypeOut]:
    return [EventTypeOut(name=e.name, source=e.source, description=e.description,
                         properties=dict(e.properties), required=sorted(e.required))
            for e in sorted(catalogue.CATALOGUE.values(), key=lambda e: (e.source, e.name))]


async def maintain_partitions(session: AsyncSession, settings: Settings) -> PartitionsOut:
    """Make the months ahead and drop those past the retention."""
    made = await partitions.ensure(session)
    dropped = await partitions.drop_expired(session, settings.analytics_retention_days)
    return PartitionsOut(made=made, dropped=dropped, months=await partitions.months(session))


_ACTIVE = text("""
SELECT count(DISTINCT user_id) FILTER (WHERE occurred_at >= :day) AS dau,
       count(DISTINCT user_id) FILTER (WHERE occurred_at >= :week) AS wau,
       count(DISTINCT user_id) AS mau
FROM activity_events WHERE occurred_at >= :month AND occurred_at <= :at
  AND user_id IS NOT NULL
""")


async def active_users(session: AsyncSession) -> ActiveUsersOut:
    """DAU, WAU and MAU up to now, by events and by sessions (users and their sign-in
    sessions, identity's): a query, not a stored view."""
    at = clock.now()
    windows = {"day": at - dt.timedelta(days=1), "week": at - dt.timedelta(days=7),
               "month": at - dt.timedelta(days=30)}
    row = (await session.execute(_ACTIVE, {**windows, "at": at})).one()
    by_session = {}
    for name, since in windows.items():
        by_session[name] = int(await session.scalar(select(func.count()).select_from(
            identity.users_active_since(since).subquery())) or 0)
    return ActiveUsersOut(at=at, dau=int(row.dau), wau=int(row.wau), mau=int(row.mau),
                          session_dau=by_session["day"], session_wau=by_session["week"],
                          session_mau=by_session["month"])


_TOTALS = ("events", "sessions", "searches", "views", "clicks", "redemptions", "orders",
           "spent", "paid", "rewards", "cashback", "withdrawn", "steps")


async def user_stats(session: AsyncSession, user_id: uuid.UUID, since: dt.date,
                     until: dt.date) -> UserStatsOut:
    """A user's totals over their daily summaries from `since` through `until`, and their
    balances now (the ledger's): a query, not a stored view."""
    check_range(since, until)
    s = UserDailySummary
    columns: list[Any] = [func.coalesce(func.sum(getattr(s, c)), 0) for c in _TOTALS]
    row = (await session.execute(select(func.count(), func.max(s.last_at), *columns).where(
        s.user_id == user_id, s.day >= since, s.day <= until))).one()
    holdings = await ledger.holdings(session, "user", user_id)
    return UserStatsOut(
        user_id=user_id, since=since, until=until, active_days=int(row[0]),
        last_active_at=row[1], totals={c: int(v) for c, v in zip(_TOTALS, row[2:], strict=True)},
        balances=[BalanceOut(asset_code=h.asset_code, posted=h.posted, available=h.available)
                  for h in holdings if h.account_id is not None])


async def top_merchants(session: AsyncSession, since: dt.date, until: dt.date, by: TopBy,
                        limit: int) -> list[TopMerchantOut]:
    """The merchants first by `by` over the days asked, summed from their daily summaries
    (a query, not a stored view: the summaries are already one row per merchant and day)."""
    check_range(since, until)
    m = MerchantDailySummary
    sums = {name: func.sum(getattr(m, name)).label(name)
            for name in ("events", "views", "clicks", "redemptions", "visitors", "orders", "gmv",
                         "reviews")}
    rows = await session.execute(
        select(m.merchant_id, *sums.values()).where(m.day.between(since, until))
        .group_by(m.merchant_id).order_by(sums[by.value].desc(), m.merchant_id).limit(limit))
    return [TopMerchantOut.model_validate(dict(r._mapping)) for r in rows]
