"""Tracking: views and clicks (partitioned by month, the most written tables), saves and
shares; and the job's side of the partitions, created ahead of time."""

from __future__ import annotations

import datetime as dt
import hmac
import uuid

from sqlalchemy import delete, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.errors import GullakError
from gullak.kit.ids import uuid7
from gullak.merchants import service as merchants
from gullak.offers import errors, lookup
from gullak.offers.models import Click, Offer, Save, Share, View
from gullak.offers.schemas import ClickOut, OfferStatsOut, SavedOfferOut

PARTITIONED = ("offer_views", "offer_clicks")
PARTITION_SCHEMA = "offer_partitions"
MONTHS_AHEAD = 3


def client_hash(secret: str, ip: str | None, user_agent: str | None) -> str | None:
    """A keyed digest of where a request came from: counts unique visitors, finds no one."""
    if ip is None:
        return None
    message = f"{ip}:{user_agent or ''}".encode()
    return hmac.new(secret.encode(), message, "sha256").hexdigest()[:32]


async def record_view(session: AsyncSession, offer_id: uuid.UUID, user_id: uuid.UUID | None,
                      *, source: str | None = None, client: str | None = None) -> None:
    offer = await lookup.public(session, offer_id)
    await session.execute(insert(View).values(
        id=uuid7(), created_at=clock.now(), offer_id=offer.id, merchant_id=offer.merchant_id,
        user_id=user_id, source=source, client_hash=client))


async def record_click(session: AsyncSession, offer_id: uuid.UUID, user_id: uuid.UUID | None,
                       *, source: str | None = None, device_type: str | None = None,
                       client: str | None = None) -> ClickOut:
    """A click out to the merchant: a new click id, carried in the merchant's tracking URL so
    that a conversion reported later can be matched to this click."""
    offer = await lookup.public(session, offer_id)
    merchant = await merchants.get_merchant(session, offer.merchant_id)
    click_id, now = uuid7(), clock.now()
    try:
        url: str | None = merchants.tracking_url(merchant, str(click_id), user_id, offer.id)
    except GullakError:
        url = None  # nowhere to send the user; the click still counts
    await session.execute(insert(Click).values(
        id=click_id, created_at=now, offer_id=offer.id, merchant_id=offer.merchant_id,
        user_id=user_id, tracking_url=url, source=source, device_type=device_type,
        client_hash=client))
    return ClickOut(click_id=click_id, offer_id=offer.id, merchant_id=offer.merchant_id,
                    user_id=user_id, tracking_url=url, created_at=now)


async def get_click(session: AsyncSession, click_id: uuid.UUID) -> ClickOut:
    """The click a conversion names (for cashback matching)."""
    row = (await session.execute(select(Click).where(Click.id == click_id))).scalar()
    if row is None:
        raise errors.ClickNotFound()
    return ClickOut(click_id=row.id, offer_id=row.offer_id, merchant_id=row.merchant_id,
                    user_id=row.user_id, tracking_url=row.tracking_url,
                    created_at=row.created_at)


async def share(session: AsyncSession, offer_id: uuid.UUID, user_id: uuid.UUID,
                channel: str) -> None:
    offer = await lookup.public(session, offer_id)
    session.add(Share(offer_id=offer.id, user_id=user_id, channel=str(channel),
                      created_at=clock.now()))
    await session.flush()


async def save(session: AsyncSession, offer_id: uuid.UUID, user_id: uuid.UUID) -> SavedOfferOut:
    """Save an offer for later; saving it again changes nothing."""
    offer = await lookup.public(session, offer_id)
    await session.execute(pg_insert(Save).values(
        user_id=user_id, offer_id=offer.id, created_at=clock.now()).on_conflict_do_nothing())
    saved_at = (await session.execute(select(Save.created_at).where(
        Save.user_id == user_id, Save.offer_id == offer.id))).scalar_one()
    return SavedOfferOut(offer=lookup.public_out(offer), saved_at=saved_at)


async def unsave(session: AsyncSession, offer_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await session.execute(delete(Save).where(Save.user_id == user_id,
                                             Save.offer_id == offer_id))


async def saved_offers(session: AsyncSession, user_id: uuid.UUID, *,
                       limit: int = 100) -> list[SavedOfferOut]:
    """Newest saved first; offers no longer public (taken back for review) are left out."""
    rows = (await session.execute(
        select(Offer, Save.created_at).join(Save, Save.offer_id == Offer.id)
        .where(Save.user_id == user_id, Offer.status.in_(lookup.PUBLIC_STATUSES))
        .order_by(Save.created_at.desc()).limit(limit))).all()
    now = clock.now()
    return [SavedOfferOut(offer=lookup.public_out(o, now), saved_at=at) for o, at in rows]


async def stats(session: AsyncSession, offer_id: uuid.UUID,
                merchant_id: uuid.UUID | None = None) -> OfferStatsOut:
    offer = await lookup.offer(session, offer_id, merchant_id)
    params = {"o": offer.id}
    row = (await session.execute(text("""
        SELECT (SELECT count(*) FROM offer_views WHERE offer_id = :o) AS views,
               (SELECT count(DISTINCT coalesce(user_id::text, client_hash))
                FROM offer_views WHERE offer_id = :o) AS unique_viewers,
               (SELECT count(*) FROM offer_clicks WHERE offer_id = :o) AS clicks,
               (SELECT count(*) FROM offer_saves WHERE offer_id = :o) AS saves,
               (SELECT count(*) FROM offer_shares WHERE offer_id = :o) AS shares
    """), params)).one()
    by_status = {status: count for status, count in await session.execute(text(
        "SELECT status, count(*) FROM offer_redemptions WHERE offer_id = :o GROUP BY status"),
        params)}
    return OfferStatsOut(offer_id=offer.id, views=row.views, unique_viewers=row.unique_viewers,
                         clicks=row.clicks, saves=row.saves, shares=row.shares,
                         redemptions={s: int(by_status.get(s, 0)) for s in
                                      ("pending", "completed", "cancelled", "refunded")})


# -- partitions -------------------------------------------------------------------------------

def month_start(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(month: dt.datetime) -> dt.datetime:
    return (month + dt.timedelta(days=32)).replace(day=1)


def partition_name(parent: str, month: dt.datetime) -> str:
    return f"{parent}_p{month:%Y_%m}"


async def ensure_partitions(session: AsyncSession, *,
                            months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Create the monthly partitions of views and clicks from this month to `months_ahead`
    months on (UTC months); returns the names created."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('offers.partitions'))"))
    created = []
    month = month_start(clock.now())
    for _ in range(months_ahead + 1):
        end = _next_month(month)
        for parent in PARTITIONED:
            name = partition_name(parent, month)
            exists = await session.scalar(text("SELECT to_regclass(:n)"),
                                          {"n": f"{PARTITION_SCHEMA}.{name}"})
            if exists is None:
                await _create_partition(session, parent, name, month, end)
                created.append(name)
        month = end
    return created


async def _create_partition(session: AsyncSession, parent: str, name: str,
                            start: dt.datetime, end: dt.datetime) -> None:
    table, default = f"{PARTITION_SCHEMA}.{name}", f"{PARTITION_SCHEMA}.{parent}_default"
    bounds = f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    window = {"lo": start, "hi": end}
    stray = await session.scalar(text(
        f"SELECT count(*) FROM {default} WHERE created_at >= :lo AND created_at < :hi"), window)
    if not stray:
        await session.execute(text(f"CREATE TABLE {table} PARTITION OF public.{parent} {bounds}"))
        return
    # Rows written while the month had no partition wait in the default one: move them in.
    # The lock keeps new ones from landing there until the partition is attached.
    await session.execute(text(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE"))
    await session.execute(text(
        f"CREATE TABLE {table} (LIKE public.{parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    await session.execute(text(
        f"WITH moved AS (DELETE FROM {default} WHERE created_at >= :lo AND created_at < :hi"
        f" RETURNING *) INSERT INTO {table} SELECT * FROM moved"), window)
    await session.execute(text(f"ALTER TABLE public.{parent} ATTACH PARTITION {table} {bounds}"))


async def partitions(session: AsyncSession, parent: str) -> dict[str, int]:
    """Each partition of `parent` and how many rows it holds (for operators and tests)."""
    names = (await session.scalars(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :p ORDER BY 1"),
        {"p": parent})).all()
    return {n: int(await session.scalar(text(f"SELECT count(*) FROM {PARTITION_SCHEMA}.{n}"))
                   or 0) for n in names}
