"""The search query log: each search and nearby query with what it showed, the results
clicked, the log for the back office, and its retention."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.discovery import errors
from gullak.discovery.checks import checked_limit
from gullak.discovery.common import Searcher
from gullak.discovery.models import SearchClick, SearchLog
from gullak.discovery.schemas import (
    ClickIn,
    ClickOut,
    LoggedClickOut,
    LoggedSearchOut,
    SearchLogPage,
)
from gullak.kit import clock
from gullak.kit.errors import InvalidInput
from gullak.kit.ids import uuid7

LOG_RETENTION = dt.timedelta(days=180)  # ReZ keeps search_queries for 180 days
PRUNE_BATCH = 5000

# The log is analytics: a crash may lose its last few searches, so no search waits for the
# disk to flush them. A search's transaction writes nothing else.
_LOG_SETTINGS = text("SELECT set_config('synchronous_commit', 'off', true)")


async def log_search(session: AsyncSession, endpoint: str, who: Searcher, query: str | None,
                     city: str | None, filters: dict[str, Any],
                     shown: Sequence[tuple[str, uuid.UUID]]) -> uuid.UUID:
    """Log a search (or a nearby query) with the results it showed; returns its query id."""
    query_id = uuid7()
    await session.execute(_LOG_SETTINGS)
    await session.execute(insert(SearchLog).values(
        id=query_id, endpoint=endpoint, user_id=who.user_id, client_hash=who.client_hash,
        query=query, normalized_query=query.casefold() if query else None,
        city=city.casefold() if city else None,
        filters={k: (str(v) if isinstance(v, uuid.UUID) else v)
                 for k, v in filters.items() if v is not None},
        results=[{"kind": kind, "id": str(id_)} for kind, id_ in shown],
        results_count=len(shown), created_at=clock.now()))
    return query_id


async def record_click(session: AsyncSession, query_id: uuid.UUID, click: ClickIn,
                       who: Searcher) -> ClickOut:
    """Remember which result of a search was clicked (once per result: a second click on the
    same result answers the first)."""
    logged = await session.get(SearchLog, query_id)
    # A signed-in user's searches are theirs alone; an anonymous search's id is its key.
    if logged is None or (logged.user_id is not None and logged.user_id != who.user_id):
        raise errors.SearchNotFound()
    shown = logged.results
    expected = {"kind": click.kind, "id": str(click.id)}
    if click.position > len(shown) or shown[click.position - 1] != expected:
        raise errors.ClickNotInResults(field="position")
    row = (await session.execute(
        pg_insert(SearchClick)
        .values(id=uuid7(), query_id=query_id, kind=click.kind, result_id=click.id,
                position=click.position, user_id=who.user_id, created_at=clock.now())
        .on_conflict_do_nothing(index_elements=["query_id", "kind", "result_id"])
        .returning(SearchClick.created_at))).scalar_one_or_none()
    if row is None:
        row = await session.scalar(select(SearchClick.created_at).where(
            SearchClick.query_id == query_id, SearchClick.kind == click.kind,
            SearchClick.result_id == click.id))
    else:
        await session.execute(update(SearchLog).where(
            SearchLog.id == query_id, SearchLog.first_click_position.is_(None),
        ).values(first_click_position=click.position)
            .execution_options(synchronize_session=False))
    assert row is not None
    return ClickOut(query_id=query_id, kind=click.kind, id=click.id, position=click.position,
                    created_at=row)


async def search_log(session: AsyncSession, *, city: str | None = None,
                     user_id: uuid.UUID | None = None, zero_results: bool | None = None,
                     cursor: str | None = None, limit: int = 50) -> SearchLogPage:
    """Logged searches, newest first (zero_results=True: what people looked for in vain)."""
    limit = checked_limit(limit, 200)
    query = select(SearchLog).order_by(SearchLog.id.desc()).limit(limit)
    if city is not None:
        query = query.where(SearchLog.city == city.strip().casefold())
    if user_id is not None:
        query = query.where(SearchLog.user_id == user_id)
    if zero_results is not None:
        query = query.where((SearchLog.results_count == 0) if zero_results
                            else (SearchLog.results_count > 0))
    if cursor is not None:
        try:
            query = query.where(SearchLog.id < uuid.UUID(cursor))
        except ValueError as exc:
            raise InvalidInput("Malformed cursor.", code="invalid_cursor", field="cursor") from exc
    rows = list(await session.scalars(query))
    clicks: dict[uuid.UUID, list[LoggedClickOut]] = {}
    if rows:
        for click in await session.scalars(
                select(SearchClick).where(SearchClick.query_id.in_([r.id for r in rows]))
                .order_by(SearchClick.created_at, SearchClick.id)):
            clicks.setdefault(click.query_id, []).append(LoggedClickOut.model_validate(click))
    entries = [LoggedSearchOut(
        id=r.id, endpoint=r.endpoint, user_id=r.user_id, query=r.query, city=r.city,
        filters=r.filters, results_count=r.results_count,
        first_click_position=r.first_click_position, created_at=r.created_at,
        clicks=clicks.get(r.id, [])) for r in rows]
    return SearchLogPage(entries=entries,
                         next_cursor=str(rows[-1].id) if len(rows) == limit else None)


async def prune_log(session: AsyncSession, *, older_than: dt.timedelta = LOG_RETENTION,
                    limit: int = PRUNE_BATCH) -> int:
    """Delete up to `limit` logged searches older than `older_than` (their clicks go with
    them); returns how many. Batches keep each transaction short."""
    oldest = (select(SearchLog.id).where(SearchLog.created_at < clock.now() - older_than)
              .limit(limit).scalar_subquery())
    result = await session.execute(delete(SearchLog).where(SearchLog.id.in_(oldest))
                                   .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
