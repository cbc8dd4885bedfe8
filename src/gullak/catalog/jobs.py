"""Catalog jobs: expire reservations, move events by the clock, fetch and import feeds."""

from __future__ import annotations

import uuid

import httpx
import structlog

from gullak.catalog import feed, service
from gullak.catalog.errors import InvalidFeed
from gullak.db.uow import unit_of_work
from gullak.worker import drain, enqueue, queue, worker_db

BATCH = 1000
log = structlog.get_logger("gullak.catalog")


@queue.periodic(cron="* * * * *", periodic_id="expire_reservations")
@queue.task(name="catalog.expire_reservations", queueing_lock="catalog.expire_reservations")
async def expire_reservations(timestamp: int) -> int:
    """Every minute; each batch commits on its own, so a backlog frees stock as it goes."""
    return await drain(service.expire_reservations, BATCH)


@queue.periodic(cron="* * * * *", periodic_id="advance_events")
@queue.task(name="catalog.advance_events", queueing_lock="catalog.advance_events")
async def advance_events(timestamp: int) -> dict[str, int]:
    async with unit_of_work(worker_db()) as session:
        return await service.advance_events(session)


@queue.task(name="catalog.import_feed_url", retry=3)
async def import_feed_url(merchant_id: str, url: str, format: str,
                          full: bool = True) -> dict[str, int]:
    """Fetch the feed first, outside any transaction, then import it in one unit of work."""
    merchant = uuid.UUID(merchant_id)
    try:
        body = await feed.fetch(url)
    except (httpx.HTTPError, InvalidFeed) as exc:
        log.warning("feed_fetch_failed", merchant_id=merchant_id, url=url, error=str(exc))
        async with unit_of_work(worker_db()) as session:
            await service.record_failed_feed(session, merchant, format, url, full,
                                             f"The feed could not be fetched: {exc}")
        raise
    try:
        async with unit_of_work(worker_db()) as session:
            report = await service.import_feed(session, merchant, body, format, full=full,
                                               source=url)
            await service.mark_feed_run(session, merchant)
    except InvalidFeed as exc:
        async with unit_of_work(worker_db()) as session:
            await service.record_failed_feed(session, merchant, format, url, full, exc.detail)
        return {"failed": 1}
    return {"created": report.created, "updated": report.updated, "removed": report.removed,
            "unchanged": report.unchanged, "failed": report.failed}


@queue.periodic(cron="30 1 * * *", periodic_id="sync_feeds")
@queue.task(name="catalog.sync_feeds", queueing_lock="catalog.sync_feeds")
async def sync_feeds(timestamp: int) -> int:
    """Nightly: one import job per merchant feed source."""
    async with unit_of_work(worker_db()) as session:
        sources = await service.due_feed_sources(session)
        for merchant_id, url, fmt, full in sources:
            await enqueue(session, import_feed_url, merchant_id=str(merchant_id), url=url,
                          format=fmt, full=full)
    return len(sources)
