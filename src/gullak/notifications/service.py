"""Notifications commands and queries, the domain's public face.

`notify` is what every domain calls, in its own unit of work: it renders the template in the
user's language, keeps the inbox copy, and writes one delivery per outside channel and
destination, each sent later by a job (outside the transaction). Inbox, preferences,
templates and deliveries live in their own modules and are re-exported here.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import service as identity
from gullak.kit import clock
from gullak.kit.ids import uuid7
from gullak.kit.sql import keyset_page, xact_lock
from gullak.notifications import errors
from gullak.notifications.deliveries import (
    claim,
    due_deliveries,
    record_failure,
    record_sent,
)
from gullak.notifications.inbox import (
    delete_notification,
    get_notification,
    list_notifications,
    mark_all_read,
    mark_read,
    unread_count,
)
from gullak.notifications.models import (
    Notification,
    NotificationDelivery,
    NotificationPreference,
    NotificationTemplate,
)
from gullak.notifications.preferences import (
    allowed,
    capped,
    get_preferences,
    put_preferences,
    quiet_until,
)
from gullak.notifications.template_admin import (
    create_template,
    delete_template,
    get_template,
    list_templates,
    preview,
    update_template,
)
from gullak.notifications.templates import pick_locale, render
from gullak.settings import get_settings

__all__ = [
    "claim", "create_template", "delete_notification", "delete_template", "due_deliveries",
    "get_notification", "get_preferences", "get_template", "list_notifications",
    "list_templates", "mark_all_read", "mark_read", "notify", "preview", "put_preferences",
    "record_failure", "record_sent", "unread_count", "update_template",
]


def _json(data: Mapping[str, Any]) -> dict[str, Any]:
    # Callers pass ids and decimals as they have them; the inbox keeps them as JSON text.
    loaded: dict[str, Any] = json.loads(json.dumps(dict(data), default=str))
    return loaded


async def notify(session: AsyncSession, user_id: uuid.UUID, template: str,
                 data: Mapping[str, Any], *, category: str | None = None,
                 campaign_id: uuid.UUID | None = None, variant: str | None = None,
                 key: str | None = None) -> uuid.UUID | None:
    """Notify a user by template, in the caller's transaction: the notification's id, or
    None when nothing is to be sent (the user turned every channel off, a marketing cap is
    reached, the template is disabled, the user is gone). The same `key` for the same user
    gives the same notification and sends nothing again."""
    if key is not None:
        found = await session.scalar(select(Notification.id).where(
            Notification.user_id == user_id, Notification.key == key))
        if found is not None:
            return found
    tpl = await session.get(NotificationTemplate, template)
    if tpl is None:
        raise errors.TemplateNotFound(f"No notification template {template!r}.")
    if not tpl.enabled:
        return None
    contacts = await identity.notification_contacts(session, user_id)
    if contacts is None:
        return None
    phone, email, language = contacts
    settings = get_settings()
    now = clock.now()
    category = category or tpl.category
    if category == "marketing":
        # Concurrent sends to one user (two campaigns at once) count one after the other.
        await xact_lock(session, f"notifications.marketing:{user_id}")
        if await capped(session, settings, user_id, now):
            return None
    prefs = await session.get(NotificationPreference, user_id)
    channels = [c for c in tpl.channels if allowed(prefs, category, c)]
    pushes = await identity.push_destinations(session, user_id) if "push" in channels else []
    reachable = {"inbox": True, "push": bool(pushes), "sms": bool(phone), "email": bool(email)}
    channels = [c for c in channels if reachable[c]]
    if not channels:
        return None
    locale = pick_locale(tpl.content, language)
    parts = render(tpl.content, channels, locale, data)
    shown = parts.get("inbox") or parts.get("push")
    if shown is not None:
        title, body = shown["title"], shown["body"]
    elif "email" in parts:
        title, body = parts["email"]["subject"], parts["email"]["text"]
    else:
        title, body = "", parts["sms"]["text"]
    notification_id = uuid7()
    stored = await session.scalar(insert(Notification).values(
        id=notification_id, user_id=user_id, template=tpl.code, category=category,
        locale=locale, title=title, body=body, data=_json(data), channels=channels,
        inbox="inbox" in channels, campaign_id=campaign_id, variant=variant, key=key,
        created_at=now,
    ).on_conflict_do_nothing(index_elements=["user_id", "key"],
                             index_where=Notification.key.is_not(None))
        .returning(Notification.id))
    if stored is None:  # the same key, committed by a concurrent call meanwhile
        return await session.scalar(select(Notification.id).where(
            Notification.user_id == user_id, Notification.key == key))
    not_before = quiet_until(prefs, category, now)
    extra = {"notification_id": str(notification_id), "template": tpl.code}
    targets: list[tuple[str, str | None, str, dict[str, Any]]] = []
    for platform, token in pushes if "push" in channels else []:
        targets.append(("push", platform, token, {**parts["push"], "data": extra}))
    if "sms" in channels and phone:
        targets.append(("sms", None, phone, parts["sms"]))
    if "email" in channels and email:
        targets.append(("email", None, email, parts["email"]))
    deliveries = [NotificationDelivery(
        id=uuid7(), notification_id=notification_id, user_id=user_id, channel=channel,
        platform=platform, target=target, content=content, status="queued",
        not_before=not_before, attempts=0, created_at=now, updated_at=now)
        for channel, platform, target, content in targets]
    session.add_all(deliveries)
    await session.flush()
    if deliveries and not_before <= now:
        from gullak.notifications import jobs  # jobs import this module
        from gullak.worker import enqueue

        for delivery in deliveries:
            await enqueue(session, jobs.deliver, delivery_id=str(delivery.id))
    return notification_id


# -- the console: what was sent to one user ---------------------------------------------------

@dataclass(frozen=True)
class Sent:
    """A notification as an admin sees it: every channel, even one the user deleted from the
    inbox, with each outside delivery's (channel, status)."""

    id: uuid.UUID
    template: str
    category: str
    title: str
    channels: list[str]
    inbox: bool
    read_at: dt.datetime | None
    deleted_at: dt.datetime | None
    created_at: dt.datetime
    deliveries: list[tuple[str, str]]


async def sent_to(session: AsyncSession, user_id: uuid.UUID, *, cursor: str | None = None,
                  limit: int = 50) -> tuple[list[Sent], str | None]:
    """What was sent to a user, newest first, a keyset page at a time (and the next cursor)."""
    rows, after = await keyset_page(session, select(Notification).where(
        Notification.user_id == user_id), Notification.id, cursor, limit)
    deliveries: dict[uuid.UUID, list[tuple[str, str]]] = {r.id: [] for r in rows}
    if rows:
        found = await session.execute(
            select(NotificationDelivery.notification_id, NotificationDelivery.channel,
                   NotificationDelivery.status)
            .where(NotificationDelivery.user_id == user_id,
                   NotificationDelivery.notification_id.in_(list(deliveries)))
            .order_by(NotificationDelivery.id))
        for notification_id, channel, status in found:
            deliveries[notification_id].append((channel, status))
    return [Sent(r.id, r.template, r.category, r.title, list(r.channels), r.inbox, r.read_at,
                 r.deleted_at, r.created_at, deliveries[r.id]) for r in rows], after
