"""Conversions and results. An order paid (or completed) or an offer redeemed by a user
within a campaign's attribution window after a message reached them is that campaign's
conversion, in the user's variant: the first one counts, once per user per campaign. Only
users a message reached convert: a suppressed send showed them nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, DateTime, Text, Uuid, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.campaigns.models import Campaign, Conversion, Recipient, Variant
from gullak.campaigns.schemas import ResultsOut, Status, VariantResult
from gullak.campaigns.workflow import get_campaign
from gullak.kit import clock
from gullak.kit.events import Event

CONVERTING_ORDER = ("paid", "completed")


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def attribute(session: AsyncSession, user_id: uuid.UUID, source: str,
                    reference_id: uuid.UUID, revenue: int | None,
                    currency: str | None) -> int:
    """Record the conversion for every campaign that reached the user within its window; a
    campaign the user already converted for keeps its first. How many were recorded."""
    now = clock.now()
    window = Recipient.sent_at + func.make_interval(0, 0, 0, Campaign.attribution_days)
    reached = (select(Recipient.campaign_id, Recipient.user_id, Recipient.variant,
                      literal(source, Text), literal(reference_id, Uuid),
                      literal(revenue, BigInteger), literal(currency, Text),
                      literal(now, DateTime(timezone=True)))
               .join(Campaign, Campaign.id == Recipient.campaign_id)
               .where(Recipient.user_id == user_id, Recipient.suppressed.is_(False),
                      Recipient.sent_at <= now, window >= now))
    stored = await session.scalars(
        insert(Conversion).from_select(
            ["campaign_id", "user_id", "variant", "source", "reference_id", "revenue",
             "currency", "converted_at"], reached)
        .on_conflict_do_nothing().returning(Conversion.campaign_id))
    return len(list(stored))


async def order_status_changed(session: AsyncSession, event: Event) -> None:
    data = event.data
    if data.get("to_status") not in CONVERTING_ORDER:
        return
    user_id, order_id = _uuid(data.get("user_id")), _uuid(data.get("order_id"))
    if user_id is None or order_id is None:
        return
    total, refunded = data.get("total"), data.get("refunded") or 0
    revenue = max(total - refunded, 0) if type(total) is int and type(refunded) is int else None
    currency = data.get("currency") if isinstance(data.get("currency"), str) else None
    await attribute(session, user_id, "order", order_id, revenue,
                    currency if revenue is not None else None)


async def offer_redeemed(session: AsyncSession, event: Event) -> None:
    data = event.data
    user_id, redemption_id = _uuid(data.get("user_id")), _uuid(data.get("redemption_id"))
    if user_id is None or redemption_id is None:
        return
    await attribute(session, user_id, "offer", redemption_id, None, None)


async def results(session: AsyncSession, campaign_id: uuid.UUID) -> ResultsOut:
    campaign = await get_campaign(session, campaign_id)
    counts = {row.variant: row for row in await session.execute(
        select(Recipient.variant, func.count().label("recipients"),
               func.count(Recipient.notification_id).label("delivered"),
               func.count().filter(Recipient.suppressed).label("suppressed"))
        .where(Recipient.campaign_id == campaign_id).group_by(Recipient.variant))}
    converted: dict[str, int] = {}
    revenue: dict[str, dict[str, int]] = {}
    for row in await session.execute(
            select(Conversion.variant, Conversion.currency, func.count().label("n"),
                   func.coalesce(func.sum(Conversion.revenue), 0).label("revenue"))
            .where(Conversion.campaign_id == campaign_id)
            .group_by(Conversion.variant, Conversion.currency)):
        converted[row.variant] = converted.get(row.variant, 0) + int(row.n)
        if row.currency is not None:
            revenue.setdefault(row.variant, {})[row.currency] = int(row.revenue)
    variants = list(await session.scalars(select(Variant).where(
        Variant.campaign_id == campaign_id).order_by(Variant.position)))
    out = []
    for v in variants:
        c = counts.get(v.code)
        delivered = int(c.delivered) if c else 0
        conversions = converted.get(v.code, 0)
        out.append(VariantResult(
            variant=v.code, percent=v.percent, recipients=int(c.recipients) if c else 0,
            delivered=delivered, suppressed=int(c.suppressed) if c else 0,
            conversions=conversions,
            conversion_rate=round(conversions / delivered, 4) if delivered else 0.0,
            revenue=revenue.get(v.code, {})))
    return ResultsOut(campaign_id=campaign_id, status=Status(campaign.status), variants=out)
