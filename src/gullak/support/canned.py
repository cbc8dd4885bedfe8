"""Canned replies: the back office's reusable answers, with `{{variable}}` filled from the
ticket when an agent sends one. Filling is a plain lookup, never str.format, so a reply's
text cannot reach attributes of the values it is filled with."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit, clock
from gullak.kit.security import Subject
from gullak.support import errors
from gullak.support.models import CannedReply
from gullak.support.schemas import CannedReplyIn, CannedReplyOut, CannedReplyPatch

VARIABLE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def fill(template: str, values: Mapping[str, str]) -> str:
    """`{{name}}` replaced by its value; a variable we do not know stays as written, so a typo
    shows in the reply's preview instead of vanishing."""
    return VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), template)


async def get_canned(session: AsyncSession, reply_id: uuid.UUID) -> CannedReply:
    row = await session.get(CannedReply, reply_id, populate_existing=True)
    if row is None:
        raise errors.CannedReplyNotFound(field="canned_reply_id")
    return row


async def create_canned(session: AsyncSession, data: CannedReplyIn,
                        actor: Subject | None) -> CannedReplyOut:
    row = CannedReply(**data.model_dump())
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise errors.CannedReplyExists(field="code") from exc
    out = CannedReplyOut.model_validate(row)
    await audit.record(session, actor, "support.canned_create", "support_canned_reply",
                       str(row.id), after=out.model_dump(mode="json"))
    return out


async def list_canned(session: AsyncSession, *, active: bool | None = None,
                      category: str | None = None) -> list[CannedReplyOut]:
    query = select(CannedReply).order_by(CannedReply.code)
    if active is not None:
        query = query.where(CannedReply.active.is_(active))
    if category is not None:
        query = query.where(CannedReply.category == category)
    return [CannedReplyOut.model_validate(r) for r in await session.scalars(query)]


async def update_canned(session: AsyncSession, reply_id: uuid.UUID, data: CannedReplyPatch,
                        actor: Subject | None) -> CannedReplyOut:
    row = await get_canned(session, reply_id)
    before = CannedReplyOut.model_validate(row).model_dump(mode="json")
    changes = data.model_dump(exclude_unset=True)
    for name in ("title", "body", "active"):  # required columns: null means "leave it"
        if changes.get(name, "") is None:
            changes.pop(name)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = clock.now()
    await session.flush()
    out = CannedReplyOut.model_validate(row)
    await audit.record(session, actor, "support.canned_update", "support_canned_reply",
                       str(row.id), before=before, after=out.model_dump(mode="json"))
    return out


async def delete_canned(session: AsyncSession, reply_id: uuid.UUID,
                        actor: Subject | None) -> None:
    """Replies sent with it keep its id: it is retired (inactive), not removed."""
    row = await get_canned(session, reply_id)
    before = CannedReplyOut.model_validate(row).model_dump(mode="json")
    row.active, row.updated_at = False, clock.now()
    await session.flush()
    await audit.record(session, actor, "support.canned_delete", "support_canned_reply",
                       str(row.id), before=before, after={"active": False})
