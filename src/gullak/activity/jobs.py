"""Activity background work: the conversion of days that are over (through the ledger's
group-committing poster), and the months of step records: made ahead, dropped past the
retention."""

from __future__ import annotations

from gullak.activity import daily, service
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.ledger import service as ledger
from gullak.worker import drain, queue, worker_db

CONNECTIONS = 4


@queue.periodic(cron="15 * * * *", periodic_id="activity_convert")
@queue.task(name="activity.convert", queueing_lock="activity.convert")
async def convert(timestamp: int) -> int:
    """Every hour (days end at different hours around the world; a day is over for all at
    12:00 UTC the day after): settle and credit the days that are over."""
    db = worker_db()
    # The conversion's units on connections of their own, as its poster's: they would
    # otherwise take every connection the worker's other jobs share.
    units = Database(db.url, pool_size=daily.WORKERS, max_overflow=0, pgbouncer=db.pgbouncer)
    try:
        async with ledger.Poster(db.url, connections=CONNECTIONS,
                                 pgbouncer=db.pgbouncer) as poster:
            return await service.convert_closed(units, poster)
    finally:
        await units.dispose()


@queue.periodic(cron="40 2 * * *", periodic_id="activity_partitions")
@queue.task(name="activity.partitions", queueing_lock="activity.partitions")
async def partitions(timestamp: int) -> int:
    """Daily: the months of step records ahead made, those past the retention dropped."""
    async with unit_of_work(worker_db()) as session:
        made = await service.ensure_partitions(session)
        dropped = await service.drop_old_partitions(session)
    return len(made) + len(dropped)


@queue.periodic(cron="30 * * * *", periodic_id="activity_finish_challenges")
@queue.task(name="activity.finish_challenges", queueing_lock="activity.finish_challenges")
async def finish_challenges(timestamp: int) -> int:
    """Every hour: challenges whose last day is over everywhere pay their prizes."""
    return await drain(service.finish_due, 10)
