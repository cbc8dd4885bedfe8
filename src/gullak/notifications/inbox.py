"""A user's in-app inbox: their notifications, newest first; unread count; read; delete.
Every query names the user, so another user's notification is simply not found."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.notifications import errors
from gullak.notifications.models import Notification
from gullak.notifications.schemas import NotificationOut, NotificationPage


def _mine(user_id: uuid.UUID) -> list[object]:
    return [Notification.user_id == user_id, Notification.inbox,
            Notification.deleted_at.is_(None)]


async def list_notifications(session: AsyncSession, user_id: uuid.UUID, *,
                             unread: bool = False, cursor: uuid.UUID | None = None,
                             limit: int = 50) -> NotificationPage:
    query = select(Notification).where(*_mine(user_id))  # type: ignore[arg-type]
    if unread:
        query = query.where(Notification.read_at.is_(None))
    if cursor is not None:
        query = query.where(Notification.id < cursor)
    rows = list(await session.scalars(query.order_by(Notification.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    return NotificationPage(items=[NotificationOut.model_validate(n) for n in rows[:limit]],
                            next_cursor=str(rows[limit - 1].id) if more else None)


async def _get(session: AsyncSession, user_id: uuid.UUID,
               notification_id: uuid.UUID) -> Notification:
    row = await session.scalar(select(Notification).where(
        Notification.id == notification_id, *_mine(user_id)))  # type: ignore[arg-type]
    if row is None:
        raise errors.NotificationNotFound()
    return row


async def get_notification(session: AsyncSession, user_id: uuid.UUID,
                           notification_id: uuid.UUID) -> NotificationOut:
    return NotificationOut.model_validate(await _get(session, user_id, notification_id))


async def unread_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    count = await session.scalar(select(func.count()).select_from(Notification).where(
        *_mine(user_id), Notification.read_at.is_(None)))  # type: ignore[arg-type]
    return int(count or 0)


async def mark_read(session: AsyncSession, user_id: uuid.UUID,
                    notification_id: uuid.UUID) -> NotificationOut:
    row = await _get(session, user_id, notification_id)
    if row.read_at is None:
        row.read_at = clock.now()
        await session.flush()
    return NotificationOut.model_validate(row)


async def mark_all_read(session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.execute(update(Notification).where(
        *_mine(user_id), Notification.read_at.is_(None)  # type: ignore[arg-type]
    ).values(read_at=clock.now()).execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def delete_notification(session: AsyncSession, user_id: uuid.UUID,
                              notification_id: uuid.UUID) -> None:
    """Gone from the inbox; the row stays for its deliveries and the marketing caps."""
    row = await _get(session, user_id, notification_id)
    row.deleted_at = clock.now()
    await session.flush()
