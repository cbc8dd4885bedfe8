"""Attachments: bytes checked (content type, size, a ticket's count), put in storage under a
key made of ids, and described by a row with their SHA-256, which is checked again when they
are read back."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit, clock
from gullak.kit.ids import uuid7
from gullak.kit.security import Subject
from gullak.settings import Settings
from gullak.support import errors
from gullak.support.common import author_of, load
from gullak.support.models import Attachment, Ticket
from gullak.support.schemas import AgentAttachmentOut, AttachmentIn
from gullak.support.storage import storage


@dataclass(frozen=True)
class File:
    filename: str
    content_type: str
    data: bytes


def decode(settings: Settings, data: AttachmentIn) -> bytes:
    if data.content_type not in settings.support_attachment_types:
        raise errors.AttachmentTypeRefused(
            f"Accepted: {', '.join(settings.support_attachment_types)}.", field="content_type")
    try:
        raw = base64.b64decode("".join(data.content_base64.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise errors.InvalidAttachment(field="content_base64") from exc
    if not raw:
        raise errors.InvalidAttachment(field="content_base64")
    if len(raw) > settings.support_attachment_max_bytes:
        raise errors.AttachmentTooLarge(
            f"At most {settings.support_attachment_max_bytes} bytes.", field="content_base64",
            limit=settings.support_attachment_max_bytes)
    return raw


async def attach(session: AsyncSession, settings: Settings, t: Ticket, data: AttachmentIn,
                 author: Subject, *, internal: bool = False) -> Attachment:
    """Called with the ticket locked, so the count cannot be raced past."""
    raw = decode(settings, data)
    count = await session.scalar(select(func.count()).where(Attachment.ticket_id == t.id))
    if (count or 0) >= settings.support_attachments_per_ticket:
        raise errors.TooManyAttachments(limit=settings.support_attachments_per_ticket)
    attachment_id = uuid7()
    key = f"{t.id}/{attachment_id}"
    storage(settings).put(key, raw)
    kind, author_id = author_of(author)
    now = clock.now()
    row = Attachment(id=attachment_id, ticket_id=t.id, user_id=t.user_id, author_kind=kind,
                     author_id=author_id, filename=data.filename,
                     content_type=data.content_type, size=len(raw),
                     sha256=hashlib.sha256(raw).hexdigest(), storage_key=key,
                     internal=internal, created_at=now)
    session.add(row)
    t.updated_at = now
    await session.flush()
    if author.kind != "user":
        await audit.record(session, author, "support.attach", "support_ticket", str(t.id),
                           after=AgentAttachmentOut.model_validate(row).model_dump(mode="json"))
    return row


async def add_user_attachment(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                              ticket_id: uuid.UUID, data: AttachmentIn) -> Attachment:
    t = await load(session, ticket_id, user_id=user_id, lock=True)
    if t.status == "closed":
        raise errors.TicketClosed(status=t.status)
    return await attach(session, settings, t, data, Subject("user", user_id))


async def add_agent_attachment(session: AsyncSession, settings: Settings, ticket_id: uuid.UUID,
                               data: AttachmentIn, actor: Subject, *,
                               internal: bool) -> Attachment:
    t = await load(session, ticket_id, lock=True)
    return await attach(session, settings, t, data, actor, internal=internal)


async def read(session: AsyncSession, settings: Settings, ticket_id: uuid.UUID,
               attachment_id: uuid.UUID, *, user_id: uuid.UUID | None = None,
               actor: Subject | None = None) -> File:
    """The bytes of an attachment: a user's own, never an internal one; for agents, any."""
    await load(session, ticket_id, user_id=user_id)
    row = await session.get(Attachment, attachment_id)
    if row is None or row.ticket_id != ticket_id or (user_id is not None and row.internal):
        raise errors.AttachmentNotFound()
    raw = storage(settings).get(row.storage_key)
    if raw is None or hashlib.sha256(raw).hexdigest() != row.sha256:
        raise errors.AttachmentCorrupt(attachment_id=str(row.id))
    if actor is not None:
        await audit.record(session, actor, "support.attachment_read", "support_ticket",
                           str(ticket_id), after={"attachment_id": str(row.id)})
    return File(row.filename, row.content_type, raw)
