"""The back office's templates: list, read, create, change, delete, preview."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.notifications import errors
from gullak.notifications.models import NotificationTemplate
from gullak.notifications.schemas import PreviewIn, PreviewOut, TemplateIn, TemplateOut
from gullak.notifications.templates import check, pick_locale, render


def _content(data: TemplateIn) -> dict[str, Any]:
    return {locale: {channel.value: dict(parts)
                     for channel, parts in by_channel.items()}
            for locale, by_channel in data.content.items()}


def _checked(data: TemplateIn) -> tuple[list[str], list[str], dict[str, Any]]:
    channels = list(dict.fromkeys(c.value for c in data.channels))
    variables = list(dict.fromkeys(data.variables))
    content = _content(data)
    check(channels, variables, content)
    return channels, variables, content


async def list_templates(session: AsyncSession) -> list[TemplateOut]:
    rows = await session.scalars(select(NotificationTemplate).order_by(NotificationTemplate.code))
    return [TemplateOut.model_validate(t) for t in rows]


async def _get(session: AsyncSession, code: str, *, lock: bool = False) -> NotificationTemplate:
    row = await session.get(NotificationTemplate, code, with_for_update=lock)
    if row is None:
        raise errors.TemplateNotFound(f"No notification template {code!r}.")
    return row


async def get_template(session: AsyncSession, code: str) -> TemplateOut:
    return TemplateOut.model_validate(await _get(session, code))


async def create_template(session: AsyncSession, code: str, data: TemplateIn) -> TemplateOut:
    channels, variables, content = _checked(data)
    if await session.get(NotificationTemplate, code) is not None:
        raise errors.TemplateExists(field="code")
    row = NotificationTemplate(code=code, category=data.category.value,
                               description=data.description, channels=channels,
                               variables=variables, content=content, enabled=data.enabled)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return TemplateOut.model_validate(row)


async def update_template(session: AsyncSession, code: str, data: TemplateIn) -> TemplateOut:
    channels, variables, content = _checked(data)
    row = await _get(session, code, lock=True)
    row.category, row.description, row.enabled = data.category.value, data.description, data.enabled
    row.channels, row.variables, row.content = channels, variables, content
    await session.flush()
    await session.refresh(row)
    return TemplateOut.model_validate(row)


async def delete_template(session: AsyncSession, code: str) -> TemplateOut:
    """Sent notifications keep their text; a template still called by code should be
    disabled instead, as notify refuses an unknown template."""
    row = await _get(session, code, lock=True)
    out = TemplateOut.model_validate(row)
    await session.delete(row)
    await session.flush()
    return out


async def preview(session: AsyncSession, code: str, data: PreviewIn) -> PreviewOut:
    row = await _get(session, code)
    locale = pick_locale(row.content, data.locale)
    return PreviewOut(locale=locale, channels=render(row.content, row.channels, locale, data.data))
