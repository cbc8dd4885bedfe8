"""Health (process up), readiness (database and schema), Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gullak import __version__
from gullak.system import service

router = APIRouter(tags=["system"])


@router.get("/health", summary="The process is up")
async def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get("/ready", summary="The database answers and migrations are at head")
async def ready(request: Request) -> JSONResponse:
    state = await service.readiness(request.app.state.db.engine)
    body = {
        "status": "ready" if state.ready else "not_ready",
        "checks": {"database": state.database, "migrations": state.migrations},
        "migrations": {"current": state.current, "head": state.head},
    }
    return JSONResponse(body, status_code=200 if state.ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
