"""Domain events: what one domain announces and others act on, in the same unit of work.

A domain that owns a fact publishes it (`publish(session, "payment.succeeded", {...})`); the
domains that care contribute handlers in `gullak.domains` (`handlers={"payment.succeeded":
"flows:payment_succeeded"}`), which `domains.install()` gives this module in every process.
Handlers run at once, in the order of the domains' list, on the publisher's session: the
event and everything done about it commit or roll back together, and a handler's refusal
is the publisher's refusal. So a domain lower in the list (payments) can have one higher up
(orders) act on its facts without importing it. Work for later, or outside the database, is
enqueued by the handler as a job in the same transaction (`gullak.worker.enqueue`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Event:
    name: str  # "<domain>.<what happened>", past tense: "order.refunded"
    data: Mapping[str, Any] = field(default_factory=dict)


Handler = Callable[[AsyncSession, Event], Awaitable[None]]
_handlers: dict[str, list[Handler]] | None = None


def install(handlers: Mapping[str, list[Handler]]) -> None:
    global _handlers
    _handlers = {name: list(found) for name, found in handlers.items()}


async def publish(session: AsyncSession, name: str, data: Mapping[str, Any] | None = None) -> int:
    """Runs every handler of `name` on `session`; returns how many ran."""
    if _handlers is None:  # a process that was never wired would drop the event silently
        raise RuntimeError("no event handlers installed: call gullak.domains.install()")
    event = Event(name, dict(data or {}))
    handlers = _handlers.get(name, [])
    for handle in handlers:
        await handle(session, event)
    return len(handlers)
