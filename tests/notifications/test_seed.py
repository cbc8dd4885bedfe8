"""The demo data: the demo user's inbox holds three demo notifications, quiet hours are set at
night in India, and marketing email is off (so the demo offer has no email delivery)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from gullak import seed
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.notifications import service
from gullak.notifications.models import Notification, NotificationDelivery
from gullak.notifications.seed import DEMO_USER_ID
from gullak.settings import get_settings


async def test_the_demo_inbox(fresh_db: Database) -> None:
    notes = await seed.load(fresh_db)
    assert any(n.startswith("Notifications") for n in notes)
    async with unit_of_work(fresh_db) as session:
        page = await service.list_notifications(session, DEMO_USER_ID, limit=200)
        keyed = list(await session.scalars(select(Notification.template).where(
            Notification.user_id == DEMO_USER_ID, Notification.key.like("demo:%"))
            .order_by(Notification.id)))
        assert keyed == ["rewards.coins_earned", "orders.status_changed", "marketing.offer"]
        # The other domains' demo data raised events that notified the demo user too.
        assert len(page.items) > 3
        prefs = await service.get_preferences(session, get_settings(), DEMO_USER_ID)
        assert (prefs.quiet_start, prefs.quiet_end) == (dt.time(22), dt.time(7))
        assert prefs.channels["marketing"]["email"] is False
        offer = next(n for n in page.items if n.template == "marketing.offer")
        channels = set(await session.scalars(select(NotificationDelivery.channel).where(
            NotificationDelivery.notification_id == offer.id)))
        assert "email" not in channels
    await seed.load(fresh_db)  # again: nothing added
    async with unit_of_work(fresh_db) as session:
        rows = await session.scalars(select(Notification.id).where(
            Notification.user_id == DEMO_USER_ID))
        assert len(list(rows)) == len(page.items)
