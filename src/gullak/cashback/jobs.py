"""Cashback background work: settling confirmed cashbacks, whose transfers to the users' main
accounts are still to be posted (after a bulk confirmation, or a run cut short)."""

from __future__ import annotations

from gullak.cashback import service
from gullak.ledger import service as ledger
from gullak.worker import queue, worker_db

CONNECTIONS = 4


@queue.periodic(cron="*/5 * * * *", periodic_id="cashback_settle_confirmed")
# No queueing lock: every bulk confirmation defers one, and settling twice is harmless (the
# transfers replay by their keys, rows are marked and announced once).
@queue.task(name="cashback.settle_confirmed")
async def settle_confirmed(timestamp: int) -> int:
    """Deferred by a bulk confirmation, and every five minutes: through the ledger's
    group-committing poster, so 100,000 confirmations post as a few hundred commits."""
    db = worker_db()
    async with ledger.Poster(db.url, connections=CONNECTIONS,
                             pgbouncer=db.pgbouncer) as poster:
        settled: int = await service.settle_with(db, poster)
    return settled
