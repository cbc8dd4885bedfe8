"""Exports over HTTP, for the back office: ask for an export (run by a job), follow it in the
run log, download its file once done. Asking needs exports.run; reading and downloading need
exports.read. Asking and downloading are audited."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from gullak.db.uow import SessionDep
from gullak.exports import jobs, service
from gullak.exports.errors import FileMissing
from gullak.exports.formats import MEDIA_TYPES
from gullak.exports.schemas import DatasetName, ExportIn, ExportOut, ExportPage, Status
from gullak.exports.storage import storage_for
from gullak.kit import audit
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require
from gullak.settings import Settings
from gullak.worker import enqueue

router = APIRouter(tags=["exports"])
BASE = "/v1/admin/exports"
Runner = Annotated[Subject, require("exports.run")]
Reader = Annotated[Subject, require("exports.read")]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[Text | None, Query(max_length=100)]

FILE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The export's file, streamed",
          "content": {t: {"schema": {"type": "string", "format": "binary"}}
                      for t in MEDIA_TYPES.values()}}}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.post(BASE, status_code=202, summary="Ask for an export; a job writes its file")
async def create(body: ExportIn, session: SessionDep, actor: Runner) -> ExportOut:
    """The period is whole UTC days, `since` included and `until` excluded. Answers at once
    with the queued run; GET it to follow it, then download its file."""
    row = await service.create(session, body.dataset, body.since, body.until, body.format,
                               requested_by=actor.id,
                               requested_by_kind="service" if actor.kind == "service"
                               else "admin")
    out = service.out(row)
    await enqueue(session, jobs.run, export_id=str(row.id))
    await audit.record(session, actor, "exports.export.create", "warehouse_export",
                       str(row.id), after=out.model_dump(mode="json"))
    return out


@router.get(BASE, summary="Exports, newest first")
async def list_all(session: SessionDep, _: Reader, dataset: DatasetName | None = None,
                   status: Status | None = None, cursor: Cursor = None,
                   limit: Limit = 50) -> ExportPage:
    return await service.list_exports(session, dataset=dataset, status=status, cursor=cursor,
                                      limit=limit)


@router.get(BASE + "/{export_id}", responses=errors(404), summary="An export and its status")
async def get(export_id: uuid.UUID, session: SessionDep, _: Reader) -> ExportOut:
    return await service.get_export(session, export_id)


@router.get(BASE + "/{export_id}/download", response_class=StreamingResponse,
            responses={**FILE, **errors(404, 409)}, summary="A finished export's file")
async def download(export_id: uuid.UUID, request: Request, session: SessionDep,
                   actor: Reader) -> StreamingResponse:
    """409 `export_not_ready` until the export is done (`export_failed` if it failed)."""
    out, key, name = await service.downloadable(session, export_id)
    storage = storage_for(_settings(request))
    if not storage.exists(key):
        raise FileMissing()
    await audit.record(session, actor, "exports.export.download", "warehouse_export",
                       str(export_id))
    return StreamingResponse(storage.read(key), media_type=MEDIA_TYPES[out.format], headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(out.bytes), "X-Checksum-SHA256": out.checksum or ""})
