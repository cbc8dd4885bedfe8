"""Recording who changed what. Routers call `record` after an admin's or a service client's
write; the access domain registers the writer (the append-only audit log)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.security import Subject


@dataclass(frozen=True)
class RequestMeta:
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


# Set by the HTTP middleware for the length of each request.
request_meta: ContextVar[RequestMeta] = ContextVar("request_meta", default=RequestMeta())

Writer = Callable[..., Awaitable[None]]
_writers: list[Writer] = []


def register(writer: Writer) -> None:
    if writer not in _writers:
        _writers.append(writer)


async def record(session: AsyncSession, actor: Subject | None, action: str, entity_type: str,
                 entity_id: str | None, *, before: Any = None, after: Any = None,
                 outcome: str = "ok") -> None:
    """Audit one action in the caller's transaction (it commits or rolls back with it)."""
    for write in _writers:
        await write(session, actor=actor, action=action, entity_type=entity_type,
                    entity_id=entity_id, before=before, after=after, outcome=outcome,
                    meta=request_meta.get())


def worth_auditing(actor: Subject) -> bool:
    return actor.kind in ("admin", "service", "merchant_user")
