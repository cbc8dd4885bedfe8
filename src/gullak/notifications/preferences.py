"""A user's notification preferences: which channels each category may use, the time zone,
and quiet hours; and the rules notify applies with them (opt-outs, quiet hours, caps)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.notifications import errors
from gullak.notifications.models import CATEGORIES, Notification, NotificationPreference
from gullak.notifications.schemas import PreferencesIn, PreferencesOut
from gullak.settings import Settings

# Transactional messages (one-time codes, payouts, security) go on every channel of their
# template and at any hour: the user must not miss them.
TRANSACTIONAL = "transactional"
TOGGLED = ("push", "sms", "email")  # the inbox always keeps a copy


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise errors.InvalidTimeZone(f"{name!r} is not a known time zone.",
                                     field="time_zone") from None


def allowed(prefs: NotificationPreference | None, category: str, channel: str) -> bool:
    if category == TRANSACTIONAL or channel not in TOGGLED or prefs is None:
        return True
    return bool(prefs.channels.get(category, {}).get(channel, True))


def quiet_until(prefs: NotificationPreference | None, category: str,
                now: dt.datetime) -> dt.datetime:
    """When a message made now may go out: now, or the end of the user's quiet hours."""
    if (category == TRANSACTIONAL or prefs is None or prefs.quiet_start is None
            or prefs.quiet_end is None or prefs.quiet_start == prefs.quiet_end):
        return now
    tz = zone(prefs.time_zone)
    local = now.astimezone(tz)
    start, end, t = prefs.quiet_start, prefs.quiet_end, local.time().replace(tzinfo=None)
    if start < end:
        if not start <= t < end:
            return now
        day = local.date()
    else:  # over midnight: 22:00 to 07:00
        if end <= t < start:
            return now
        day = local.date() if t < end else local.date() + dt.timedelta(days=1)
    return max(now, dt.datetime.combine(day, end, tzinfo=tz).astimezone(dt.UTC))


async def capped(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                 now: dt.datetime) -> bool:
    """The user had as many marketing messages as the day's or the week's cap allows."""
    week = await session.execute(select(
        func.count().filter(Notification.created_at > now - dt.timedelta(days=1)),
        func.count()).where(Notification.user_id == user_id, Notification.category == "marketing",
                            Notification.created_at > now - dt.timedelta(days=7)))
    day_count, week_count = week.one()
    return (day_count >= settings.notifications_marketing_per_day
            or week_count >= settings.notifications_marketing_per_week)


def _out(settings: Settings, prefs: NotificationPreference | None) -> PreferencesOut:
    channels: dict[str, dict[str, bool]] = {
        c: {ch: allowed(prefs, c, ch) for ch in TOGGLED} for c in CATEGORIES}
    if prefs is None:
        return PreferencesOut(time_zone=settings.notifications_time_zone, quiet_start=None,
                              quiet_end=None, channels=channels)
    return PreferencesOut(time_zone=prefs.time_zone, quiet_start=prefs.quiet_start,
                          quiet_end=prefs.quiet_end, channels=channels)


async def get_preferences(session: AsyncSession, settings: Settings,
                          user_id: uuid.UUID) -> PreferencesOut:
    return _out(settings, await session.get(NotificationPreference, user_id))


async def put_preferences(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                          data: PreferencesIn) -> PreferencesOut:
    """Replace the time zone and quiet hours; merge the channel choices given (a category
    or channel left out keeps its choice)."""
    time_zone = data.time_zone or settings.notifications_time_zone
    zone(time_zone)
    prefs = await session.get(NotificationPreference, user_id, with_for_update=True)
    if prefs is None:
        prefs = NotificationPreference(user_id=user_id, channels={})
        session.add(prefs)
    merged: dict[str, Any] = {c: dict(v) for c, v in (prefs.channels or {}).items()}
    for category, choices in data.channels.items():
        merged.setdefault(category.value, {}).update(
            {channel.value: on for channel, on in choices.items()})
    prefs.time_zone, prefs.channels = time_zone, merged
    prefs.quiet_start, prefs.quiet_end = data.quiet_start, data.quiet_end
    prefs.updated_at = clock.now()
    await session.flush()
    return _out(settings, prefs)
