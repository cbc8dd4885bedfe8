"""Recording who changed what. Services call `record` after an admin's or a service client's
write; the access domain contributes the writer (the append-only audit log), installed by
`gullak.domains.install()` in every process: app, worker and CLI alike."""

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
_writers: list[Writer] | None = None


def install(writers: list[Writer]) -> None:
    global _writers
    _writers = list(writers)


async def record(session: AsyncSession, actor: Subject | None, action: str, entity_type: str,
                 entity_id: str | None, *, before: Any = None, after: Any = None,
                 outcome: str = "ok") -> None:
    """Audit one action in the caller's transaction (it commits or rolls back with it)."""
    if _writers is None:  # a job run by a worker that was never wired would lose the row
        raise RuntimeError("no audit writer installed: call gullak.domains.install()")
    for write in _writers:
        await write(session, actor=actor, action=action, entity_type=entity_type,
                    entity_id=entity_id, before=before, after=after, outcome=outcome,
                    meta=request_meta.get())


def worth_auditing(actor: Subject) -> bool:
    return actor.kind in ("admin", "service", "merchant_user")
