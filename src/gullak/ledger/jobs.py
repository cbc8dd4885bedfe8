"""Ledger jobs: expire holds past their deadline, sweep expired lots to breakage (periodic),
and run the ledger's checks when the console asks."""

from __future__ import annotations

import uuid
from typing import cast

from gullak.kit.security import Subject, SubjectKind
from gullak.ledger import service
from gullak.worker import drain, queue, worker_db

BATCH = 500


@queue.periodic(cron="* * * * *", periodic_id="expire_holds")
@queue.task(name="ledger.expire_holds", queueing_lock="ledger.expire_holds")
async def expire_holds(timestamp: int) -> int:
    """Every minute; each batch is its own transaction so a long backlog commits as it goes."""
    return await drain(service.expire_holds, BATCH)


@queue.periodic(cron="* * * * *", periodic_id="expire_lots")
@queue.task(name="ledger.expire_lots", queueing_lock="ledger.expire_lots")
async def expire_lots(timestamp: int) -> int:
    return await drain(service.expire_lots, BATCH)


@queue.task(name="ledger.verify", queueing_lock="ledger.verify")
async def verify(requested_by_kind: str | None = None, requested_by_id: str | None = None) -> bool:
    """`gullak ledger verify` asked for from the console: every check on one snapshot, the
    result kept for the console to show; one queued at a time."""
    actor = None
    if requested_by_kind and requested_by_id:
        actor = Subject(cast(SubjectKind, requested_by_kind), uuid.UUID(requested_by_id))
    return (await service.run_check(worker_db(), actor)).ok
