"""Daily summaries: each day rebuilt whole in one unit of work (its rows deleted and made
again), so a rerun replaces it. User, merchant and offer summaries are aggregated from the
day's activity events in SQL, one statement each; the platform's day takes its money and
counts from the domains that own them (ledger, orders, cashback, payouts, activity,
identity), each through a function of its service that aggregates the day in SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import service as activity
from gullak.analytics import errors
from gullak.analytics.models import (
    MerchantDailySummary,
    OfferDailySummary,
    PlatformDailySummary,
    StaleDay,
    UserDailySummary,
)
from gullak.cashback import service as cashback
from gullak.identity import service as identity
from gullak.ledger import service as ledger
from gullak.orders import service as orders
from gullak.payouts import service as payouts

MODELS: dict[str, Any] = {"user": UserDailySummary, "merchant": MerchantDailySummary,
                          "offer": OfferDailySummary, "platform": PlatformDailySummary}
KEYS = {"user": "user_id", "merchant": "merchant_id", "offer": "offer_id", "platform": None}
MAX_DAYS = 366

# What the events of a day count as. A paid order is its move to `paid`.
VIEWS = "name IN ('offer.viewed', 'merchant.viewed', 'product.viewed')"
PAID = "name = 'order.status_changed' AND properties ->> 'to_status' = 'paid'"

_USERS = text(f"""
INSERT INTO user_daily_summaries (user_id, day, events, views, clicks, redemptions, sessions,
    searches, orders, spent, paid, rewards, cashback, withdrawn, steps, first_at, last_at,
    computed_at)
SELECT user_id, :day, count(*),
       count(*) FILTER (WHERE {VIEWS}),
       count(*) FILTER (WHERE name = 'offer.clicked'),
       count(*) FILTER (WHERE name = 'offer.redeemed'),
       count(*) FILTER (WHERE name IN ('app.opened', 'user.signed_in')),
       count(*) FILTER (WHERE name = 'search.performed'),
       count(*) FILTER (WHERE {PAID}),
       coalesce(sum(amount) FILTER (WHERE {PAID}), 0),
       coalesce(sum(amount) FILTER (WHERE name = 'payment.succeeded'), 0),
       coalesce(sum(amount) FILTER (WHERE name = 'reward.confirmed'), 0),
       coalesce(sum(amount) FILTER (WHERE name = 'cashback.confirmed'), 0),
       coalesce(sum(amount) FILTER (WHERE name = 'withdrawal.paid'), 0),
       coalesce(sum(amount) FILTER (WHERE name = 'activity.steps_verified'), 0),
       min(occurred_at), max(occurred_at), now()
FROM activity_events
WHERE occurred_at >= :since AND occurred_at < :until AND user_id IS NOT NULL
GROUP BY user_id
""")

_MERCHANTS = text(f"""
INSERT INTO merchant_daily_summaries (merchant_id, day, events, views, clicks, redemptions,
    visitors, orders, gmv, reviews, computed_at)
SELECT merchant_id, :day, count(*),
       count(*) FILTER (WHERE {VIEWS}),
       count(*) FILTER (WHERE name = 'offer.clicked'),
       count(*) FILTER (WHERE name = 'offer.redeemed'),
       count(DISTINCT user_id),
       count(*) FILTER (WHERE {PAID}),
       coalesce(sum(amount) FILTER (WHERE {PAID}), 0),
       count(*) FILTER (WHERE name = 'review.written'),
       now()
FROM activity_events
WHERE occurred_at >= :since AND occurred_at < :until AND merchant_id IS NOT NULL
GROUP BY merchant_id
""")

_OFFERS = text("""
INSERT INTO offer_daily_summaries (offer_id, day, merchant_id, events, views, clicks,
    redemptions, viewers, clickers, redeemers, computed_at)
SELECT offer_id, :day, (array_agg(merchant_id) FILTER (WHERE merchant_id IS NOT NULL))[1],
       count(*),
       count(*) FILTER (WHERE name = 'offer.viewed'),
       count(*) FILTER (WHERE name = 'offer.clicked'),
       count(*) FILTER (WHERE name = 'offer.redeemed'),
       count(DISTINCT user_id) FILTER (WHERE name = 'offer.viewed'),
       count(DISTINCT user_id) FILTER (WHERE name = 'offer.clicked'),
       count(DISTINCT user_id) FILTER (WHERE name = 'offer.redeemed'),
       now()
FROM activity_events
WHERE occurred_at >= :since AND occurred_at < :until AND offer_id IS NOT NULL
GROUP BY offer_id
""")

_EVENTS = text("""
SELECT count(*) AS events, count(DISTINCT user_id) AS active_users FROM activity_events
WHERE occurred_at >= :since AND occurred_at < :until
""")


def bounds(day: dt.date) -> dict[str, Any]:
    since = dt.datetime.combine(day, dt.time(), dt.UTC)
    return {"day": day, "since": since, "until": since + dt.timedelta(days=1)}


def check_range(since: dt.date, until: dt.date) -> None:
    if until < since or (until - since).days >= MAX_DAYS:
        raise errors.InvalidRange()


async def summarise_day(session: AsyncSession, day: dt.date) -> None:
    """Rebuild every summary of `day` (and clear its mark, if it had one)."""
    params = bounds(day)
    await session.execute(delete(StaleDay).where(StaleDay.day == day))
    for model, statement in ((UserDailySummary, _USERS), (MerchantDailySummary, _MERCHANTS),
                             (OfferDailySummary, _OFFERS)):
        await session.execute(delete(model).where(model.day == day))
        await session.execute(statement, params)
    counted = (await session.execute(_EVENTS, params)).one()
    coins = await ledger.coin_flows_on(session, day)
    sales = await orders.day_totals(session, day)
    backs = await cashback.day_totals(session, day)
    paid = await payouts.paid_on(session, day)
    await session.execute(delete(PlatformDailySummary).where(PlatformDailySummary.day == day))
    session.add(PlatformDailySummary(
        day=day, events=int(counted.events), active_users=int(counted.active_users),
        sign_ups=await identity.sign_ups_on(session, day), coins_issued=coins["issued"],
        coins_spent=coins["spent"], coins_expired=coins["expired"],
        cashback_pending=backs["pending"], cashback_confirmed=backs["confirmed"],
        orders=sales["orders"], gmv=sales["gmv"], refunds=sales["refunds"],
        withdrawals=paid["withdrawals"], withdrawn=paid["withdrawn"],
        steps=await activity.verified_steps_on(session, day)))
    await session.flush()


async def take_stale(session: AsyncSession, *, limit: int = 1) -> list[dt.date]:
    """Marked days, oldest first, locked for this unit of work (another worker skips them)."""
    return list((await session.scalars(
        select(StaleDay.day).order_by(StaleDay.day).limit(limit)
        .with_for_update(skip_locked=True))).all())


async def recompute_stale(session: AsyncSession, *, limit: int = 1) -> list[dt.date]:
    """Recompute up to `limit` marked days in this unit of work; the days. A late event that
    arrives meanwhile marks its day again once this commits (its mark waits on the lock),
    so it is never lost."""
    days = await take_stale(session, limit=limit)
    for day in days:
        await summarise_day(session, day)
    return days


async def computed_at(session: AsyncSession, day: dt.date) -> dt.datetime | None:
    found: dt.datetime | None = await session.scalar(
        select(PlatformDailySummary.computed_at).where(PlatformDailySummary.day == day))
    return found


# -- reading ----------------------------------------------------------------------------------

def _model(kind: str) -> Any:
    model = MODELS.get(str(kind))
    if model is None:
        raise errors.UnknownSummary()
    return model


async def stream_summaries(session: AsyncSession, kind: str, since: dt.date,
                           until: dt.date) -> AsyncIterator[dict[str, Any]]:
    """Every summary row of `kind` (user, merchant, offer, platform) from `since` through
    `until`, by day then key, through a server-side cursor: a range of any size in flat
    memory. Each row is a dict of the table's columns."""
    model = _model(kind)
    key = KEYS[str(kind)]
    columns = [c for c in model.__table__.columns]
    order = [model.day] + ([getattr(model, key)] if key else [])
    query = (select(*columns).where(model.day >= since, model.day <= until).order_by(*order)
             .execution_options(yield_per=2000))
    async for row in (await session.stream(query)).mappings():
        yield dict(row)


_SUMMED = {
    "platform": ("events", "sign_ups", "coins_issued", "coins_spent", "coins_expired",
                 "cashback_pending", "cashback_confirmed", "orders", "gmv", "refunds",
                 "withdrawals", "withdrawn", "steps"),
    "merchant": ("events", "views", "clicks", "redemptions", "visitors", "orders", "gmv",
                 "reviews"),
    "offer": ("views", "clicks", "redemptions", "viewers", "clickers", "redeemers"),
    "user": ("events", "sessions", "searches", "views", "clicks", "redemptions", "orders",
             "spent", "paid", "rewards", "cashback", "withdrawn", "steps"),
}


async def periods(session: AsyncSession, kind: str, since: dt.date, until: dt.date,
                  grouping: str, key: Any = None) -> list[dict[str, Any]]:
    """A summary's days from `since` through `until` (of one merchant, offer or user when
    `key` is given), summed by day, week (from Monday) or month, newest first."""
    check_range(since, until)
    table = _model(kind).__tablename__
    column = KEYS[kind]
    sums = ", ".join(f"coalesce(sum({c}), 0)::bigint AS {c}" for c in _SUMMED[kind])
    extra = ", coalesce(max(active_users), 0)::bigint AS active_users" if kind == "platform" else ""
    where = f" AND {column} = :key" if column else ""
    rows = await session.execute(text(
        f"SELECT date_trunc(:unit, day)::date AS period, count(*)::int AS days, {sums}{extra}"
        f" FROM {table} WHERE day >= :since AND day <= :until{where}"
        " GROUP BY 1 ORDER BY 1 DESC"),
        {"unit": grouping, "since": since, "until": until, "key": key})
    found = [dict(r._mapping) for r in rows]
    if kind == "offer":
        for r in found:
            viewers = r["viewers"]
            r["conversion"] = round(r["redeemers"] / viewers, 4) if viewers else None
            r["click_through"] = round(r["clickers"] / viewers, 4) if viewers else None
    return found
