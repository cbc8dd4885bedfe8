"""Jobs are written in the request's transaction: no job for a rollback, one for a commit."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from sqlalchemy import text

from gullak import worker
from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import SessionDep
from gullak.kit.errors import Conflict
from gullak.settings import Settings
from tests.helpers.http import http_client

ran: list[str] = []


@worker.queue.task(name="tests.record")
async def record(label: str) -> None:
    ran.append(label)


router = APIRouter(prefix="/v1/outbox")


@router.post("/{label}")
async def enqueue_then(label: str, session: SessionDep, fail: bool = False) -> dict[str, int]:
    job_id = await worker.enqueue(session, record, label=label)
    if fail:
        raise Conflict("refused after enqueueing")
    return {"job_id": job_id}


async def jobs(db: Database) -> list[tuple[str, str, dict[str, str]]]:
    async with db.engine.connect() as conn:
        result = await conn.execute(text(
            "SELECT task_name, status::text, args FROM procrastinate_jobs"
            " WHERE task_name = 'tests.record' ORDER BY id"))
        return [tuple(r) for r in result]  # type: ignore[misc]


@pytest.fixture
def outbox_app(fresh_db: Database, settings: Settings):  # type: ignore[no-untyped-def]
    app = create_app(settings, fresh_db)
    app.include_router(router)
    return app


async def test_rolled_back_request_leaves_no_job(outbox_app, fresh_db: Database) -> None:  # type: ignore[no-untyped-def]
    async with http_client(outbox_app) as c:
        r = await c.post("/v1/outbox/lost", params={"fail": "true"})
    assert r.status_code == 409
    assert await jobs(fresh_db) == []


async def test_committed_request_leaves_exactly_one_job_and_it_runs(
    outbox_app, fresh_db: Database  # type: ignore[no-untyped-def]
) -> None:
    async with http_client(outbox_app) as c:
        r = await c.post("/v1/outbox/kept")
    assert r.status_code == 200
    assert await jobs(fresh_db) == [("tests.record", "todo", {"label": "kept"})]

    ran.clear()
    await worker.run(fresh_db.url, concurrency=1, stop_after_idle=True)
    assert ran == ["kept"]
    assert await jobs(fresh_db) == [("tests.record", "succeeded", {"label": "kept"})]
