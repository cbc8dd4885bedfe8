"""Health (process up), readiness (database and schema), Prometheus metrics."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gullak import __version__
from gullak.db.uow import SessionDep
from gullak.kit.errors import Unauthorized
from gullak.kit.openapi import errors
from gullak.kit.security import Subject, require
from gullak.settings import Settings
from gullak.system import service
from gullak.system.schemas import DatabaseStatsOut

router = APIRouter(tags=["system"])


@router.get("/health", summary="The process is up")
async def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get("/ready", summary="The database answers and migrations are at head",
            responses={503: {"description": "Not ready: the same body, saying which check failed",
                             "content": {"application/json": {}}}})
async def ready(request: Request) -> JSONResponse:
    state = await service.readiness(request.app.state.db.engine)
    body = {
        "status": "ready" if state.ready else "not_ready",
        "checks": {"database": state.database, "migrations": state.migrations},
        "migrations": {"current": state.current, "head": state.head},
    }
    return JSONResponse(body, status_code=200 if state.ready else 503)


@router.get("/metrics", summary="Prometheus metrics (allowed networks, or a bearer token)",
            response_class=Response, responses=errors(401))
async def metrics(request: Request) -> Response:
    # They name versions and routes: a map for an attacker, so not for everyone.
    if not may_scrape(request.app.state.settings, request):
        raise Unauthorized("Metrics need an allowed network or the metrics token.")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def may_scrape(settings: Settings, request: Request) -> bool:
    """The client is in GULLAK_METRICS_NETWORKS or shows GULLAK_METRICS_TOKEN."""
    token = settings.metrics_token
    sent = request.headers.get("authorization", "")
    if token is not None and sent[:7].lower() == "bearer " and hmac.compare_digest(
            sent[7:].strip().encode(), token.get_secret_value().encode()):
        return True
    host = request.client.host if request.client else None
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return any(address in network for network in settings.networks("metrics_networks"))


CanReadSystem = Annotated[Subject, require("system.read")]


@router.get("/v1/admin/db/stats", summary="The database's sizes, dead tuples, unused indexes"
            " and slowest statements")
async def db_stats(
        _: CanReadSystem, session: SessionDep,
        limit: Annotated[int, Query(ge=1, le=500, description="How many tables, indexes,"
                                    " unused indexes and statements")] = 20,
        partitions: Annotated[bool, Query(description="List each partitioned table's"
                                          " partitions after it")] = False) -> DatabaseStatsOut:
    """What `gullak db stats` shows. Row estimates are the planner's (null until a table is
    first analyzed); scans and dead tuples count since `stats_reset`."""
    return await service.database_stats(session, limit=limit, partitions=partitions)
