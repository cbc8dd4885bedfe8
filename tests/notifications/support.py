"""Users with phones, emails and devices, made directly; a template on every channel."""

from __future__ import annotations

import itertools
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity.models import Device, User
from gullak.notifications.models import NotificationDelivery, NotificationTemplate

_serial = itertools.count(1)
EVERYWHERE = "test.everywhere"


async def make_user(session: AsyncSession, *, language: str = "en", email: bool = True,
                    phone: bool = True, devices: tuple[str, ...] = ("android", "ios")
                    ) -> uuid.UUID:
    n = next(_serial)
    user = User(phone=f"+9197{uuid.uuid4().int % 100_000_000:08d}" if phone else None,
                email=f"user{n}-{uuid.uuid4().hex[:6]}@example.com" if email else None,
                referral_code=uuid.uuid4().hex[:10].upper(), language=language)
    session.add(user)
    await session.flush()
    for i, platform in enumerate(devices):
        session.add(Device(user_id=user.id, device_id=f"dev-{n}-{i}", platform=platform,
                           push_token=f"token-{platform}-{uuid.uuid4().hex}"))
    await session.flush()
    return user.id


async def add_everywhere_template(session: AsyncSession, category: str = "rewards") -> str:
    """A template sent to all four channels, in English and Hindi."""
    code = f"{EVERYWHERE}.{next(_serial)}"
    parts = {"inbox": {"title": "Hi {name}", "body": "You have {count} new things"},
             "push": {"title": "Hi {name}", "body": "You have {count} new things"},
             "sms": {"text": "Hi {name}, {count} new things"},
             "email": {"subject": "Hi {name}", "text": "{count} new things",
                       "html": "<p>{count} new things for {name}</p>"}}
    hindi = {channel: {k: "नमस्ते " + v for k, v in p.items()} for channel, p in parts.items()}
    session.add(NotificationTemplate(code=code, category=category,
                                     channels=["inbox", "push", "sms", "email"],
                                     variables=["name", "count"],
                                     content={"en": parts, "hi": hindi}))
    await session.flush()
    return code


async def deliveries(session: AsyncSession, notification_id: uuid.UUID
                     ) -> list[NotificationDelivery]:
    rows = await session.scalars(select(NotificationDelivery).where(
        NotificationDelivery.notification_id == notification_id)
        .order_by(NotificationDelivery.channel, NotificationDelivery.platform))
    return list(rows)


async def count(session: AsyncSession, model: type, **where: object) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return int(await session.scalar(query) or 0)
