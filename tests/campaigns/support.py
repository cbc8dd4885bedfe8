"""Campaigns test tools: users built row by row to match (or not) each segment filter, a
notification template to send with, and campaigns ready to send."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.campaigns import service
from gullak.campaigns.models import Campaign
from gullak.campaigns.schemas import CampaignIn, SegmentIn, VariantIn
from gullak.identity.models import Address, Device, User
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.loyalty.models import LoyaltyTier, UserLoyalty
from gullak.notifications import service as notifications
from gullak.notifications.models import Notification
from gullak.notifications.schemas import TemplateIn
from gullak.orders.models import Order

_serial = itertools.count(1)


def serial() -> int:
    return next(_serial)


async def make_user(session: AsyncSession, *, city: str | None = None,
                    last_login: dt.datetime | None = None, platform: str | None = None,
                    app_version: str | None = None, phone: bool = True,
                    status: str = "active") -> uuid.UUID:
    n = serial()
    user = User(id=uuid7(), referral_code=f"CMP{n:08d}{uuid.uuid4().hex[:6]}",
                phone=f"+9197{n:08d}" if phone else None, status=status,
                last_login_at=last_login)
    session.add(user)
    await session.flush()
    if city is not None:
        session.add(Address(user_id=user.id, line1="1 Main Road", city=city))
    if platform is not None:
        session.add(Device(user_id=user.id, device_id=f"dev-{n}", platform=platform,
                           app_version=app_version))
    await session.flush()
    return user.id


async def make_tiers(session: AsyncSession) -> None:
    """bronze (the lowest: every user never ranked), silver, gold."""
    for rank, code in enumerate(("bronze", "silver", "gold")):
        session.add(LoyaltyTier(code=code, name=code.title(), rank=rank, metric="spent",
                                threshold=rank * 100_000, window_days=365,
                                multiplier_bp=10_000 + rank * 1000))
    await session.flush()


async def set_tier(session: AsyncSession, user_id: uuid.UUID, code: str) -> None:
    session.add(UserLoyalty(user_id=user_id, tier_code=code, since=clock.now()))
    await session.flush()


async def add_order(session: AsyncSession, user_id: uuid.UUID, *, status: str = "completed",
                    at: dt.datetime | None = None, total: int = 10_000) -> uuid.UUID:
    order = Order(id=uuid7(), number=f"ORD-TEST-{serial():08d}", user_id=user_id,
                  merchant_id=uuid7(), kind="purchase", status=status, fulfilment="pickup",
                  currency="INR", subtotal=total, discount=0, delivery_fee=0, tax=0,
                  total=total)
    if at is not None:
        order.created_at = at
    session.add(order)
    await session.flush()
    return order.id


TEMPLATE = {"en": {"inbox": {"title": "Hello {name}", "body": "Come back"},
                   "push": {"title": "Hello {name}", "body": "Come back"},
                   "sms": {"text": "Hello {name}, come back"}}}


async def make_template(session: AsyncSession, *, channels: tuple[str, ...] = ("inbox",)) -> str:
    code = f"promo_{serial()}"
    content = {"en": {c: TEMPLATE["en"][c] for c in channels}}
    await notifications.create_template(session, code, TemplateIn.model_validate({
        "category": "marketing", "channels": list(channels), "variables": ["name"],
        "content": content}))
    return code


async def make_segment(session: AsyncSession, filters: list[dict[str, Any]]) -> uuid.UUID:
    out = await service.create_segment(session, SegmentIn.model_validate(
        {"name": f"segment {serial()}", "filters": filters}), None)
    return out.id


async def sending_campaign(session: AsyncSession, segment_id: uuid.UUID, template: str, *,
                           throttle: int = 1000, variants: list[VariantIn] | None = None,
                           attribution_days: int = 7, channel: str = "inbox") -> uuid.UUID:
    """A campaign already sending (approval and scheduling are the API tests' business)."""
    out = await service.create_campaign(session, CampaignIn(
        name=f"campaign {serial()}", segment_id=segment_id, channel=channel,  # type: ignore[arg-type]
        template_code=template, data={"name": "friend"}, throttle_per_minute=throttle,
        attribution_days=attribution_days, variants=variants), None)
    row = await session.get(Campaign, out.id)
    assert row is not None
    row.status, row.send_at, row.started_at = "sending", clock.now(), clock.now()
    await session.flush()
    return out.id


async def notifications_of(session: AsyncSession, campaign_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """How many notifications each user has from the campaign."""
    rows = await session.execute(select(Notification.user_id, func.count()).where(
        Notification.campaign_id == campaign_id).group_by(Notification.user_id))
    return {u: int(n) for u, n in rows}
