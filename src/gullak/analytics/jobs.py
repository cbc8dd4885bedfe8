"""Analytics jobs: the summaries (hourly: marked days, today so far, and yesterday once more
after it ended) and the partitions (daily: months ahead, months past the retention)."""

from __future__ import annotations

import datetime as dt

import structlog

from gullak.analytics import service
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.settings import get_settings
from gullak.worker import queue, worker_db

log = structlog.get_logger("gullak.analytics")


async def summarise(db: Database, now: dt.datetime | None = None) -> list[dt.date]:
    """Every marked day, each in its unit of work; today so far; and yesterday if its last
    run began before it ended. The days summarised."""
    now = now or clock.now()
    done: list[dt.date] = []
    while True:
        async with unit_of_work(db) as session:
            days = await service.recompute_stale(session)
        if not days:
            break
        done += days
    today, yesterday = now.date(), now.date() - dt.timedelta(days=1)
    async with unit_of_work(db) as session:
        last = await service.computed_at(session, yesterday)
    if last is None or last < dt.datetime.combine(today, dt.time(), dt.UTC):
        async with unit_of_work(db) as session:
            await service.summarise_day(session, yesterday)
        done.append(yesterday)
    async with unit_of_work(db) as session:
        await service.summarise_day(session, today)
    done.append(today)
    return done


@queue.periodic(cron="15 * * * *", periodic_id="analytics_summarise")
@queue.task(name="analytics.summarise", queueing_lock="analytics.summarise")
async def summarise_job(timestamp: int) -> int:
    days = await summarise(worker_db())
    log.info("analytics_summarised", days=[d.isoformat() for d in days])
    return len(days)


@queue.periodic(cron="40 0 * * *", periodic_id="analytics_partitions")
@queue.task(name="analytics.partitions", queueing_lock="analytics.partitions")
async def partitions_job(timestamp: int) -> int:
    async with unit_of_work(worker_db()) as session:
        out = await service.maintain_partitions(session, get_settings())
    if out.made or out.dropped:
        log.info("analytics_partitions", made=out.made, dropped=out.dropped)
    return len(out.made) + len(out.dropped)
