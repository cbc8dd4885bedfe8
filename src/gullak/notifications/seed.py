"""Demo data: the demo user's preferences (quiet hours at night in India, marketing email
off) and a few notifications in their inbox, sent through the sandboxes."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.demo import DataSet
from gullak.notifications import preferences
from gullak.notifications.schemas import Category, OutsideChannel, PreferencesIn
from gullak.notifications.service import notify
from gullak.settings import get_settings

DEMO_USER_ID = uuid.UUID("01900000-0000-7000-8000-00000000d3e0")  # identity's demo user


async def load(session: AsyncSession) -> None:
    await preferences.put_preferences(session, get_settings(), DEMO_USER_ID, PreferencesIn(
        time_zone="Asia/Kolkata", quiet_start=dt.time(22), quiet_end=dt.time(7),
        channels={Category.marketing: {OutsideChannel.email: False}}))
    await notify(session, DEMO_USER_ID, "rewards.coins_earned", {"amount": "50 REZ"},
                 key="demo:coins")
    await notify(session, DEMO_USER_ID, "orders.status_changed",
                 {"number": "ORD-DEMO-000001", "status": "shipped"}, key="demo:order")
    await notify(session, DEMO_USER_ID, "marketing.offer",
                 {"title": "Weekend cashback", "body": "10% back on groceries till Sunday."},
                 key="demo:offer")


DATA_SETS = (DataSet(
    "notifications", load, needs=("identity",),
    notes=("Notifications  GET /v1/me/notifications; what push and email would send:"
           " `.venv/bin/gullak push outbox`, `.venv/bin/gullak email outbox`",)),)
