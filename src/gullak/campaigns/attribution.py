"""Conversions and results. An order paid (or completed) or an offer redeemed by a user
within a campaign's attribution window after a message reached them is that campaign's
conversion, in the user's variant: the first one counts, once per user per campaign. Only
users a message reached convert: a suppressed send showed them nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.campaigns.models import Conversion, Recipient, Variant
from gullak.campaigns.schemas import ResultsOut, Status, VariantResult
from gullak.campaigns.workflow import get_campaign
from gullak.db.engine import driver_rows
from gullak.kit import clock
from gullak.kit.events import Event

CONVERTING_ORDER = ("paid", "completed")


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# Every order paid and every offer redeemed asks: one statement written once, on the driver.
_ATTRIBUTE = """
INSERT INTO campaign_conversions (campaign_id, user_id, variant, source, reference_id, revenue,
                                  currency, converted_at)
SELECT r.campaign_id, r.user_id, r.variant, %(source)s::text, %(ref)s::uuid,
       %(revenue)s::bigint, %(currency)s::text, %(now)s::timestamptz
FROM campaign_recipients r JOIN notification_campaigns c ON c.id = r.campaign_id
WHERE r.user_id = %(user)s AND NOT r.suppressed AND r.sent_at <= %(now)s
  AND r.sent_at + make_interval(0, 0, 0, c.attribution_days) >= %(now)s
ON CONFLICT DO NOTHING
RETURNING campaign_id
"""


async def attribute(session: AsyncSession, user_id: uuid.UUID, source: str,
                    reference_id: uuid.UUID, revenue: int | None,
                    currency: str | None) -> int:
    """Record the conversion for every campaign that reached the user within its window; a
    campaign the user already converted for keeps its first. How many were recorded."""
    now = clock.now()
    stored = await driver_rows(session, _ATTRIBUTE, {
        "source": source, "ref": reference_id, "revenue": revenue, "currency": currency,
        "now": now, "user": user_id})
    return len(stored)


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
