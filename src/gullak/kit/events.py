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


BatchHandler = Callable[[AsyncSession, list[Event]], Awaitable[None]]


def many(batch: BatchHandler) -> Callable[[Handler], Handler]:
    """Give a handler the form that acts on many events of its name at once: `publish_many`
    calls it once for a batch (a daily job's thousands), where the handler alone would run
    once per event."""

    def mark(handle: Handler) -> Handler:
        handle.many = batch  # type: ignore[attr-defined]
        return handle

    return mark


async def publish_many(session: AsyncSession, name: str,
                       datas: list[Mapping[str, Any]]) -> int:
    """`publish` for many events of one name: each handler gets the whole batch through its
    batch form (`many`), else each event in turn. Returns how many handlers ran."""
    if _handlers is None:
        raise RuntimeError("no event handlers installed: call gullak.domains.install()")
    found = [Event(name, dict(d)) for d in datas]
    handlers = _handlers.get(name, [])
    if not found:
        return len(handlers)
    for handle in handlers:
        batch: BatchHandler | None = getattr(handle, "many", None)
        if batch is not None:
            await batch(session, found)
            continue
        for event in found:
            await handle(session, event)
    return len(handlers)
